/** What the Kafka destination's tests share: units of generated events and a destination opened as the registry would. */
import { after, before } from 'node:test';
import { z } from 'zod';
import type { Unit } from '../../../src/core/unit.js';
import { Logger } from '../../../src/log/logger.js';
import { takeEvents, toKeyValueLine } from '../../../src/simulator/generate.js';
import { kafkaKind } from '../../../src/sinks/kafka/index.js';
import type { Destination } from '../../../src/sinks/destination.js';
import { processInput } from '../../support/helpers.js';
import { type BrokerOptions, KafkaBroker } from '../../support/receivers/kafka.js';

/** A broker for the enclosing describe: started before its tests, closed after them (also when one fails). */
export function brokerForSuite(options?: BrokerOptions): () => KafkaBroker {
  let broker: KafkaBroker | undefined;
  before(async () => {
    broker = await KafkaBroker.start(options);
  });
  after(async () => {
    await broker?.close();
  });
  return () => {
    if (!broker) throw new Error('the broker did not start');
    return broker;
  };
}

/** A unit of `count` generated events (seed decides which); `extra` lines appended as they are. */
export async function unitOf(name: string, count: number, seed: number, extra: string[] = []): Promise<Unit> {
  const lines = takeEvents({ seed, startMs: Date.UTC(2026, 10, 1) }, count).map(toKeyValueLine);
  return processInput(name, [...lines, ...extra].join('\n') + '\n');
}

/** Log lines a test can look at (what a person would read on stderr). */
export function memoryLogger(): { log: Logger; lines: string[] } {
  const lines: string[] = [];
  const log = new Logger({ write: (line: string) => lines.push(line) } as unknown as NodeJS.WritableStream, 'debug');
  return { log, lines };
}

/** Opens `kind: kafka` from config keys, validated by its zod keys and its check, as the registry does. */
export async function openKafka(config: Record<string, unknown>, log = memoryLogger().log, env: NodeJS.ProcessEnv = {}): Promise<Destination> {
  const parsed = z.strictObject(kafkaKind.keys).parse(config);
  const problem = kafkaKind.check?.(parsed);
  if (problem) throw new Error(problem);
  return kafkaKind.open(parsed, 'kafka', { log, env });
}
