/**
 * `mimelog replay`: re-runs stored dead letters through the current pipeline (after a fix or a
 * types-file update). One that now yields no dead letter is replaced by its events in one
 * transaction; one that still fails stays, with the new reason and an attempt count. A dead
 * letter of an API feed is read as that feed's records again (their log type is the feed's).
 */
import { type DecodedBatch, decodeBytes } from '../decode/input.js';
import type { DecodeLimits } from '../decode/limits.js';
import { decodeRecords } from '../decode/records.js';
import { type FeedSpec, feedNamed } from '../mimecast/feeds.js';
import { pageRecords } from '../sources/mimecast-v2/feeds.js';
import type { Sink } from '../core/sink.js';
import type { StoredDeadLetter } from '../store/registry.js';
import type { Store } from '../store/store.js';
import { type SinkCounts, addCounts, noCounts } from '../core/counts.js';
import type { Unit } from '../core/unit.js';
import type { Transformer } from './transform.js';

export interface ReplayReport {
  attempted: number;
  recovered: number;
  still_failing: number;
  events_stored: number;
  duplicates: number;
}

/**
 * The bytes to replay: exactly the kept bytes. Never the source file read again: the file at that
 * path may have changed or be another file, and its records would replace this dead letter.
 * A dead letter with no bytes (written by an older version), only their head, or a line that may
 * be cut short (its input broke while it was read) is not replayed: it could store a wrong event.
 */
function replayBytes(dl: StoredDeadLetter): Buffer | undefined {
  if (dl.raw.length === 0 || dl.truncatedFrom !== undefined || dl.cutShort) return undefined;
  return typeof dl.raw === 'string' ? Buffer.from(dl.raw) : dl.raw;
}

/**
 * Where recovered events go. Default: the embedded store, atomically with the dead letter's
 * removal. With a remote sink: delivered there first (no checkpoint moves), then the dead letter
 * is removed, unless the sink refused an event again (it then stays, with the sink's reason).
 */
export type ReplayTarget = (rowid: number, units: Unit[]) => Promise<SinkCounts>;

export function intoSink(store: Store, sink: Sink): ReplayTarget {
  return async (rowid, units) => {
    const total = noCounts();
    for (const unit of units) addCounts(total, await sink.write(unit)); // no state: no checkpoint moves
    if (total.deadLetters === 0) store.registry.deleteDeadLetter(rowid);
    return total;
  };
}

/** What replay needs of a dead letter besides its bytes: the input it was read from, where in it, and the API feed it came from. */
export interface ReplayOrigin {
  readonly source: string;
  /** Its record's number; 0 for the whole input (a feed's: a whole page). */
  readonly position: number;
  readonly feed?: string;
}

/**
 * The batches the kept bytes make. A whole page of a feed (a window given up: collector's
 * abandonWindow) is read as the feed's answer and its records decoded, as the collector does
 * (`data[]` or `data[0].<recordsAt>`); a string says why it cannot be (it still does not parse, or
 * holds no records). Any other bytes are decoded as an input (so are a page's items that were not
 * records, kept together: a page is a JSON object, they are not).
 */
function replayBatches(origin: ReplayOrigin, feed: FeedSpec | undefined, bytes: Buffer, limits: DecodeLimits | undefined): AsyncIterable<DecodedBatch> | string {
  if (feed === undefined || origin.position > 0 || !/^\s*\{/.test(bytes.subarray(0, 64).toString('latin1'))) return decodeBytes(origin.source, bytes, { limits });
  const records = pageRecords(feed, bytes, limits);
  return typeof records === 'string' ? records : decodeRecords(origin.source, records, { limits });
}

/**
 * The kept bytes through the current pipeline (as its feed's records when it came from one): its units, the
 * events placed where the dead letter was, or the first failure's reason. Both replays (the
 * store's, the engine's: cluster/replay.ts) run it.
 */
export async function reprocess(origin: ReplayOrigin, bytes: Buffer, transformer: Transformer, limits: DecodeLimits | undefined): Promise<Unit[] | string> {
  // Its feed as kept, never guessed from its source's name here: a file may be named like a feed's page.
  const feed = origin.feed;
  const spec = feed === undefined ? undefined : feedNamed(feed);
  // Never a log type from a name this version does not know (an engine document can be edited by hand).
  if (feed !== undefined && spec === undefined) return `its feed ${JSON.stringify(feed.slice(0, 100))} is not one this version knows: not replayed`;
  const batches = replayBatches(origin, spec, bytes, limits);
  if (typeof batches === 'string') return batches;
  const units: Unit[] = [];
  for await (const batch of batches) units.push(transformer.forFeed(spec?.name).process(batch));
  const failure = units.find((u) => u.deadLetters.length > 0)?.deadLetters[0]?.reason;
  if (failure !== undefined) return failure;
  // Events keep the position the dead letter had in its source (`doc` named: a spread copies no getter).
  const position = origin.position;
  return position > 0 ? units.map((u) => ({ ...u, events: u.events.map((e) => ({ ...e, doc: e.doc, position })) })) : units;
}

export async function replayDeadLetters(
  store: Store,
  transformer: Transformer,
  target: ReplayTarget = async (rowid, units) => store.resolveDeadLetter(rowid, units),
  limits?: DecodeLimits,
): Promise<ReplayReport> {
  const report: ReplayReport = { attempted: 0, recovered: 0, still_failing: 0, events_stored: 0, duplicates: 0 };
  for (const rowid of store.registry.deadLetterIds()) {
    const dl = store.registry.deadLetter(rowid);
    if (!dl) continue;
    report.attempted++;
    const bytes = replayBytes(dl);
    if (!bytes) {
      store.registry.markReplayFailed(rowid, dl.reason);
      report.still_failing++;
      continue;
    }
    const units = await reprocess(dl, bytes, transformer, limits);
    if (typeof units === 'string') {
      store.registry.markReplayFailed(rowid, units);
      report.still_failing++;
      continue;
    }
    const counts = await target(rowid, units);
    if (counts.deadLetters > 0) {
      const again = store.registry.deadLetter(rowid);
      if (again) store.registry.markReplayFailed(rowid, again.reason);
      report.still_failing++;
      continue;
    }
    report.recovered++;
    report.events_stored += counts.stored;
    report.duplicates += counts.duplicates;
  }
  return report;
}
