/**
 * `mimelog replay --config run.yaml`: the engine's dead letters (every replica's, the documents
 * `dead-letters --config` lists) run again through the current pipeline, as `replay` runs a
 * store's. The same meaning as the store's replay (pipeline/replay.ts): only whole kept bytes are
 * replayed (a head of a larger record, a line that may be cut short, bytes that do not match their
 * digest are refused and said why, never replayed as if whole); one that now yields events is
 * delivered, then marked replayed (`replayed_at`), so a second replay does not send it again (the
 * store deletes it; the engine's document stays, so a redo of its unit meets it and does not count
 * it again); one that still fails or is refused stays, with the new reason and an attempt count.
 */
import { createHash } from 'node:crypto';
import type { DecodeLimits } from '../decode/limits.js';
import type { Unit } from '../core/unit.js';
import type { SinkCounts } from '../core/counts.js';
import { reprocess } from '../pipeline/replay.js';
import { feedOfPageSource } from '../sources/mimecast-v2/feeds.js';
import type { Transformer } from '../pipeline/transform.js';
import { BOOK_KINDS, ENGINE_WHOLE_BYTES, type EngineBooks, isCount } from './books.js';
import { StateIndex } from './state-index.js';

export interface ClusterReplayReport {
  /** Dead letters listed in this run: every one the state index held when it began (or `limit` of them). */
  listed: number;
  attempted: number;
  recovered: number;
  still_failing: number;
  events_stored: number;
  duplicates: number;
  /** Marked replayed by an earlier replay: not sent again. */
  already_replayed: number;
  /** Dead letters refused (kept bytes not whole, not a dead letter). */
  refused_count: number;
  /** Why each was refused: the first REFUSED_SAID of them (a run reads every dead letter: the list stays bounded). */
  refused: { id: string; reason: string }[];
}

/** Refusals a report names one by one; the rest are counted. */
export const REFUSED_SAID = 1_000;

/** Where recovered events go (the config's `sink:`); a unit without state moves no checkpoint. */
export type ReplayInto = (units: readonly Unit[]) => Promise<SinkCounts>;

/** How one source's dead letters are replayed: its own pipeline settings, bounds and sink (its tenant's stamp). */
export interface ReplayRoute {
  readonly transformer: Transformer;
  readonly limits?: DecodeLimits;
  readonly into: ReplayInto;
}

/** Dead letters listed per request: one run reads them all, a page at a time (memory: one page of ids). */
export const REPLAY_PAGE = 1_000;

interface EngineLetter {
  readonly source?: unknown;
  readonly origin?: unknown;
  readonly position?: unknown;
  readonly raw_b64?: unknown;
  readonly digest?: unknown;
  readonly truncated_from?: unknown;
  readonly cut_short?: unknown;
  readonly replayed_at?: unknown;
  readonly replay_attempts?: unknown;
  readonly feed?: unknown;
}

/** The bytes to replay, or why there are none that can be (checked in this order). */
function wholeBytes(d: EngineLetter): Buffer | string {
  if (typeof d.raw_b64 !== 'string' || typeof d.origin !== 'string' || !isCount(d.position)) return 'not a dead letter (its origin, position or bytes are missing or of the wrong kind)';
  const raw = Buffer.from(d.raw_b64, 'base64');
  if (d.truncated_from !== null && d.truncated_from !== undefined) {
    return `only the first ${raw.length} bytes of its ${isCount(d.truncated_from) ? d.truncated_from : '(unknown)'} are kept in the state index: not replayed as if whole (the replica that read it keeps up to 16 MiB in its store: \`mimelog replay --db\` there)`;
  }
  if (raw.length > ENGINE_WHOLE_BYTES) return `${raw.length} bytes, more than a replica keeps (${ENGINE_WHOLE_BYTES}): not written by a replica, not replayed`;
  if (d.cut_short === true) return 'its line may be cut short (its input broke while it was read): not replayed';
  if (raw.length === 0) return 'no bytes kept';
  if (createHash('sha256').update(raw).digest('hex') !== d.digest) return 'its bytes do not match its digest (changed since it was written): not replayed';
  return raw;
}

/**
 * `route`: the way of the source that wrote each dead letter (its `source`, a config source's name),
 * as the replica ran it; a source it does not know goes the default way (`transformer`, `into`).
 * One run reads every dead letter the state index holds when it begins, oldest first, a page of
 * `pageSize` ids at a time (`limit`: at most that many). It walks the engine's write order
 * (`_seq_no`, one shard: each live document has its own) up to the newest dead letter at its start:
 * a document it marks is written again, so it moves past that mark and is not met twice; those
 * written meanwhile are the next run's. So a run ends however many keep arriving or failing.
 */
export async function replayEngineDeadLetters(
  books: EngineBooks, transformer: Transformer, into: ReplayInto,
  o: { limits?: DecodeLimits; limit?: number; pageSize?: number; route?: (source: string) => ReplayRoute | undefined } = {},
): Promise<ClusterReplayReport> {
  const report: ClusterReplayReport = { listed: 0, attempted: 0, recovered: 0, still_failing: 0, events_stored: 0, duplicates: 0, already_replayed: 0, refused_count: 0, refused: [] };
  const index = new StateIndex(books.client, books.index);
  const mark = await books.newestSeqNo(BOOK_KINDS.deadLetter);
  let left = o.limit ?? Number.POSITIVE_INFINITY;
  let after: number | undefined;
  // The ids a page at a time, then each document not yet replayed read whole, one at a time.
  while (mark !== undefined && left > 0) {
    const page = (await books.ids(BOOK_KINDS.deadLetter, Math.min(o.pageSize ?? REPLAY_PAGE, left), after)).filter((h) => h.seqNo <= mark);
    if (page.length === 0) break;
    for (const { id, seqNo, replayed } of page) {
      after = seqNo;
      report.listed++;
      left--;
      if (replayed) report.already_replayed++; // marked by an earlier run: not read again
      else await replayOne(index, id, report, { transformer, limits: o.limits, into }, o.route);
    }
  }
  return report;
}

/** One dead letter of the state index replayed (or refused, or found replayed before), its outcome counted in `report`. */
async function replayOne(index: StateIndex, id: string, report: ClusterReplayReport, fallback: ReplayRoute, route: ((source: string) => ReplayRoute | undefined) | undefined): Promise<void> {
  const read = await index.get<EngineLetter>(id);
  if (!read) return; // deleted meanwhile
  const d = read.doc;
  if (typeof d.replayed_at === 'string') {
    report.already_replayed++;
    return;
  }
  report.attempted++;
  const attempts = (isCount(d.replay_attempts) ? d.replay_attempts : 0) + 1;
  const bytes = wholeBytes(d);
  if (typeof bytes === 'string') {
    if (report.refused_count++ < REFUSED_SAID) report.refused.push({ id, reason: bytes });
    report.still_failing++;
    // Written again (the reason said), so it moves behind the others in the listing's order: a
    // run with a `limit` is not held for good by dead letters that can never be replayed.
    await index.replace(id, { ...d, replay_attempts: attempts, replay_reason: bytes }, read.version);
    return;
  }
  const way = (typeof d.source === 'string' ? route?.(d.source) : undefined) ?? fallback;
  // One written before dead letters carried their feed: its feed from its page's name. Safe here, not
  // in a store: a replica runs API sources only (no spool), whose names begin with their kind.
  const feed = typeof d.feed === 'string' ? d.feed : feedOfPageSource(d.origin as string)?.feed;
  const origin = { source: d.origin as string, position: d.position as number, feed };
  const units = await reprocess(origin, bytes, way.transformer, way.limits);
  const counts = typeof units === 'string' ? undefined : await way.into(units);
  if (counts === undefined || counts.deadLetters > 0) {
    report.still_failing++;
    const reason = typeof units === 'string' ? units : 'a destination refused its events again (see the replay store\'s dead letters)';
    await index.replace(id, { ...d, replay_attempts: attempts, replay_reason: reason.slice(0, 4000) }, read.version);
    return;
  }
  // Delivered first, then marked: a replay that dies between the two sends it again, its events recognised by their ids.
  await index.replace(id, { ...d, replay_attempts: attempts, replayed_at: new Date().toISOString(), replayed_events: counts.stored + counts.duplicates }, read.version);
  report.recovered++;
  report.events_stored += counts.stored;
  report.duplicates += counts.duplicates;
}
