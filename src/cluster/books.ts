/**
 * A source's bookkeeping in the state index, beside its lease and checkpoints (docs/cluster.md,
 * "State in the engine"), so that any replica continues any source's totals and `stats`, the
 * console and `dead-letters` see every replica's work:
 *
 * - Running counts, per source and per destination, live in the lease document under `books`
 *   and move in the same conditional write as the unit's checkpoint (`HeldLease.commit`): a write
 *   the engine refuses (a stale owner) moves no count, and the next owner adds to the engine's
 *   totals, not to its own. Each unit's write names itself by what it is (`last_commit`,
 *   unitCommitId): a write sent again after its answer was lost, or the same unit read again one
 *   unit back after a crash, is recognised and not counted twice.
 * - Dead letters (their bytes bounded), collisions and gaps are documents of their own, with ids
 *   derived from the source and what they are, created before the fenced write: a crash between
 *   the two, and the next owner's redo of the unit, meet the same ids again (never doubled, never
 *   lost). Dead letters and gaps are counted from which documents are new (commitUnitBooks), so a
 *   redo cut differently counts only what it adds.
 *
 * The documents are anyone's to write: what is read back is checked, and a value that is not a
 * count is reported, never trusted.
 */
import { createHash } from 'node:crypto';
import type { SourceState } from '../core/sink.js';
import type { PreparedDeadLetter, PreparedUnit } from '../store/prepared.js';
import type { NamedReport } from '../store/store.js';
import type { SearchClient } from '../sinks/search/client.js';
import { MimelogError } from '../util/errors.js';
import type { HeldLease, SourceDoc } from './leases.js';

/** A source's running counts (the local store's counters, as `stats` names them). */
export const SOURCE_COUNTS = ['units', 'stored', 'duplicates', 'collisions', 'dead_letters', 'gaps'] as const;
/** A destination's running counts (the local store's destination_counts). */
export const DESTINATION_COUNTS = ['acknowledged', 'duplicates', 'collisions', 'refused', 'resent', 'units'] as const;
export type SourceCounts = Record<(typeof SOURCE_COUNTS)[number], number>;
export type DestinationTotals = Record<(typeof DESTINATION_COUNTS)[number], number>;

/** One source's books in its lease document (`books.<source name>`). */
export interface SourceBooks {
  readonly counts: SourceCounts;
  readonly destinations: Readonly<Record<string, DestinationTotals>>;
  /** The last unit's write: a write sent again (its answer lost) that meets it is not counted again. */
  readonly last_commit: string;
  readonly updated_at: string;
}

/**
 * Bytes a dead letter keeps in the engine: whole up to ENGINE_WHOLE_BYTES, else its head (the local
 * store's head bound). A record of up to 16 MiB is kept whole locally; the state index is small.
 */
export const ENGINE_WHOLE_BYTES = 1024 * 1024;
export const ENGINE_HEAD_BYTES = 64 * 1024;
/** About how many bytes one `_bulk` of a unit's documents carries (the search sink's bulk_bytes default). */
const BULK_BYTES = 5 * 1024 * 1024;

/** How many ids one `_mget` of existing documents names. */
const MGET_IDS = 1_000;

/** One item of a `_bulk` answer (only what is read of it). */
interface BulkItem {
  readonly create?: { readonly _id?: unknown; readonly status?: unknown; readonly result?: unknown; readonly error?: { readonly reason?: unknown } };
  readonly update?: { readonly _id?: unknown; readonly status?: unknown };
}

/** What a unit's `_bulk` of documents found: ids new to the engine, and the `commit` of each that existed. */
export interface PutOutcome {
  readonly created: Set<string>;
  readonly existing: Map<string, string | undefined>;
}

/** The kinds of documents this module writes beside the lease documents, with their id prefix. */
export const BOOK_KINDS = { deadLetter: 'dead-letter', collision: 'collision', gap: 'gap' } as const;

export interface EngineDeadLetter {
  readonly kind: typeof BOOK_KINDS.deadLetter;
  readonly source: string;
  /** Where it came from inside the source (the unit's source: a stream, an API file). */
  readonly origin: string;
  readonly position: number;
  readonly reason: string;
  /** The destination that refused it; absent: it could not be read. */
  readonly destination?: string;
  readonly raw_b64: string;
  readonly raw_is_text: boolean;
  /** sha-256 of the whole bytes as read (the id is made from it). */
  readonly digest: string;
  /** The length of the bytes when only their head is kept. */
  readonly truncated_from: number | null;
  readonly cut_short: boolean;
  /** The API feed it came from (DeadLetter.feed); absent for others. */
  readonly feed?: string;
  readonly created_at: string;
  readonly owner: string;
  readonly epoch: number;
}

const sha = (parts: readonly unknown[]): string => createHash('sha256').update(JSON.stringify(parts)).digest('hex').slice(0, 40);
/** A deterministic id: the same thing found again (a redo after a crash, by any owner) is the same document. */
const bookId = (kind: string, source: string, parts: readonly unknown[]): string => `${kind}:${source}:${sha(parts)}`;

/** A count as the engine holds it: a whole number ≥ 0 that adding cannot make inexact. */
export function isCount(n: unknown): n is number {
  return typeof n === 'number' && Number.isSafeInteger(n) && n >= 0;
}

const zeros = <K extends string>(names: readonly K[]): Record<K, number> => Object.fromEntries(names.map((k) => [k, 0])) as Record<K, number>;

/**
 * Counts read from a document: each one checked; a value that is not a count is named in
 * `problems` and counts as missing (undefined), never as a number.
 */
export function checkedCounts<K extends string>(names: readonly K[], value: unknown, where: string, problems: string[]): Partial<Record<K, number>> {
  if (value === undefined) return {};
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    problems.push(`${where}: not an object of counts (${JSON.stringify(value)?.slice(0, 80)})`);
    return {};
  }
  const out: Partial<Record<K, number>> = {};
  for (const k of names) {
    const n = (value as Record<string, unknown>)[k];
    if (n === undefined) continue;
    if (isCount(n)) out[k] = n;
    else problems.push(`${where}.${k}: ${JSON.stringify(n)?.slice(0, 80)} is not a count (a whole number from 0 to 2^53): not believed`);
  }
  return out;
}

/** A source's books read from its lease document, checked; undefined when it has none. */
export function readBooks(doc: unknown, source: string, problems: string[]): { counts: Partial<SourceCounts>; destinations: Record<string, Partial<DestinationTotals>>; updated_at: string | null; last_commit: unknown } | undefined {
  const all = (doc as { books?: unknown } | undefined)?.books;
  if (all === undefined) return undefined;
  if (all === null || typeof all !== 'object' || Array.isArray(all)) {
    problems.push(`books: not an object (${JSON.stringify(all)?.slice(0, 80)})`);
    return undefined;
  }
  const mine = (all as Record<string, unknown>)[source];
  if (mine === undefined) return undefined;
  if (mine === null || typeof mine !== 'object' || Array.isArray(mine)) {
    problems.push(`books.${source}: not an object`);
    return undefined;
  }
  const b = mine as Record<string, unknown>;
  const destinations: Record<string, Partial<DestinationTotals>> = {};
  const ds = b.destinations;
  if (ds !== undefined && (ds === null || typeof ds !== 'object' || Array.isArray(ds))) problems.push(`books.${source}.destinations: not an object`);
  else for (const [name, v] of Object.entries(ds ?? {})) destinations[name] = checkedCounts(DESTINATION_COUNTS, v, `books.${source}.destinations.${name}`, problems);
  return {
    counts: checkedCounts(SOURCE_COUNTS, b.counts, `books.${source}.counts`, problems),
    destinations,
    updated_at: typeof b.updated_at === 'string' ? b.updated_at.slice(0, 40) : null,
    last_commit: b.last_commit,
  };
}

/** What one unit adds to its source's books (as the local store counts it, store.ts recordDeliveries). */
export interface UnitBooks {
  readonly counts: SourceCounts;
  readonly destinations: Readonly<Record<string, DestinationTotals>>;
}

export function unitBooks(unit: PreparedUnit, state: SourceState | undefined, reports: readonly NamedReport[], copies: number): UnitBooks {
  const first = reports[0]?.report;
  const counts: SourceCounts = {
    units: 1,
    stored: first?.indexed ?? 0,
    duplicates: (first?.duplicates ?? 0) + copies,
    collisions: first?.collisions.length ?? 0,
    dead_letters: unit.deadLetters.length + reports.reduce((n, r) => n + r.report.rejected.length, 0),
    gaps: state?.gaps?.length ?? 0,
  };
  const destinations = Object.fromEntries(reports.map(({ destination, report: r }) => [destination, {
    acknowledged: r.indexed, duplicates: r.duplicates, collisions: r.collisions.length, refused: r.rejected.length, resent: r.resent, units: 1,
  } satisfies DestinationTotals]));
  return { counts, destinations };
}

/** Adds counts name by name; a count the document held that is not one starts again from this unit's (and is reported). */
function added<K extends string>(names: readonly K[], before: Partial<Record<K, number>>, delta: Record<K, number>): Record<K, number> {
  const out = zeros(names);
  for (const k of names) out[k] = (before[k] ?? 0) + delta[k];
  return out;
}

/**
 * The `books` field of the lease document after a unit: the document's own totals plus the unit's.
 * Returns `{}` (nothing to change) when the document already holds this very write.
 */
export function booksAfter(doc: SourceDoc, source: string, delta: UnitBooks, commitId: string, problems: string[]): { books?: Record<string, SourceBooks> } {
  const before = readBooks(doc, source, problems);
  if (before?.last_commit === commitId) return {};
  const all = (doc as { books?: unknown }).books;
  const others = all !== null && typeof all === 'object' && !Array.isArray(all) ? (all as Record<string, SourceBooks>) : {};
  const destinations: Record<string, DestinationTotals> = {};
  for (const [name, totals] of Object.entries(before?.destinations ?? {})) destinations[name] = added(DESTINATION_COUNTS, totals, zeros(DESTINATION_COUNTS));
  for (const [name, d] of Object.entries(delta.destinations)) destinations[name] = added(DESTINATION_COUNTS, before?.destinations[name] ?? {}, d);
  const mine: SourceBooks = { counts: added(SOURCE_COUNTS, before?.counts ?? {}, delta.counts), destinations, last_commit: commitId, updated_at: new Date().toISOString() };
  return { books: { ...others, [source]: mine } };
}

/** A dead letter as the engine keeps it: bytes whole up to ENGINE_WHOLE_BYTES, else their head. */
export function engineDeadLetter(source: string, d: PreparedDeadLetter, destination: string | undefined, owner: string, epoch: number): { id: string; doc: EngineDeadLetter } {
  const raw = Buffer.from(d.raw.buffer, d.raw.byteOffset, d.raw.byteLength);
  const whole = raw.length <= ENGINE_WHOLE_BYTES;
  const kept = whole ? raw : raw.subarray(0, ENGINE_HEAD_BYTES);
  const truncatedFrom = d.truncatedFrom ?? (whole ? null : raw.length);
  return {
    id: bookId(BOOK_KINDS.deadLetter, source, [d.source, d.position, d.digest, destination ?? null]),
    doc: {
      kind: BOOK_KINDS.deadLetter, source, origin: d.source, position: d.position, reason: d.reason, ...(destination === undefined ? {} : { destination }),
      raw_b64: kept.toString('base64'), raw_is_text: d.isText, digest: d.digest, truncated_from: truncatedFrom, cut_short: d.cutShort, ...(d.feed === undefined ? {} : { feed: d.feed }),
      created_at: new Date().toISOString(), owner, epoch,
    },
  };
}

/** The documents a unit adds beside its lease document: its dead letters, its destinations' collisions, its source's gaps. */
export function unitDocuments(source: string, unit: PreparedUnit, state: SourceState | undefined, reports: readonly NamedReport[], owner: string, epoch: number): { id: string; doc: { kind: string } }[] {
  const stamp = { source, owner, epoch, created_at: new Date().toISOString() };
  const key = state && 'key' in state ? state.key : unit.source;
  return [
    ...unit.deadLetters.map((d) => engineDeadLetter(source, d, undefined, owner, epoch)),
    ...reports.flatMap((r) => r.report.rejected.map((d) => engineDeadLetter(source, d, r.destination, owner, epoch))),
    ...reports.flatMap((r) => r.report.collisions.map((c) => ({
      id: bookId(BOOK_KINDS.collision, source, [c.id, c.newHash, r.destination]),
      doc: { kind: BOOK_KINDS.collision, ...stamp, destination: r.destination, id: c.id, stored_hash: c.storedHash, new_hash: c.newHash, position: c.position },
    }))),
    ...(state?.gaps ?? []).map((g) => ({
      id: bookId(BOOK_KINDS.gap, source, [key, g.fromMs, g.toMs, g.logType ?? null]),
      doc: { kind: BOOK_KINDS.gap, ...stamp, key, from_ms: g.fromMs, to_ms: g.toMs, reason: g.reason, log_type: g.logType ?? null },
    })),
  ];
}

/**
 * Where a replica writes and reads the books: the state index, through the same client as the
 * leases. Documents beside the lease documents go in one `_bulk` of `index` actions (written
 * whole, whatever was there: the same id is the same thing).
 */
export class EngineBooks {
  constructor(
    readonly client: SearchClient,
    readonly index: string,
  ) {}

  /**
   * Creates each document unless its id exists (a `_bulk` of `create` actions, stamped with the
   * unit's `commit`): returns the ids the engine created, and for each id that existed the `commit`
   * it holds (a redo meets the documents its first writing left). Nothing existing is overwritten:
   * a dead letter keeps its first writing and its replay mark.
   */
  async putAll(docs: readonly { id: string; doc: object }[], commit = ''): Promise<PutOutcome> {
    const out: PutOutcome = { created: new Set(), existing: new Map() };
    const conflicts: string[] = [];
    await this.inBulks(docs.map((d) => `${JSON.stringify({ create: { _index: this.index, _id: d.id } })}\n${JSON.stringify({ ...d.doc, commit })}\n`), (items) => {
      for (const item of items) {
        const r = item.create;
        if (r?.status === 201 && r.result === 'created' && typeof r._id === 'string') out.created.add(r._id);
        else if (r?.status === 409 && typeof r._id === 'string') conflicts.push(r._id);
        else return `${r?._id === undefined ? 'an item' : String(r._id).slice(0, 120)}: HTTP ${String(r?.status).slice(0, 10)}${typeof r?.error?.reason === 'string' ? ` ${r.error.reason.slice(0, 200)}` : ''}`;
      }
      return undefined;
    });
    for (let i = 0; i < conflicts.length; i += MGET_IDS) {
      for (const [id, commitOf] of await this.commitsOf(conflicts.slice(i, i + MGET_IDS))) out.existing.set(id, commitOf);
    }
    return out;
  }

  /** Stamps existing documents with `commit` (partial updates: the rest of each document stays). */
  async adopt(ids: readonly string[], commit: string): Promise<void> {
    if (ids.length === 0) return;
    await this.inBulks(ids.map((id) => `${JSON.stringify({ update: { _index: this.index, _id: id } })}\n${JSON.stringify({ doc: { commit } })}\n`), (items) => {
      const failed = items.find((i) => typeof i.update?.status !== 'number' || i.update.status >= 300);
      return failed ? `${String(failed.update?._id).slice(0, 120)}: HTTP ${String(failed.update?.status).slice(0, 10)}` : undefined;
    });
  }

  /** The `commit` each document holds (undefined: none, or not a string). */
  private async commitsOf(ids: readonly string[]): Promise<Map<string, string | undefined>> {
    const res = await this.client.send('POST', `/${this.index}/_mget?_source_includes=commit`, JSON.stringify({ ids }));
    const docs = (res.body as { docs?: unknown } | undefined)?.docs;
    if (res.status !== 200 || !Array.isArray(docs)) throw new MimelogError('search_engine', `state index ${this.index}: reading ${ids.length} existing documents failed: HTTP ${res.status}`);
    const out = new Map<string, string | undefined>(ids.map((id) => [id, undefined]));
    for (const d of docs as { _id?: unknown; _source?: { commit?: unknown } }[]) {
      if (typeof d?._id === 'string' && out.has(d._id)) out.set(d._id, typeof d._source?.commit === 'string' ? d._source.commit : undefined);
    }
    return out;
  }

  /**
   * Sends action lines in `_bulk` requests of about BULK_BYTES each: a unit of many large dead
   * letters in one body would pass the engine's http.max_content_length (413) every time, and its
   * source would never move on. `check` names the first item that failed, if any.
   */
  private async inBulks(lines: readonly string[], check: (items: BulkItem[]) => string | undefined): Promise<void> {
    let batch: string[] = [];
    let bytes = 0;
    const send = async () => {
      const res = await this.client.send('POST', '/_bulk', batch.join(''), 'application/x-ndjson');
      const items = (res.body as { items?: unknown } | undefined)?.items;
      const failed = res.status !== 200 ? `HTTP ${res.status}` : !Array.isArray(items) || items.length !== batch.length ? 'an answer without one item per document' : check(items as BulkItem[]);
      if (failed !== undefined) throw new MimelogError('search_engine', `state index ${this.index}: writing a unit's dead letters, collisions and gaps failed: ${failed}`);
      [batch, bytes] = [[], 0];
    };
    for (const line of lines) {
      const size = Buffer.byteLength(line);
      if (bytes > 0 && bytes + size > BULK_BYTES) await send();
      batch.push(line);
      bytes += size;
    }
    if (batch.length > 0) await send();
  }

  /** Documents of one kind (newest written first), at most `limit` from the `from`-th; the lease documents when kind is 'source'. */
  async list(kind: string, limit: number, from = 0): Promise<{ id: string; doc: unknown }[]> {
    const query = { from, size: limit, query: { term: { kind } }, sort: [{ _seq_no: 'desc' }] };
    const res = await this.client.send('POST', `/${this.index}/_search`, JSON.stringify(query));
    if (res.status === 404) return [];
    if (res.status !== 200) throw new MimelogError('search_engine', `state index ${this.index}: could not list ${kind} documents: HTTP ${res.status}`);
    const hits = (res.body as { hits?: { hits?: { _id: string; _source: unknown }[] } }).hits?.hits ?? [];
    return hits.map((h) => ({ id: h._id, doc: h._source }));
  }

  /**
   * The ids of documents of one kind in the engine's write order (`_seq_no`, oldest first), at most
   * `limit` of those written after `after` (a `_seq_no`), each with its `_seq_no`, where the next
   * page starts, and whether it was marked replayed (`replayed_at`: the listing carries that one
   * field, so a replay passes the dead letters replayed before without reading each whole).
   */
  async ids(kind: string, limit: number, after?: number): Promise<{ id: string; seqNo: number; replayed: boolean }[]> {
    const query = { size: limit, _source: ['replayed_at'], seq_no_primary_term: true, query: { term: { kind } }, sort: [{ _seq_no: 'asc' }], ...(after === undefined ? {} : { search_after: [after] }) };
    return (await this.searchHits(kind, query)).filter((h): h is { id: string; seqNo: number; replayed: boolean } => typeof h.id === 'string');
  }

  /** The `_seq_no` of the document of one kind written last; undefined when there is none. */
  async newestSeqNo(kind: string): Promise<number | undefined> {
    return (await this.searchHits(kind, { size: 1, _source: false, seq_no_primary_term: true, query: { term: { kind } }, sort: [{ _seq_no: 'desc' }] }))[0]?.seqNo;
  }

  /** The hits of a search sorted by `_seq_no`, each with its id and `_seq_no` (a hit without one is no listing to page through: an error, never a silent end). */
  private async searchHits(kind: string, query: object): Promise<{ id: unknown; seqNo: number; replayed: boolean }[]> {
    const res = await this.client.send('POST', `/${this.index}/_search`, JSON.stringify(query));
    if (res.status === 404) return [];
    if (res.status !== 200) throw new MimelogError('search_engine', `state index ${this.index}: could not list ${kind} documents: HTTP ${res.status}`);
    const body = res.body as { _shards?: { total?: unknown }; hits?: { hits?: unknown } } | undefined;
    // `_seq_no` orders one shard's writes: across shards equal numbers tie and `search_after` steps past them.
    const shards = body?._shards?.total;
    if (isCount(shards) && shards > 1) {
      throw new MimelogError('search_engine', `state index ${this.index} has ${shards} shards: its ${kind} documents are walked in write order (_seq_no), which only one shard keeps; mimelog creates it with one shard (it was made beforehand: reindex it into one with number_of_shards 1)`);
    }
    const hits = body?.hits?.hits;
    return (Array.isArray(hits) ? hits : []).map((h: { _id?: unknown; _seq_no?: unknown; sort?: unknown[]; _source?: { replayed_at?: unknown } } | null) => {
      const seqNo = h?._seq_no ?? h?.sort?.[0];
      if (!isCount(seqNo)) throw new MimelogError('search_engine', `state index ${this.index}: a listed ${kind} document carries no _seq_no (${JSON.stringify(h).slice(0, 200)})`);
      return { id: h?._id, seqNo, replayed: typeof h?._source?.replayed_at === 'string' };
    });
  }

  /** Makes what was written visible to `list` (tests; `stats` reads real-time documents by search). */
  async refresh(): Promise<void> {
    await this.client.send('POST', `/${this.index}/_refresh`);
  }
}

/**
 * Names a unit by what it is, not by when it was written: where it was read (origin, position),
 * its first and last event ids and sizes, and the checkpoint it moves to. The same unit written
 * again is recognised (`last_commit`) and not counted twice, whether its first answer was lost or
 * a replica starts one unit back after a crash (leases.ts `previous`) and reads it once more.
 */
export function unitCommitId(source: string, unit: PreparedUnit, checkpoints: Parameters<HeldLease['commit']>[0]): string {
  const moves = Object.entries(checkpoints).map(([key, c]) => [key, c.position, c.cursor]);
  const what = [source, unit.source, unit.position, unit.idSpan.count, unit.idSpan.first, unit.idSpan.last, unit.deadLetters.length, moves];
  return createHash('sha256').update(JSON.stringify(what)).digest('base64url').slice(0, 22);
}

/** The same id twice in one unit (two refusals of one record) is one document, counted once. */
const distinct = <T extends { id: string }>(docs: readonly T[]): T[] => [...new Map(docs.map((d) => [d.id, d])).values()];

/**
 * A unit's commit into the engine: its documents first, then its checkpoints and counts in one
 * conditional write under the lease (refused: nothing counted). `warn` hears of counts in the
 * document that were not believed (they start again from this unit's).
 *
 * Dead letters and gaps are counted from what the engine answers, not from what the unit holds:
 * a document is counted when this write created it, or when it existed but the unit that wrote it
 * never reached the books (its `commit` is not the source's `last_commit`: that owner died before
 * its fenced write). A unit read again after a crash and cut differently (a stream page that grew)
 * meets the documents of the unit already counted (their `commit` is `last_commit`) and adds only
 * what is new. The documents not yet counted are stamped with this unit's commit first, so a
 * fenced write that fails leaves them to be counted by the next.
 */
export async function commitUnitBooks(
  lease: HeldLease, books: EngineBooks, source: string,
  unit: PreparedUnit, state: SourceState | undefined, reports: readonly NamedReport[], copies: number,
  checkpoints: Parameters<HeldLease['commit']>[0], warn: (problems: string[]) => void,
): Promise<void> {
  const commitId = unitCommitId(source, unit, checkpoints);
  const docs = distinct(unitDocuments(source, unit, state, reports, lease.doc.owner ?? '', lease.epoch));
  const written = await books.putAll(docs, commitId);
  const counted = readBooks(lease.doc, source, [])?.last_commit;
  const uncounted = [...written.existing].filter(([, commit]) => commit !== counted).map(([id]) => id);
  // Only the owner may re-stamp: a stale one (its lease taken over) knows an old last_commit and
  // would mark documents the new owner counted as not counted, to be counted again by a redo. The
  // renewal is a conditional write: refused (LeaseLost) for a stale owner, and nothing is stamped.
  if (uncounted.length > 0) await lease.renew();
  await books.adopt(uncounted, commitId);
  const news = new Set([...written.created, ...uncounted]);
  const newOf = (kind: string) => docs.filter((d) => d.doc.kind === kind && news.has(d.id)).length;
  const held = unitBooks(unit, state, reports, copies);
  const delta: UnitBooks = { ...held, counts: { ...held.counts, dead_letters: newOf(BOOK_KINDS.deadLetter), gaps: newOf(BOOK_KINDS.gap) } };
  await lease.commit(checkpoints, (doc) => {
    const problems: string[] = [];
    const change = booksAfter(doc, source, delta, commitId, problems);
    if (problems.length > 0) warn(problems);
    return change;
  });
}
