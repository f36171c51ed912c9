/** Read-side of the store: stats, search, export. Indexed queries only on the hot paths. */
import { type HandoverJson, withHandover } from './handover.js';
import { decodeText } from '../decode/text.js';
import { bareMessageId, idBytes, textKey } from './documents.js';
import { EVENT_BY_ID, type EventRow, EventReader, type KeyedTexts, STORED_COLUMNS, type StoredRow, byId, hasKeyedText } from './event-rows.js';
import type { DamagedBlocks } from './record-blocks.js';
import type Database from 'better-sqlite3';
import { bytesInUse } from './retention.js';
import type { ApiStream, DestinationCounts } from './registry.js';
import type { Store } from './store.js';

export interface StatsReport {
  /** Events in the embedded store. */
  events: number;
  /** Events the first destination outside the store acknowledged, when the store keeps none (it keeps the destinations' bookkeeping). */
  indexed: number;
  /** Per destination outside the store: what it acknowledged, recognised as held, refused and had sent again. */
  destinations: DestinationCounts[];
  by_type: Record<string, number>;
  by_type_source: Record<string, number>;
  by_day: Record<string, number>;
  duplicates: number;
  collisions: number;
  dead_letters: number;
  unknown: number;
  schema_drift_keys: Record<string, number>;
  checkpoints: { source: string; position: number; complete: boolean; cursor: string | null; updated_at: string }[];
  /** Per API stream (an API 2.0 type, the stream, an API 1.0 account): its work queue, lag and whether it is caught up. */
  api_streams: ApiStream[];
  /** Intervals whose events aged out at Mimecast before they were collected, oldest first. */
  gaps: Gap[];
  /** The store on disk: its size, how far back it reaches, and what retention removed. */
  store: StoreReach;
  /** The hand-over from API 1.0 to API 2.0, per log type, once one was started (store/handover.ts). */
  handover?: HandoverJson;
}

export interface StoreReach {
  /** Bytes in use (the file's pages less its free ones). */
  bytes: number;
  /** The oldest and newest event held (ISO), null when empty. */
  oldest_event: string | null;
  newest_event: string | null;
  /** Bytes per day and per log type, estimated from their share of the events (rows differ little in size). */
  approx_bytes_by_day: Record<string, number>;
  approx_bytes_by_type: Record<string, number>;
  /** Events removed by retention, ever, and the last pass (its time and cutoff). */
  retention_removed: number;
  last_retention: { ran_at: string; cutoff: string; events_removed: number } | null;
}

export interface Gap {
  source: string;
  /** The one log type whose events are missing; null: every type of the source. */
  log_type: string | null;
  /** The newest event stored before the gap and the oldest one held after it (both exclusive). */
  from: string;
  to: string;
  lost_seconds: number;
  reason: string;
  recorded_at: string;
}

export function gaps(db: Database.Database): Gap[] {
  return (db.prepare('SELECT source, log_type, from_ms, to_ms, reason, recorded_at FROM gaps ORDER BY from_ms, rowid').all() as
    { source: string; log_type: string | null; from_ms: number; to_ms: number; reason: string; recorded_at: number }[]).map((g) => ({
    source: g.source, log_type: g.log_type, from: new Date(g.from_ms).toISOString(), to: new Date(g.to_ms).toISOString(), lost_seconds: Math.round((g.to_ms - g.from_ms) / 1000),
    reason: g.reason, recorded_at: new Date(g.recorded_at).toISOString(),
  }));
}

export type CheckpointReport = StatsReport['checkpoints'][number];

/** Checkpoints as reports, in the order (and with the limit) `tail` says. */
export function checkpointRows(db: Database.Database, tail: string, ...params: unknown[]): CheckpointReport[] {
  return (db.prepare(`SELECT source, position, complete, cursor, updated_at FROM checkpoints ${tail}`).all(...params) as
    { source: string; position: number; complete: number; cursor: string | null; updated_at: number }[])
    .map((c) => ({ source: c.source, position: c.position, complete: c.complete === 1, cursor: c.cursor, updated_at: new Date(c.updated_at).toISOString() }));
}

function toRecord(rows: { k: string | number; n: number }[]): Record<string, number> {
  return Object.fromEntries(rows.map((r) => [String(r.k), r.n]));
}

/** `checkpoints: false` leaves the checkpoint list empty (the console summarises it instead: a spool may have 100,000s). */
export function stats(store: Store, options: { checkpoints?: boolean } = {}): StatsReport {
  const db = store.db;
  const all = <T>(sql: string, ...params: unknown[]) => db.prepare(sql).all(...params) as T[];
  // From the per-hour counts the store keeps with every unit: a few rows, whatever the store's size.
  const byType = toRecord(all('SELECT log_type AS k, sum(events) AS n FROM event_counts GROUP BY log_type ORDER BY log_type'));
  const byDay = toRecord(all(`SELECT strftime('%Y-%m-%d', hour * 3600, 'unixepoch') AS k, sum(events) AS n FROM event_counts GROUP BY k ORDER BY min(hour)`));
  return {
    events: Object.values(byType).reduce((a, b) => a + b, 0),
    indexed: store.registry.counter('indexed'),
    destinations: store.registry.destinations(),
    by_type: byType,
    by_type_source: toRecord(all('SELECT type_source AS k, sum(events) AS n FROM event_counts GROUP BY type_source ORDER BY 1')),
    by_day: byDay,
    duplicates: store.registry.counter('duplicates'),
    collisions: (db.prepare('SELECT count(*) AS n FROM collisions').get() as { n: number }).n,
    dead_letters: (db.prepare('SELECT count(*) AS n FROM dead_letters').get() as { n: number }).n,
    unknown: byType.unknown ?? 0,
    schema_drift_keys: toRecord(all('SELECT key AS k, count AS n FROM drift_keys ORDER BY key')),
    checkpoints: options.checkpoints === false ? [] : checkpointRows(db, 'ORDER BY source'),
    api_streams: store.registry.apiStreams(),
    gaps: gaps(db),
    store: storeReach(store, byType, byDay),
    ...withHandover(db),
  };
}

function storeReach(store: Store, byType: Record<string, number>, byDay: Record<string, number>): StoreReach {
  const db = store.db;
  const bytes = bytesInUse(db);
  // Two queries: SQLite reads one end of the time index for a lone min() or max(), but scans every row for both at once.
  const span = {
    oldest: db.prepare('SELECT min(ts) FROM events').pluck().get() as number | null,
    newest: db.prepare('SELECT max(ts) FROM events').pluck().get() as number | null,
  };
  const total = Object.values(byType).reduce((a, b) => a + b, 0);
  const share = (n: number) => (total === 0 ? 0 : Math.round((bytes * n) / total));
  const last = db.prepare('SELECT ran_at, cutoff_ms, events_removed FROM retention_passes ORDER BY rowid DESC LIMIT 1').get() as
    | { ran_at: number; cutoff_ms: number; events_removed: number } | undefined;
  return {
    bytes,
    oldest_event: span.oldest === null ? null : new Date(span.oldest).toISOString(),
    newest_event: span.newest === null ? null : new Date(span.newest).toISOString(),
    approx_bytes_by_day: Object.fromEntries(Object.entries(byDay).map(([day, n]) => [day, share(n)])),
    approx_bytes_by_type: Object.fromEntries(Object.entries(byType).map(([k, n]) => [k, share(n)])),
    retention_removed: store.registry.counter('retention_removed'),
    last_retention: last ? { ran_at: storedTime(last.ran_at), cutoff: storedTime(last.cutoff_ms), events_removed: last.events_removed } : null,
  };
}

/** A time read back from the store as ISO 8601; one no date can hold (an older mimelog wrote it) as its number, so a report never fails on it. */
function storedTime(ms: number): string {
  return Number.isFinite(ms) && Math.abs(ms) <= 8.64e15 ? new Date(ms).toISOString() : `not a date (${ms} ms)`;
}

export interface SearchFilter {
  from?: number;
  to?: number;
  type?: string;
  address?: string;
  messageId?: string;
  acode?: string;
  action?: string;
  text?: string;
  limit?: number;
  /** Paging: only events older than this one in the newest-first order (its time and rowid). */
  before?: { ts: number; rowid: number };
}

export type { EventRow } from './event-rows.js';

/** FTS5 query from user words: each word quoted, so punctuation is never query syntax. */
export function ftsQuery(text: string): string {
  return text.split(/\s+/).filter(Boolean).map((w) => `"${w.replace(/"/g, '""')}"`).join(' ');
}

function where(filter: SearchFilter): { sql: string; params: unknown[] } {
  const clauses: string[] = [];
  const params: unknown[] = [];
  const add = (clause: string, ...values: unknown[]) => {
    clauses.push(clause);
    params.push(...values);
  };
  if (filter.from !== undefined) add('e.ts >= ?', filter.from);
  if (filter.to !== undefined) add('e.ts < ?', filter.to);
  if (filter.type) add('e.type = (SELECT code FROM names WHERE name = ?)', filter.type);
  if (filter.acode) add('e.acode_key = ?', textKey('acode', filter.acode));
  if (filter.action) add('e.action = (SELECT code FROM names WHERE name = ?)', filter.action);
  if (filter.messageId) add('e.message_key = ?', textKey('message-id', bareMessageId(filter.messageId)));
  if (filter.address) add('e.rowid IN (SELECT event FROM event_addresses WHERE address = (SELECT code FROM addresses WHERE address = ?))', filter.address);
  if (filter.text) add('e.rowid IN (SELECT rowid FROM events_fts WHERE events_fts MATCH ?)', ftsQuery(filter.text));
  if (filter.before) add('(e.ts < ? OR (e.ts = ? AND e.rowid < ?))', filter.before.ts, filter.before.ts, filter.before.rowid);
  return { sql: clauses.length ? `WHERE ${clauses.join(' AND ')}` : '', params };
}

/**
 * Up to this many events whose subjects hold the words are put in time order exactly. Beyond it,
 * sorting would read every match's row (seconds at 10M events), so the most recently stored ones
 * come first instead: the full-text index yields them in that order and the search stops at the
 * limit. For a collector, stored order is time order; a backfill stores older events later.
 */
export const EXACT_TEXT_MATCHES = 20_000;

/** Newest first. Given `damaged`, events whose record block is damaged are left out and noted there. */
export function search(db: Database.Database, filter: SearchFilter, damaged?: DamagedBlocks): EventRow[] {
  const reader = new EventReader(db, damaged);
  const limit = filter.limit ?? 50;
  // A message id, aCode or address narrows the events more than the words: the plain query is quick then.
  if (filter.text && !filter.messageId && !filter.acode && !filter.address) {
    const words = ftsQuery(filter.text);
    const matches = db.prepare('SELECT count(*) FROM events_fts WHERE events_fts MATCH ?').pluck().get(words) as number;
    if (matches > EXACT_TEXT_MATCHES) {
      const w = where({ ...filter, text: undefined, before: undefined });
      const more = [...(w.sql ? [w.sql.slice('WHERE '.length)] : []), ...(filter.before ? ['e.rowid < ?'] : [])];
      const rows = db.prepare(`SELECT ${STORED_COLUMNS} FROM events_fts f JOIN events e ON e.rowid = f.rowid WHERE f.events_fts MATCH ?
        ${more.map((c) => `AND ${c}`).join(' ')} ORDER BY f.rowid DESC LIMIT ?`).all(words, ...w.params, ...(filter.before ? [filter.before.rowid] : []), limit) as StoredRow[];
      return reader.rows(rows);
    }
  }
  const pageOf = (before: SearchFilter['before'], n: number) => {
    const w = where({ ...filter, before });
    return db.prepare(`SELECT ${STORED_COLUMNS} FROM events e ${w.sql} ORDER BY e.ts DESC, e.rowid DESC LIMIT ?`).all(...w.params, n) as StoredRow[];
  };
  const keep = keyedTextCheck(filter);
  if (!keep || limit <= 0) return reader.rows(pageOf(filter.before, limit));
  // A narrow key also finds, now and then, events of another aCode or message id: those are dropped,
  // and the search reads on after the last row read, so a full page still means there may be more.
  // Every read sorts all the key's events (their index has no time), so each reads twice the rows of
  // the one before (up to READ_ON_ROWS): a key a flood of other texts shares costs a few reads, not
  // one per page; and only the rows needed are rebuilt.
  const out: EventRow[] = [];
  let before = filter.before;
  for (let want = limit; ; want = Math.min(2 * want, READ_ON_ROWS)) {
    const rows = pageOf(before, want);
    for (const row of rows) {
      out.push(...reader.rows([row]).filter(keep));
      if (out.length === limit) return out;
    }
    const last = rows[rows.length - 1];
    if (last === undefined || rows.length < want) return out;
    before = { ts: last.ts, rowid: last.rowid };
  }
}

/** Rows a search by a narrow key reads at most at once, reading on past events of another text (memory stays bounded). */
const READ_ON_ROWS = 8192;

/**
 * Whether an event holds the aCode and message id the filter asks for: their keys are narrow
 * (documents.ts KEY_BITS), so every reader by them compares the text (event-rows.ts hasKeyedText).
 */
function keyedTextCheck(filter: SearchFilter): ((row: KeyedTexts) => boolean) | undefined {
  const keeps = [filter.acode && hasKeyedText('acode', filter.acode), filter.messageId && hasKeyedText('message-id', filter.messageId)].filter((k) => !!k);
  return keeps.length === 0 ? undefined : (row) => keeps.every((k) => k(row));
}

/** One stored event by its id: the ECS document with event.original put back, and the original record. */
export function eventById(db: Database.Database, id: string): { doc: string; original: string } | undefined {
  const key = idBytes(id);
  const row = key && (db.prepare(`SELECT ${STORED_COLUMNS} FROM events e WHERE ${EVENT_BY_ID}`).get(...byId(key)) as StoredRow | undefined);
  if (!row) return undefined;
  const event = new EventReader(db).rebuild(row);
  return { doc: withOriginal(event.doc, event.record.raw), original: event.record.raw };
}

function withOriginal(doc: Record<string, any>, original: string): string {
  doc.event.original = original;
  return JSON.stringify(doc);
}

/**
 * Streams stored documents in time order, with event.original put back unless asked not to.
 * Given `damaged`, events whose record block is damaged are left out and noted there.
 */
export function* exportDocuments(db: Database.Database, filter: SearchFilter, includeOriginal: boolean, damaged?: DamagedBlocks): Generator<string> {
  const reader = new EventReader(db, damaged);
  const keep = keyedTextCheck(filter);
  const w = where(filter);
  for (const rows of SORTED_BY_INDEX.some((k) => filter[k]) ? pagesSortedOnce(db, w) : pagesInTimeOrder(db, w)) {
    for (const row of rows) {
      const event = reader.rebuildOrSkip(row);
      if (event && (!keep || keep({ acode: event.fields.acode, message_id: event.fields.messageId, subject: event.fields.subject }))) {
        yield includeOriginal ? withOriginal(event.doc, event.record.raw) : event.docText;
      }
    }
  }
}

const EXPORT_PAGE = 1000;

/** The events `w` selects in (ts, rowid) order, a page at a time after the last row read: the connection stays free between pages, and rebuilding needs it. */
function* pagesInTimeOrder(db: Database.Database, w: { sql: string; params: unknown[] }): Generator<StoredRow[]> {
  const page = db.prepare(`SELECT ${STORED_COLUMNS} FROM events e ${w.sql ? `${w.sql} AND` : 'WHERE'} (e.ts > ? OR (e.ts = ? AND e.rowid > ?)) ORDER BY e.ts, e.rowid LIMIT ?`);
  for (let after = { ts: Number.MIN_SAFE_INTEGER, rowid: 0 }; ;) {
    const rows = page.all(...w.params, after.ts, after.ts, after.rowid, EXPORT_PAGE) as StoredRow[];
    yield rows;
    if (rows.length < EXPORT_PAGE) return;
    after = { ts: rows[rows.length - 1]!.ts, rowid: rows[rows.length - 1]!.rowid };
  }
}

/**
 * The filters whose events are found through an index without their time (a narrow key, an
 * address, words): a page by (ts, rowid) would sort all their events again for each page of 1,000
 * (a key or an address 100,000 events share: 100 sorts of 100,000).
 */
const SORTED_BY_INDEX = ['acode', 'messageId', 'address', 'text'] as const satisfies readonly (keyof SearchFilter)[];

/** Numbers the temporary tables of exports in progress on one connection (one may start while another is read). */
let exportsSortedOnce = 0;

/**
 * The same, for a filter of SORTED_BY_INDEX: the events' (ts, rowid) are sorted once into a
 * temporary table ordered by them (SQLite's temporary store, on disk past its cache: memory stays
 * bounded under a flood on one key), then read a page at a time in that order. An event removed
 * meanwhile (retention) is skipped; one stored meanwhile is not in this export, even under the
 * rowid of one removed.
 */
function* pagesSortedOnce(db: Database.Database, w: { sql: string; params: unknown[] }): Generator<StoredRow[]> {
  const order = `temp.export_order_${++exportsSortedOnce}`;
  // With each event's id: a rowid removed meanwhile (retention) is given to the next event stored, which this export did not select.
  db.exec(`CREATE TABLE ${order} (ts INTEGER NOT NULL, event INTEGER NOT NULL, id BLOB NOT NULL, PRIMARY KEY (ts, event)) WITHOUT ROWID`);
  try {
    db.prepare(`INSERT INTO ${order} (ts, event, id) SELECT e.ts, e.rowid, e.id FROM events e ${w.sql} ORDER BY e.ts, e.rowid`).run(...w.params);
    // Paged by the table's own rows, so a page whose events were all removed meanwhile does not end the export.
    const page = db.prepare(`SELECT o.ts AS o_ts, o.event AS o_event, ${STORED_COLUMNS} FROM ${order} o LEFT JOIN events e ON e.rowid = o.event AND e.id = o.id
      WHERE (o.ts, o.event) > (?, ?) ORDER BY o.ts, o.event LIMIT ?`);
    for (let after = [Number.MIN_SAFE_INTEGER, 0]; ;) {
      const rows = page.all(...after, EXPORT_PAGE) as (StoredRow & { o_ts: number; o_event: number })[];
      yield rows.filter((r) => r.rowid !== null);
      if (rows.length < EXPORT_PAGE) return;
      after = [rows[rows.length - 1]!.o_ts, rows[rows.length - 1]!.o_event];
    }
  } finally {
    db.exec(`DROP TABLE IF EXISTS ${order}`);
  }
}

export interface DeadLetterRow {
  rowid: number;
  source: string;
  position: number;
  reason: string;
  created_at: string;
  replay_attempts: number;
  /** The record's length when only its head was kept. */
  truncated_from: number | null;
  cut_short: boolean;
  /** The API feed it came from (replay reads it as that feed's records); null for others. */
  feed: string | null;
  /** The kept bytes as text (invalid UTF-8 as escapes), at most `previewBytes` of them. */
  raw: string;
  raw_bytes: number;
  /** True when `raw` shows only the first `previewBytes`. */
  raw_cut: boolean;
}

/** Dead letters, newest first, a page at a time (`beforeRowid` from the previous page's last row). */
export function deadLetters(db: Database.Database, options: { limit: number; beforeRowid?: number; previewBytes?: number }): DeadLetterRow[] {
  const preview = options.previewBytes ?? 4096;
  const rows = db.prepare(`SELECT rowid, source, position, reason, created_at, replay_attempts, truncated_from, cut_short, feed, substr(raw, 1, ?) AS head, length(raw) AS raw_bytes
    FROM dead_letters WHERE rowid < ? ORDER BY rowid DESC LIMIT ?`).all(preview, options.beforeRowid ?? Number.MAX_SAFE_INTEGER, options.limit) as
    { rowid: number; source: string; position: number; reason: string; created_at: number; replay_attempts: number; truncated_from: number | null; cut_short: number; feed: string | null; head: Buffer | string; raw_bytes: number }[];
  return rows.map(({ head, created_at, cut_short, ...r }) => ({ ...r, created_at: new Date(created_at).toISOString(), cut_short: cut_short === 1, raw: typeof head === 'string' ? head : decodeText(head), raw_cut: r.raw_bytes > preview }));
}
