/**
 * `mimelog replay --config run.yaml`: the engine's dead letters (every replica's, the documents
 * `dead-letters --config` lists) run again through the current pipeline, as `replay` runs a
 * store's. The same meaning as the store's replay (pipeline/replay.ts): only whole kept bytes are
 * replayed (a head of a larger record, a line that may be cut short, bytes that do not match their
 * digest are refused and said why, never replayed as if whole); one that now yields events is
 * delivered, then marked replayed (`replayed_at`), so a second replay does not send it again (the
 * store deletes it; the engine's document stays, so a redo of its unit meets it and does not count
 * it again); one that still fails or is refused stays, with the new reason and an attempt count.
 *
 * Two runs at once: each dead letter is claimed before it is handled (`replay_claim`, a conditional
 * write on the version read), and only the run whose claim the engine took delivers it; its mark
 * is conditional on its claim. The other run leaves it ("claimed by another run"). A claim older
 * than CLAIM_STALE_MS (its run died) is taken over: a run that died after delivering and before
 * marking has its dead letter delivered again, a duplicate only where the sink recognises event ids
 * (the search engine), a second copy for Kafka, syslog, Splunk or Sentinel.
 */
import { createHash, randomUUID } from 'node:crypto';
import { hostname } from 'node:os';
import type { DecodeLimits } from '../decode/limits.js';
import type { Unit } from '../core/unit.js';
import type { SinkCounts } from '../core/counts.js';
import { reprocess } from '../pipeline/replay.js';
import { feedOfPageSource } from '../sources/mimecast-v2/feeds.js';
import type { Transformer } from '../pipeline/transform.js';
import { BOOK_KINDS, ENGINE_WHOLE_BYTES, type EngineBooks, isCount } from './books.js';
import { StateIndex, type Version } from './state-index.js';

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
  /** Claimed by another run (its claim live, or it claimed first): left to that run, neither sent nor counted here. */
  claimed_elsewhere: number;
  /** Delivered, but its claim was taken over before its mark (the delivery outlasted CLAIM_STALE_MS): the run that took it over may send it again. */
  taken_over: number;
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

/** A claim older than this (or not a time) is a dead run's: another run takes it over. Far longer than one dead letter's delivery. */
export const CLAIM_STALE_MS = 15 * 60_000;

/** Who handles a dead letter: the run that wrote it (`by`), when (`at`, ISO). */
interface Claim {
  readonly by: string;
  readonly at: string;
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
  readonly replay_claim?: unknown;
  readonly feed?: unknown;
}

/** The run holding a live claim on the document, if another than `me`'s holds one (a claim of the wrong shape holds nothing). */
function liveClaimOf(d: EngineLetter, me: string, now: number, staleMs: number): string | undefined {
  const c = d.replay_claim as Partial<Claim> | null | undefined;
  if (typeof c?.by !== 'string' || c.by === me || typeof c.at !== 'string') return undefined;
  const age = now - Date.parse(c.at);
  return Math.abs(age) <= staleMs ? c.by : undefined; // NaN (not a time) or a time far off: stale
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
  o: { limits?: DecodeLimits; limit?: number; pageSize?: number; route?: (source: string) => ReplayRoute | undefined; runId?: string; claimStaleMs?: number } = {},
): Promise<ClusterReplayReport> {
  const report: ClusterReplayReport = { listed: 0, attempted: 0, recovered: 0, still_failing: 0, events_stored: 0, duplicates: 0, already_replayed: 0, claimed_elsewhere: 0, taken_over: 0, refused_count: 0, refused: [] };
  const index = new StateIndex(books.client, books.index);
  const run: Run = { id: o.runId ?? `${hostname()}:${process.pid}:${randomUUID().slice(0, 8)}`, staleMs: o.claimStaleMs ?? CLAIM_STALE_MS };
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
      else await replayOne(index, run, id, report, { transformer, limits: o.limits, into }, o.route);
    }
  }
  return report;
}

const RELEASE_TRIES = 5;

/** This run's name in its claims, and when a claim is a dead run's. */
interface Run {
  readonly id: string;
  readonly staleMs: number;
}

/** A dead letter this run claimed: the document as read, and the version its claim wrote. */
interface Claimed {
  readonly doc: EngineLetter;
  readonly claim: Claim;
  version: Version;
}

/**
 * Claims the dead letter for this run (conditional on the version read); undefined when it is not
 * this run's to handle, counted in `report`: gone, replayed before, or claimed by another run.
 */
async function claim(index: StateIndex, run: Run, id: string, report: ClusterReplayReport): Promise<Claimed | undefined> {
  const read = await index.get<EngineLetter>(id);
  if (!read) return undefined; // deleted meanwhile
  if (typeof read.doc.replayed_at === 'string') {
    report.already_replayed++;
    return undefined;
  }
  const now = Date.now();
  const mine: Claim = { by: run.id, at: new Date(now).toISOString() };
  const written = liveClaimOf(read.doc, run.id, now, run.staleMs) === undefined ? await index.replace(id, { ...read.doc, replay_claim: mine }, read.version) : { ok: false as const };
  if (!written.ok) {
    report.claimed_elsewhere++;
    return undefined;
  }
  return { doc: read.doc, claim: mine, version: written.version };
}

/**
 * The claimed document written as `change` makes it (the claim dropped), conditional on the claim:
 * a change meanwhile that kept it (a replica stamping the document's `commit`) is read and written
 * over again (a few times: a document that keeps changing is left as it is). False when the claim
 * was taken over (another run holds it now) or could not be written.
 */
async function release(index: StateIndex, id: string, held: Claimed, change: (d: EngineLetter) => object): Promise<boolean> {
  let doc = held.doc;
  for (let tries = 0; tries < RELEASE_TRIES; tries++) {
    const { replay_claim: _, ...rest } = doc;
    if ((await index.replace(id, change(rest), held.version)).ok) return true;
    const read = await index.get<EngineLetter>(id);
    const c = read?.doc.replay_claim as Partial<Claim> | undefined;
    if (!read || c?.by !== held.claim.by || c.at !== held.claim.at) return false;
    [doc, held.version] = [read.doc, read.version];
  }
  return false;
}

/** One dead letter of the state index replayed (or refused, or found replayed before or claimed by another run), its outcome counted in `report`. */
async function replayOne(index: StateIndex, run: Run, id: string, report: ClusterReplayReport, fallback: ReplayRoute, route: ((source: string) => ReplayRoute | undefined) | undefined): Promise<void> {
  const held = await claim(index, run, id, report);
  if (!held) return;
  const d = held.doc;
  report.attempted++;
  const attempts = (isCount(d.replay_attempts) ? d.replay_attempts : 0) + 1;
  const bytes = wholeBytes(d);
  if (typeof bytes === 'string') {
    if (report.refused_count++ < REFUSED_SAID) report.refused.push({ id, reason: bytes });
    report.still_failing++;
    // Written again (the reason said), so it moves behind the others in the listing's order: a
    // run with a `limit` is not held for good by dead letters that can never be replayed.
    await release(index, id, held, (doc) => ({ ...doc, replay_attempts: attempts, replay_reason: bytes }));
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
    await release(index, id, held, (doc) => ({ ...doc, replay_attempts: attempts, replay_reason: reason.slice(0, 4000) }));
    return;
  }
  // Delivered first, then marked: a run that dies between the two leaves its claim, taken over
  // after CLAIM_STALE_MS by a run that sends it again (a duplicate where the sink knows event ids).
  const marked = await release(index, id, held, (doc) => ({ ...doc, replay_attempts: attempts, replayed_at: new Date().toISOString(), replayed_by: run.id, replayed_events: counts.stored + counts.duplicates }));
  if (!marked) report.taken_over++;
  report.recovered++;
  report.events_stored += counts.stored;
  report.duplicates += counts.duplicates;
}
