/**
 * A unit's events as Kafka records: key = `event.id`, value = the ECS document's JSON, headers
 * with the log type, the source and the event id; each placed on its partition as Java's
 * producer would place it (murmur2 of the key), and cut into produce requests of bounded bytes.
 */
import { compatibilityPartitioner } from '@platformatic/kafka';
import { batches } from '../batches.js';
import { type ProcessedEvent, type Unit, documentJson } from '../../core/unit.js';

/** Header names a consumer can route or dedupe on without parsing the value. */
export const HEADERS = { logType: 'mimecast.log_type', source: 'mimelog.source', eventId: 'event.id' } as const;

/** What a record costs in a request besides its key, value and headers (Kafka's record overhead, about). */
const RECORD_OVERHEAD = 32;

export interface OutRecord {
  /** The event's place in the unit (for its dead letter). */
  readonly slot: number;
  readonly topic: string;
  partition: number;
  readonly key: string;
  readonly value: string;
  readonly headers: Readonly<Record<string, string>>;
  readonly bytes: number;
}

export function toRecord(e: ProcessedEvent, slot: number, unit: Unit, topic: string): OutRecord {
  const value = documentJson(e);
  const headers = { [HEADERS.logType]: e.classification.logType, [HEADERS.source]: unit.source, [HEADERS.eventId]: e.id };
  const headerBytes = Object.entries(headers).reduce((n, [k, v]) => n + Buffer.byteLength(k) + Buffer.byteLength(v), 0);
  return { slot, topic, partition: 0, key: e.id, value, headers, bytes: RECORD_OVERHEAD + Buffer.byteLength(e.id) + Buffer.byteLength(value) + headerBytes };
}

/** Java's default partitioner for a keyed record: the partition a Java producer would choose. */
export function partitionOf(key: string, partitions: number): number {
  return compatibilityPartitioner(undefined as never, Buffer.from(key)) % partitions;
}

/**
 * The records cut into produce requests: each holds one partition's records, in unit order,
 * of at most `maxBytes` (a record larger than that goes alone; the broker decides).
 */
export function requests(records: readonly OutRecord[], maxBytes: number): OutRecord[][] {
  const byPartition = new Map<string, OutRecord[]>();
  for (const r of records) {
    const k = `${r.topic}\u0000${r.partition}`;
    const list = byPartition.get(k);
    if (list) list.push(r);
    else byPartition.set(k, [r]);
  }
  return [...byPartition.values()].flatMap((list) => batches(list, Infinity, maxBytes, (r) => r.bytes));
}
