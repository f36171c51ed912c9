/**
 * Reads one partition as a `read_committed` consumer sees it, from raw record batches: a
 * transaction's records count once its commit marker is read, are dropped at its abort marker,
 * and are left out while it is still open; records written outside a transaction count at once.
 * Done here rather than with the client's read_committed fetch, which keeps an aborted
 * transaction's records when its abort marker falls in a later fetch than the records.
 */
import { type Consumer, ListOffsetTimestamps } from '@platformatic/kafka';

/** Record batch attribute bits (Kafka's record batch format v2). */
const TRANSACTIONAL = 1 << 4;
const CONTROL = 1 << 5;
/** A control record's key: version (int16), then type (int16): 0 abort, 1 commit. */
const COMMIT = 1;
const FETCH_BYTES = 4 * 1024 * 1024;

export interface CommittedRecord {
  readonly offset: bigint;
  readonly key: string;
  readonly value: string;
  readonly headers: Readonly<Record<string, string>>;
}

type AnyConsumer = Consumer<Buffer, Buffer, Buffer, Buffer>;

/** The partition's first and next offsets (log start, high watermark). */
export async function partitionBounds(consumer: AnyConsumer, topic: string, partition: number): Promise<{ start: bigint; end: bigint }> {
  const at = async (timestamp: bigint) => (await consumer.listOffsets({ topics: [topic], partitions: { [topic]: [partition] }, timestamp })).get(topic)?.[partition] ?? 0n;
  return { start: await at(ListOffsetTimestamps.EARLIEST), end: await at(ListOffsetTimestamps.LATEST) };
}

/** The committed records of `topic`/`partition` from offset `from` up to the end it has now, in commit order. */
export async function readCommitted(consumer: AnyConsumer, topic: string, partition: number, from: bigint): Promise<CommittedRecord[]> {
  const { end } = await partitionBounds(consumer, topic, partition);
  const metadata = await consumer.metadata({ topics: [topic] });
  const t = metadata.topics.get(topic)!;
  const out: CommittedRecord[] = [];
  const open = new Map<bigint, CommittedRecord[]>();
  let offset = from;
  while (offset < end) {
    const res = await consumer.fetch({
      node: t.partitions[partition]!.leader, maxWaitTime: 100, minBytes: 1, maxBytes: FETCH_BYTES, isolationLevel: 0,
      topics: [{ topicId: t.id, partitions: [{ partition, currentLeaderEpoch: -1, fetchOffset: offset, lastFetchedEpoch: -1, partitionMaxBytes: FETCH_BYTES }] }],
    });
    const batches = res.responses[0]?.partitions[0]?.records ?? [];
    if (batches.length === 0) break;
    for (const batch of batches) {
      const next = batch.firstOffset + BigInt(batch.lastOffsetDelta) + 1n;
      if (next <= offset) continue; // a batch the fetch repeats from before `offset`
      if (batch.attributes & CONTROL) {
        if (batch.records[0]?.key?.readInt16BE(2) === COMMIT) out.push(...(open.get(batch.producerId) ?? []));
        open.delete(batch.producerId);
      } else {
        const records = batch.records
          .map((r) => ({ offset: batch.firstOffset + BigInt(r.offsetDelta), key: r.key?.toString() ?? '', value: r.value?.toString() ?? '', headers: Object.fromEntries(r.headers.map(([k, v]) => [k?.toString() ?? '', v?.toString() ?? ''])) }))
          .filter((r) => r.offset >= offset);
        if (batch.attributes & TRANSACTIONAL) {
          const pending = open.get(batch.producerId);
          if (pending) pending.push(...records);
          else open.set(batch.producerId, records);
        } else {
          out.push(...records);
        }
      }
      offset = next;
    }
  }
  return out;
}
