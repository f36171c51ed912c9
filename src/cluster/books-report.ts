/**
 * What `stats --config`, `dead-letters --config` and the console show of a cluster: every
 * source of every replica, read from the state index (src/cluster/books.ts writes it). The same
 * shapes as the local store's reports where the meaning is the same (store/queries.ts); every
 * value read is checked, and one that cannot be believed is named in `problems`, not shown.
 */
import type { SourceKind } from '../core/sink.js';
import { lagSeconds } from '../core/trusted-time.js';
import { decodeText } from '../decode/text.js';
import type { ApiStream, DestinationCounts } from '../store/registry.js';
import type { CheckpointReport, DeadLetterRow, Gap } from '../store/queries.js';
import { BOOK_KINDS, DESTINATION_COUNTS, ENGINE_HEAD_BYTES, ENGINE_WHOLE_BYTES, type DestinationTotals, EngineBooks, type SourceCounts, SOURCE_COUNTS, isCount, readBooks } from './books.js';

/** How many lease documents, gaps and dead letters one report reads at most. */
const MAX_DOCS = 10_000;

export interface ClusterSourceRow {
  source: string;
  /** The lease (group) document it lives in: the source, a tenant, or sources joined by "+". */
  lease: string;
  owner: string | null;
  epoch: number | null;
  checkpoints: (CheckpointReport & { kind: string; newest_event: string | null; epoch: number | null })[];
  counts: Partial<SourceCounts>;
  destinations: Record<string, Partial<DestinationTotals>>;
  updated_at: string | null;
}

export interface ClusterStats {
  state_index: string;
  sources: ClusterSourceRow[];
  /** As `stats` of one store: the sums over every source. */
  indexed: number;
  destinations: DestinationCounts[];
  duplicates: number;
  collisions: number;
  dead_letters: number;
  checkpoints: CheckpointReport[];
  api_streams: ApiStream[];
  gaps: Gap[];
  /** Values in the state index that were not believed (left out of the sums above). */
  problems: string[];
}

/** Per kind of cursor checkpoint: what it knows of files (as registry.ts FILE_COUNTS; no work queue is in the engine). */
const FILES_OF: Readonly<Record<string, (position: number) => Pick<ApiStream, 'pending' | 'done' | 'dead_lettered'>>> = {
  'mimecast-v1': (position) => ({ pending: null, done: position, dead_lettered: null }),
};
const NO_FILES = () => ({ pending: null, done: null, dead_lettered: null });

const isObject = (v: unknown): v is Record<string, unknown> => v !== null && typeof v === 'object' && !Array.isArray(v);
const shown = (v: unknown): string => (JSON.stringify(v) ?? String(v)).slice(0, 80);
const isoOrNull = (ms: unknown): string | null => (typeof ms === 'number' && Number.isFinite(ms) && Math.abs(ms) < 8.64e15 ? new Date(ms).toISOString() : null);

/** The largest of many numbers (Math.max(...list) passes the call stack at about 150,000: a hostile document has more). */
const latest = (times: readonly number[]): number => times.reduce((a, b) => Math.max(a, b), -Infinity);

/** One lease document's checkpoints, each checked. */
function checkpointsOf(lease: string, value: unknown, problems: string[]): ClusterSourceRow['checkpoints'] {
  if (!isObject(value)) return [];
  const out: ClusterSourceRow['checkpoints'] = [];
  for (const [key, c] of Object.entries(value)) {
    const where = `lease ${lease}: checkpoint ${key}`;
    if (!isObject(c) || typeof c.kind !== 'string' || !isCount(c.position) || typeof c.complete !== 'boolean' || (c.cursor !== null && typeof c.cursor !== 'string')) {
      problems.push(`${where}: not a checkpoint (${shown(c)})`);
      continue;
    }
    out.push({
      source: key, kind: c.kind.slice(0, 40), position: c.position, complete: c.complete, cursor: typeof c.cursor === 'string' ? c.cursor.slice(0, 200) : null,
      newest_event: isoOrNull(c.newest_event_ms), epoch: isCount(c.epoch) ? c.epoch : null, updated_at: '',
    });
  }
  return out;
}

/** The rows of one lease document: one per source with books in it, or one for the lease when none has any yet. */
function rowsOf(doc: unknown, problems: string[]): ClusterSourceRow[] {
  if (!isObject(doc) || typeof doc.source !== 'string') {
    problems.push(`a lease document that names no source (${shown(doc)})`);
    return [];
  }
  const lease = doc.source.slice(0, 200);
  if (doc.owner !== null && typeof doc.owner !== 'string') problems.push(`lease ${lease}: owner ${shown(doc.owner)} is not a replica id`);
  if (!isCount(doc.epoch)) problems.push(`lease ${lease}: epoch ${shown(doc.epoch)} is not a whole number`);
  const owner = typeof doc.owner === 'string' ? doc.owner.slice(0, 200) : null;
  const epoch = isCount(doc.epoch) ? doc.epoch : null;
  const names = isObject(doc.books) ? Object.keys(doc.books) : [];
  if (doc.books !== undefined && !isObject(doc.books)) problems.push(`lease ${lease}: books ${shown(doc.books)} is not an object`);
  const books = (names.length > 0 ? names : [lease]).map((source) => {
    const found: string[] = [];
    const b = readBooks(doc, source, found);
    problems.push(...found.map((p) => `lease ${lease}: ${p}`));
    return { source, b };
  });
  // A checkpoint moved with its source's last unit (the books' time); without books, the lease's last renewal says at least when it was held.
  const unitTimes = books.map(({ b }) => Date.parse(b?.updated_at ?? '')).filter(Number.isFinite);
  const updated = unitTimes.length > 0 ? new Date(latest(unitTimes)).toISOString() : typeof doc.renewed_at === 'string' ? doc.renewed_at.slice(0, 40) : '';
  const checkpoints = checkpointsOf(lease, doc.checkpoints, problems).map((c) => ({ ...c, updated_at: updated }));
  return books.map(({ source, b }) => ({ source: source.slice(0, 200), lease, owner, epoch, checkpoints, counts: b?.counts ?? {}, destinations: b?.destinations ?? {}, updated_at: b?.updated_at ?? null }));
}

/** Adds counts, leaving out a sum that would stop being exact (2^53). */
function sum(values: readonly (number | undefined)[], what: string, problems: string[]): number {
  let total = 0;
  for (const v of values) total += v ?? 0;
  if (Number.isSafeInteger(total)) return total;
  problems.push(`the sum of ${what} passes 2^53: not shown`);
  return 0;
}

function gapOf(doc: unknown, problems: string[]): Gap | undefined {
  if (!isObject(doc) || typeof doc.source !== 'string' || isoOrNull(doc.from_ms) === null || isoOrNull(doc.to_ms) === null) {
    problems.push(`a gap document that is not one (${shown(doc)})`);
    return undefined;
  }
  const [from, to] = [doc.from_ms as number, doc.to_ms as number];
  return {
    source: doc.source.slice(0, 200), log_type: typeof doc.log_type === 'string' ? doc.log_type.slice(0, 100) : null, from: isoOrNull(from)!, to: isoOrNull(to)!,
    lost_seconds: Math.round((to - from) / 1000), reason: typeof doc.reason === 'string' ? doc.reason.slice(0, 1000) : '', recorded_at: typeof doc.created_at === 'string' ? doc.created_at.slice(0, 40) : '',
  };
}

/** Every source of every replica, with the sums `stats` of one store shows. */
export async function clusterStats(books: EngineBooks, now = Date.now()): Promise<ClusterStats> {
  const problems: string[] = [];
  const sources = (await books.list('source', MAX_DOCS)).flatMap((h) => rowsOf(h.doc, problems)).sort((a, b) => a.source.localeCompare(b.source));
  const gaps = (await books.list(BOOK_KINDS.gap, MAX_DOCS)).map((h) => gapOf(h.doc, problems)).filter((g): g is Gap => g !== undefined).sort((a, b) => a.from.localeCompare(b.from) || a.source.localeCompare(b.source));
  const total = (k: keyof SourceCounts) => sum(sources.map((s) => s.counts[k]), k, problems);
  const destinationNames = [...new Set(sources.flatMap((s) => Object.keys(s.destinations)))].sort();
  const destinations = destinationNames.map((name) => {
    const of = sources.filter((s) => s.destinations[name] !== undefined);
    const t = Object.fromEntries(DESTINATION_COUNTS.map((k) => [k, sum(of.map((s) => s.destinations[name]![k]), `${name} ${k}`, problems)])) as DestinationTotals;
    const last = latest([0, ...of.map((s) => Date.parse(s.updated_at ?? '')).filter(Number.isFinite)]);
    return { destination: name, ...t, last_unit_at: last };
  });
  const leases = [...new Map(sources.map((s) => [s.lease, s])).values()];
  const checkpoints = leases.flatMap((s) => s.checkpoints).sort((a, b) => a.source.localeCompare(b.source));
  return {
    state_index: books.index, sources, indexed: total('stored'), destinations,
    duplicates: total('duplicates'), collisions: total('collisions'), dead_letters: total('dead_letters'),
    checkpoints: checkpoints.map(({ source, position, complete, cursor, updated_at }) => ({ source, position, complete, cursor, updated_at })),
    api_streams: checkpoints.map((c) => ({
      stream: c.source, kind: c.kind as SourceKind, caught_up: c.complete, lag_seconds: lagSeconds(c.newest_event === null ? null : Date.parse(c.newest_event), now),
      untrusted_time_events: 0, ...(FILES_OF[c.kind] ?? NO_FILES)(c.position), updated_at: c.updated_at,
    })),
    gaps, problems,
  };
}

/** A dead letter of the engine, as `dead-letters` shows one of the store (`id` for its rowid), with its kept bytes. */
export interface ClusterDeadLetter extends Omit<DeadLetterRow, 'rowid'> {
  id: string;
  destination: string | null;
  owner: string | null;
  /** When `replay --config` recovered it (it is not sent again); null: not yet. */
  replayed_at: string | null;
  /** Every kept byte, base64 (`replay` runs them again); absent when not asked for. */
  raw_b64?: string;
  raw_is_text: boolean;
}

/**
 * Dead letters asked of the engine at once: each keeps up to ENGINE_WHOLE_BYTES (1.4 MB as base64),
 * so one answer for a --limit of thousands would be gigabytes (past what one string can hold).
 */
const DEAD_LETTER_PAGE = 16;

/**
 * The engine's dead letters, most recently written first, a page at a time (yielded as read, so
 * a caller that writes each out holds one page); `previewBytes` of each as text, and with
 * `withBytes` all kept bytes. A document that is not one is named in `problems`.
 */
export async function* clusterDeadLetterRows(books: EngineBooks, o: { limit: number; previewBytes: number; withBytes: boolean }, problems: string[]): AsyncGenerator<ClusterDeadLetter> {
  const max = Math.min(o.limit, MAX_DOCS);
  const seen = new Set<string>(); // one written meanwhile moves the pages down by one: the row read twice is shown once
  for (let from = 0; from < max; from += DEAD_LETTER_PAGE) {
    const page = await books.list(BOOK_KINDS.deadLetter, Math.min(DEAD_LETTER_PAGE, max - from), from);
    for (const { id, doc } of page) {
      if (seen.has(id)) continue;
      seen.add(id);
      const row = deadLetterRow(id, doc, o, problems);
      if (row) yield row;
    }
    if (page.length < DEAD_LETTER_PAGE) return;
  }
}

/** The engine's dead letters (clusterDeadLetterRows), all in hand. */
export async function clusterDeadLetters(books: EngineBooks, o: { limit: number; previewBytes: number; withBytes: boolean }): Promise<{ rows: ClusterDeadLetter[]; problems: string[] }> {
  const problems: string[] = [];
  const rows: ClusterDeadLetter[] = [];
  for await (const row of clusterDeadLetterRows(books, o, problems)) rows.push(row);
  return { rows, problems };
}

function deadLetterRow(id: string, d: unknown, o: { previewBytes: number; withBytes: boolean }, problems: string[]): ClusterDeadLetter | undefined {
  if (!isObject(d) || typeof d.source !== 'string' || typeof d.raw_b64 !== 'string' || !isCount(d.position)) {
    problems.push(`dead letter ${id.slice(0, 120)}: not one (${shown(d)})`);
    return undefined;
  }
  let raw = Buffer.from(d.raw_b64, 'base64');
  let truncatedFrom = isCount(d.truncated_from) ? d.truncated_from : null;
  if (raw.length > ENGINE_WHOLE_BYTES) {
    // No replica writes more: someone else did. Its head only is shown, and said to be cut.
    problems.push(`dead letter ${id.slice(0, 120)}: ${raw.length} bytes, more than a replica keeps (${ENGINE_WHOLE_BYTES}): only the first ${ENGINE_HEAD_BYTES} are shown`);
    truncatedFrom = raw.length;
    raw = raw.subarray(0, ENGINE_HEAD_BYTES);
  }
  const text = d.raw_is_text === true;
  const head = raw.subarray(0, o.previewBytes);
  return {
    id, source: d.source.slice(0, 500), destination: typeof d.destination === 'string' ? d.destination.slice(0, 200) : null, owner: typeof d.owner === 'string' ? d.owner.slice(0, 200) : null,
    position: d.position, reason: typeof d.reason === 'string' ? d.reason.slice(0, 4000) : '', created_at: typeof d.created_at === 'string' ? d.created_at.slice(0, 40) : '',
    replay_attempts: isCount(d.replay_attempts) ? d.replay_attempts : 0, replayed_at: typeof d.replayed_at === 'string' ? d.replayed_at.slice(0, 40) : null, truncated_from: truncatedFrom, cut_short: d.cut_short === true, feed: typeof d.feed === 'string' ? d.feed.slice(0, 100) : null, raw: text ? head.toString('utf8') : decodeText(head), raw_bytes: raw.length, raw_cut: raw.length > o.previewBytes,
    raw_is_text: text, ...(o.withBytes ? { raw_b64: raw.toString('base64') } : {}),
  };
}
