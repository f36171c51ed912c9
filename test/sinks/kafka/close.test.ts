/**
 * Closing the Kafka destination while a delivery retries (a broker away, give_up_s far off): the
 * retry stops at once with an error naming the destination, so a stopping run (SIGTERM) ends.
 * No broker is needed: the producer points at a loopback port nothing listens on.
 */
import assert from 'node:assert/strict';
import { PassThrough } from 'node:stream';
import { describe, it } from 'node:test';
import { Logger } from '../../../src/log/logger.js';
import { KafkaDestination, type KafkaSettings } from '../../../src/sinks/kafka/kafka-destination.js';

const SETTINGS: KafkaSettings = {
  client: { clientId: 'mimelog-close-test', bootstrapBrokers: ['127.0.0.1:9'] },
  topic: 'mimecast', createTopics: false, batchBytes: 1_000_000, giveUpMs: 3_600_000, retryBaseMs: 2000, retryMaxMs: 30_000,
};

describe('kafka destination: close() during a retry', () => {
  it('ends a retry waiting on a broker that is away, at once, with the destination named', async () => {
    // Opening would need a broker; the destination itself is made as open() makes it.
    const dest = new (KafkaDestination as unknown as new (name: string, s: KafkaSettings, log: Logger) => KafkaDestination)('kafka', SETTINGS, new Logger(new PassThrough(), 'error'));
    const busy = Object.assign(new Error('broker not available'), { canRetry: true });
    const started = Date.now();
    const retrying = dest.withRetry(10, undefined, () => Promise.reject(busy), (f) => f);
    setTimeout(() => void dest.close(), 100);
    const late = new Promise<never>((_, reject) => setTimeout(() => reject(new Error('still retrying 3 s after close()')), 3000).unref());
    await assert.rejects(Promise.race([retrying, late]), /kafka destination kafka closed with 10 events unacknowledged/);
    assert.ok(Date.now() - started < 1500, `ended ${Date.now() - started} ms after it began`);
  });
});
