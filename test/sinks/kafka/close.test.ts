/**
 * Closing the Kafka destination while a delivery retries (a broker away, give_up_s far off): the
 * retry stops at once with an error naming the destination, so a stopping run (SIGTERM) ends.
 * No broker is needed: the producer points at a loopback port nothing listens on.
 */
import assert from 'node:assert/strict';
import { PassThrough } from 'node:stream';
import { describe, it } from 'node:test';
import { Logger } from '../../../src/log/logger.js';
import { z } from 'zod';
import { kafkaKind } from '../../../src/sinks/kafka/index.js';
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

describe('kafka destination: insecure', () => {
  it('insecure: true is said at open, as the other destinations say it', async () => {
    const out = new PassThrough();
    let logged = '';
    out.on('data', (d: Buffer) => (logged += d.toString()));
    const config = z.strictObject(kafkaKind.keys).parse({ brokers: ['127.0.0.1:9'], tls: true, insecure: true, timeout_s: 1, give_up_s: 1 });
    await assert.rejects(kafkaKind.open(config, 'kafka', { log: new Logger(out, 'info'), env: {} }));
    assert.match(logged, /kafka kafka: insecure: true, the brokers' certificates are not checked/);
  });
});
