/**
 * One event, stored once, whichever API served it (issue 27; fingerprint/cross-version.ts).
 *
 * `cross_ids` holds one row per copy met: each stored event (by its events rowid, schema 18), and
 * each copy from the other API recognised as the same event (never stored, counted as a duplicate;
 * by a tag from its id, `idTag`), as each event a remote sink delivered. A copy
 * whose id has no row yet is decided by count, under its cross-version key: with `same` copies
 * from its own API and `other` from the other API already met, the key stands for max(same, other)
 * distinct events; the new copy is one more of them (stored) unless its API is behind
 * (same < other: it is a copy of an event already stored). Then its row is recorded, so reading
 * it again is a duplicate by id. Two lines of one API never pair with each other, so distinct
 * events never merge; and whatever the order (API 1.0 first or API 2.0 first, batch and stream
 * in any mix) the key ends with max(copies per API) events.
 */
import type Database from 'better-sqlite3';
import type { DecodeResult } from '../decode/record.js';
import { crossIdentity } from '../fingerprint/cross-version.js';
import type { Unit } from '../core/unit.js';
import { isTrustedTime } from '../core/trusted-time.js';
import { decodeStored, hashDigest, idText, storedId } from './documents.js';
import type { StoredRecord } from './record-blocks.js';
import { EVENT_BY_ID, blockLoader } from './event-rows.js';

export interface CrossCandidate {
  readonly id: string;
  /** The id's stored form, when the caller made it already (store/prepared.ts). */
  readonly idKey?: Uint8Array;
  readonly digest: bigint;
  readonly logType: string;
  /** The event's own time (ms): API 1.0's newest and API 2.0's oldest per type say where the hand-over is (sources/handover.ts). */
  readonly ts: number;
  readonly cross?: { readonly api: 'v1' | 'v2'; readonly key: string };
}

export interface CrossRow {
  readonly id: string;
  readonly idKey?: Uint8Array;
  readonly key: string;
  readonly api: 1 | 2;
  readonly digest: bigint;
  /** A copy recognised as the duplicate of a stored event (its id is looked up by itself: `cross_copies`). */
  readonly copy: boolean;
  readonly logType: string;
  readonly ts: number;
}

export interface CrossDecision {
  /** A copy of an event already stored (from the other API, or this id read again). */
  readonly copy: boolean;
  /** The row to record for it (none when its id has one already). */
  readonly row?: CrossRow;
}

/** Rows decided but not committed yet (a remote sink decides a unit before the previous one committed). */
export class PendingCrossRows {
  private readonly byId = new Map<string, bigint>();
  private readonly byKey = new Map<string, [number, number]>();

  add(row: CrossRow): void {
    this.byId.set(row.id, row.digest);
    const n = this.byKey.get(row.key) ?? [0, 0];
    n[row.api - 1]!++;
    this.byKey.set(row.key, n);
  }

  remove(row: CrossRow): void {
    this.byId.delete(row.id);
    const n = this.byKey.get(row.key);
    if (!n) return;
    n[row.api - 1]!--;
    if (n[0] === 0 && n[1] === 0) this.byKey.delete(row.key);
  }

  digestOf(id: string): bigint | undefined {
    return this.byId.get(id);
  }

  counts(key: string): readonly [number, number] {
    return this.byKey.get(key) ?? [0, 0];
  }
}

const NONE = new PendingCrossRows();

/**
 * A cross-version key as `cross_ids` keeps it (schema 15 on): its first 96 bits. Keys that
 * shared them would make a distinct event of the other API look like a copy (and not be sent),
 * so the bits must make that negligible: about n₁·n₂/2⁹⁶, 10⁻¹⁵ for 10 million events on each
 * side (64 bits would give 5·10⁻⁶). The table, one row per stored event, is 4 bytes a row smaller
 * than with the 128 bits kept before.
 */
export function storedCrossKey(key: string): Buffer {
  return Buffer.from(crossKeyHex(key), 'hex');
}

/** The stored cross-version key's bytes as hex (a key is lower-case hex from the fingerprint). */
function crossKeyHex(key: string): string {
  return key.slice(0, 24);
}

/** The stored id's bytes as lower-case hex: the id itself for an event.id (see storedId). */
function storedIdHex(id: string): string {
  return /^[0-9a-f]{32}$/.test(id) ? id : Buffer.from(id, 'utf8').toString('hex');
}

/**
 * What `cross_ids` keeps of an id met without an events row (a copy, or an event a remote sink
 * delivered): a negative 63-bit number from the id's first 62 bits, so it never equals an events
 * rowid (positive). Only the `own` look compares it, and only among the rows of one key and API,
 * so 62 bits leave two distinct ids there the same tag at about k²/2⁶³ for k copies of one key.
 */
export function idTag(idKey: Uint8Array): bigint {
  return -1n - (Buffer.from(idKey.buffer, idKey.byteOffset, 8).readBigUInt64BE(0) >> 2n);
}

/** The tag of an event's row: its events rowid when the store keeps it, else its id's tag. */
function rowTag(row: CrossRow, event: number | undefined): bigint {
  return event !== undefined ? BigInt(event) : idTag(row.idKey ?? storedId(row.id));
}

interface KeyCounts {
  readonly v1: number;
  readonly v2: number;
  /** 1 when the id is among the key's rows of its own API. */
  readonly own: number;
}

/** Where a decision reads what is stored: a statement per look (decide) or rows read for a whole unit (decideAll). */
interface StoredLooks {
  /** The digest of the event's id when it is a recorded copy, else undefined. */
  copyDigest(e: CrossCandidate): bigint | undefined;
  keyRows(e: CrossCandidate, api: 1 | 2): KeyCounts;
  /** The id's stored form when the looks made it (kept in the row, so recording does not make it again). */
  readonly idKey?: Uint8Array;
}

/** The decision for one event (see the top of this file), from what is stored and what is pending. */
function decideWith(e: CrossCandidate, pending: PendingCrossRows, stored: StoredLooks): CrossDecision {
  if (!e.cross) return { copy: false };
  const pendingDigest = pending.digestOf(e.id);
  if (pendingDigest !== undefined) return { copy: pendingDigest === e.digest };
  const api = e.cross.api === 'v1' ? 1 : 2;
  const known = stored.copyDigest(e);
  // An id met before with other content: a new event, kept (never dropped as a copy).
  if (known !== undefined) return { copy: known === e.digest };
  const rows = stored.keyRows(e, api);
  // Met before as an event of its own (a remote sink has no events table): delivered already.
  if (rows.own === 1) return { copy: true };
  const waiting = pending.counts(e.cross.key);
  const counts = [rows.v1 + waiting[0], rows.v2 + waiting[1]];
  const copy = counts[api - 1]! < counts[2 - api]!;
  return { copy, row: { id: e.id, idKey: stored.idKey, key: e.cross.key, api, digest: e.digest, copy, logType: e.logType, ts: e.ts } };
}

/** A key's rows read for a unit: how many copies each API served, and which (`api:tag`). */
interface KeyRows {
  v1: number;
  v2: number;
  readonly ids: Set<string>;
}
const NO_ROWS: KeyCounts = { v1: 0, v2: 0, own: 0 };

export class CrossVersionIndex {
  private readonly copyDigest: Database.Statement;
  private readonly keyRows: Database.Statement;
  private readonly insertCopy: Database.Statement;
  private readonly insertMet: Database.Statement;
  private readonly widenSpan: Database.Statement;
  private readonly copiesOf: Database.Statement;
  private readonly rowsOfKeys: Database.Statement;

  constructor(db: Database.Database) {
    this.copyDigest = db.prepare('SELECT digest FROM cross_copies WHERE id = ?').pluck().safeIntegers(true);
    // One look at the key's rows: how many copies each API served, and whether this id is one of them (by its tag).
    this.keyRows = db.prepare('SELECT coalesce(sum(api = 1), 0) AS v1, coalesce(sum(api = 2), 0) AS v2, coalesce(max(api = ? AND event = ?), 0) AS own FROM cross_ids WHERE key = ?');
    // The same two looks for a whole unit: ids and keys given as a JSON array of their hex, answered in hex (tags as decimal text).
    this.copiesOf = db.prepare('SELECT lower(hex(id)), digest FROM cross_copies WHERE id IN (SELECT unhex(value) FROM json_each(?))').raw(true).safeIntegers(true);
    this.rowsOfKeys = db.prepare("SELECT lower(hex(key)), api || ':' || event FROM cross_ids WHERE key IN (SELECT unhex(value) FROM json_each(?))").raw(true);
    this.insertCopy = db.prepare('INSERT OR IGNORE INTO cross_copies (id, digest) VALUES (?, ?)');
    this.insertMet = db.prepare('INSERT OR IGNORE INTO cross_ids (key, api, event) VALUES (?, ?, ?)');
    this.widenSpan = db.prepare(WIDEN_SPAN);
  }

  /** For an event whose id is not stored: a copy of a stored event, or a new one (with the row to record). */
  decide(e: CrossCandidate, pending: PendingCrossRows = NONE): CrossDecision {
    if (!e.cross) return { copy: false };
    const idKey = e.idKey ?? storedId(e.id);
    return decideWith(e, pending, {
      idKey,
      copyDigest: () => this.copyDigest.get(idKey) as bigint | undefined,
      keyRows: (c, api) => this.keyRows.get(api, idTag(idKey), storedCrossKey(c.cross!.key)) as KeyCounts,
    });
  }

  /**
   * The decisions for a unit's events, in order, the same as `decide` one by one (each row joins
   * `pending` as it is made, so a later event of the unit counts it): the stored rows of all
   * their ids and keys are read by two statements for the unit, not two per event, and matched
   * by their hex text.
   */
  decideAll(events: readonly CrossCandidate[], pending: PendingCrossRows): CrossDecision[] {
    const crossed = events.filter((e) => e.cross !== undefined);
    const copies = new Map<string, bigint>();
    const keys = new Map<string, KeyRows>();
    if (crossed.length > 0) {
      const ids = crossed.map((e) => storedIdHex(e.id));
      for (const [id, digest] of this.copiesOf.all(JSON.stringify(ids)) as [string, bigint][]) copies.set(id, digest);
      for (const [key, apiId] of this.rowsOfKeys.all(JSON.stringify(crossed.map((e) => crossKeyHex(e.cross!.key)))) as [string, string][]) {
        let rows = keys.get(key);
        if (!rows) keys.set(key, (rows = { v1: 0, v2: 0, ids: new Set() }));
        if (apiId.startsWith('1')) rows.v1++;
        else rows.v2++;
        rows.ids.add(apiId);
      }
    }
    const looks: StoredLooks = {
      copyDigest: (e) => (copies.size === 0 ? undefined : copies.get(storedIdHex(e.id))),
      keyRows: (e, api) => {
        const rows = keys.get(crossKeyHex(e.cross!.key));
        return rows ? { v1: rows.v1, v2: rows.v2, own: rows.ids.has(`${api}:${idTag(e.idKey ?? storedId(e.id))}`) ? 1 : 0 } : NO_ROWS;
      },
    };
    return events.map((e) => {
      const decision = decideWith(e, pending, looks);
      if (decision.row) pending.add(decision.row);
      return decision;
    });
  }

  /**
   * Records the row now (the next decision in the transaction counts it); its time widens `spans`,
   * written by `widen`. `event`: the events rowid the store gave the event, when it keeps it.
   */
  record(row: CrossRow, spans: CrossSpans, event?: number): void {
    this.insertMet.run(storedCrossKey(row.key), row.api, rowTag(row, event));
    if (row.copy) this.insertCopy.run(row.idKey ?? storedId(row.id), row.digest);
    spans.add(row);
  }

  /** The spans of the rows recorded, once per API and log type, in the same transaction. */
  widen(spans: CrossSpans): void {
    for (const s of spans.all()) this.widenSpan.run(s.api, s.logType, s.oldest, s.newest);
  }
}

/** The oldest and newest time per API and log type of the rows one transaction records: one upsert each at its end, instead of one per event. */
export class CrossSpans {
  private readonly spans = new Map<string, { api: number; logType: string; oldest: number; newest: number }>();
  private readonly now = Date.now();

  add(row: CrossRow): void {
    // Only believable times say where an API's data begins and ends (core/trusted-time.ts).
    if (!isTrustedTime(row.ts, this.now)) return;
    const key = `${row.api} ${row.logType}`;
    const span = this.spans.get(key);
    if (span) {
      span.oldest = Math.min(span.oldest, row.ts);
      span.newest = Math.max(span.newest, row.ts);
    } else this.spans.set(key, { api: row.api, logType: row.logType, oldest: row.ts, newest: row.ts });
  }

  all(): IterableIterator<{ api: number; logType: string; oldest: number; newest: number }> {
    return this.spans.values();
  }
}

const WIDEN_SPAN = `INSERT INTO cross_spans (api, log_type, oldest_ms, newest_ms) VALUES (?, ?, ?, ?)
  ON CONFLICT (api, log_type) DO UPDATE SET oldest_ms = min(oldest_ms, excluded.oldest_ms), newest_ms = max(newest_ms, excluded.newest_ms)`;

/** Schema 13's tables (cross_ids as 13 made it: schema 15 cut its keys, 18 keeps rowids and tags instead of ids; see crossIdsByEvent). */
const CROSS_IDS_TABLE = `
  CREATE TABLE IF NOT EXISTS cross_ids (
    key BLOB NOT NULL,                 -- cross-version key (16 bytes; fingerprint/cross-version.ts)
    api INTEGER NOT NULL,              -- 1: API 1.0 shape, 2: API 2.0 shape
    id BLOB NOT NULL,                  -- event.id of a copy met: a stored event's own, or a copy recognised as its duplicate
    PRIMARY KEY (key, api, id)
  ) WITHOUT ROWID;
  CREATE TABLE IF NOT EXISTS cross_copies (
    id BLOB PRIMARY KEY,               -- event.id of a copy recognised as the duplicate of a stored event (never stored itself)
    digest INTEGER NOT NULL            -- first 64 bits of its event.hash
  ) WITHOUT ROWID;
  CREATE TABLE IF NOT EXISTS cross_spans (
    api INTEGER NOT NULL,              -- 1 or 2
    log_type TEXT NOT NULL,
    oldest_ms INTEGER NOT NULL,        -- the oldest and newest event of the type met through that API (copies included)
    newest_ms INTEGER NOT NULL,
    PRIMARY KEY (api, log_type)
  ) WITHOUT ROWID;
`;

/** A stored record's cross-version identity (from `decoded`, else its record decoded again), or undefined when it has none. */
function storedCrossIdentity(record: StoredRecord, logType: string, decoded: DecodeResult = decodeStored(record)): ReturnType<typeof crossIdentity> | undefined {
  return decoded.ok ? crossIdentity(decoded.record, logType) : undefined;
}

/**
 * Retention removes the events of these rows: their `cross_ids` rows keep the event as met, by
 * its id's tag instead of its rowid, as a copy recognised and not stored is kept. So an event read
 * again after retention is still found among its key's rows, and a rowid SQLite hands out again
 * (it reuses the largest once that row is gone) never names a removed event's row.
 * Returns the statement's parameters, made outside the write transaction (each decodes a record,
 * unless given it decoded: retention has, to rebuild the event's document).
 */
export function crossRowsToRetag(removed: readonly { rowid: number; id: Buffer; record: StoredRecord; logType: string; decoded?: DecodeResult }[]): unknown[][] {
  const out: unknown[][] = [];
  for (const r of removed) {
    const cross = storedCrossIdentity(r.record, r.logType, r.decoded);
    if (cross) out.push([idTag(r.id), storedCrossKey(cross.key), cross.api === 'v1' ? 1 : 2, r.rowid]);
  }
  return out;
}

/** The statement `crossRowsToRetag`'s parameters run. */
export const RETAG_CROSS_ROW = 'UPDATE OR REPLACE cross_ids SET event = ? WHERE key = ? AND api = ? AND event = ?';

/**
 * Migration: the table, and a row for every event already stored, from its record (the ids of
 * stored events do not change; an upgraded store pairs its API 1.0 events with API 2.0 copies read
 * after the upgrade). A block that no longer reads is skipped: its events get no row, so a copy
 * from the other API is stored again (a duplicate, never a loss).
 */
export function crossIdsMigration(db: Database.Database): void {
  db.exec(CROSS_IDS_TABLE);
  // In slices by rowid (a statement being iterated keeps the connection busy for the inserts).
  const slice = db.prepare(`SELECT e.rowid, e.id, e.ts, e.block, e.slot, n.name AS logType FROM events e JOIN names n ON n.code = e.type
    WHERE e.rowid > ? ORDER BY e.rowid LIMIT 5000`).safeIntegers(true);
  const blockOf = blockLoader(db);
  const insertMet = db.prepare('INSERT OR IGNORE INTO cross_ids (key, api, id) VALUES (?, ?, ?)');
  const widenSpan = db.prepare(WIDEN_SPAN);
  const spans = new CrossSpans();
  let block: { id: bigint; records: StoredRecord[] | undefined } | undefined;
  for (let after = 0n; ; ) {
    const rows = slice.all(after) as { rowid: bigint; id: Buffer; ts: bigint; block: bigint; slot: bigint; logType: string }[];
    if (rows.length === 0) break;
    after = rows.at(-1)!.rowid;
    for (const r of rows) {
      if (block?.id !== r.block) {
        let records: StoredRecord[] | undefined;
        try {
          records = blockOf(Number(r.block));
        } catch {
          records = undefined;
        }
        block = { id: r.block, records };
      }
      const record = block.records?.[Number(r.slot)];
      const cross = record && storedCrossIdentity(record, r.logType);
      if (!cross) continue;
      insertMet.run(storedCrossKey(cross.key), cross.api === 'v1' ? 1 : 2, r.id);
      spans.add({ id: idText(r.id), key: cross.key, api: cross.api === 'v1' ? 1 : 2, digest: 0n, copy: false, logType: r.logType, ts: Number(r.ts) });
    }
  }
  for (const span of spans.all()) widenSpan.run(span.api, span.logType, span.oldest, span.newest);
}

/**
 * Schema 18: `cross_ids` keeps, instead of each id (16 bytes), the events rowid of a stored event
 * (3 or 4 bytes) or the tag of an id met without a row (idTag): rebuilt in key order.
 */
export function crossIdsByEvent(db: Database.Database): void {
  db.exec(`CREATE TABLE cross_ids_v18 (
    key BLOB NOT NULL,                 -- the first 12 bytes of the cross-version key (storedCrossKey)
    api INTEGER NOT NULL,              -- 1: API 1.0 shape, 2: API 2.0 shape
    event INTEGER NOT NULL,            -- a stored event's rowid, or the idTag of a copy or of an event a remote sink delivered
    PRIMARY KEY (key, api, event)
  ) WITHOUT ROWID`);
  db.function('mimelog_id_tag', { deterministic: true, safeIntegers: true }, (id) => idTag(id as Buffer));
  db.exec(`INSERT OR IGNORE INTO cross_ids_v18 (key, api, event)
    SELECT c.key, c.api, coalesce((SELECT e.rowid FROM events e WHERE ${EVENT_BY_ID.replaceAll('?', 'c.id')}), mimelog_id_tag(c.id)) FROM cross_ids c ORDER BY 1, 2, 3;
    DROP TABLE cross_ids;
    ALTER TABLE cross_ids_v18 RENAME TO cross_ids;`);
}

/**
 * A remote sink's unit without the copies of events already delivered: it decides each event
 * before sending (rows of earlier units not committed yet are in `pending`), sends only the rest,
 * and records `rows` with the unit's checkpoint (Store.recordDelivery), then lets them go from
 * `pending`.
 */
export function withoutCopies(index: CrossVersionIndex, pending: PendingCrossRows, unit: Unit): { unit: Unit; rows: CrossRow[]; copies: number } {
  const decisions = index.decideAll(unit.events.map((e) => ({ id: e.id, digest: hashDigest(e.hash), cross: e.cross, logType: e.classification.logType, ts: e.timeMs })), pending);
  const rows = decisions.flatMap((d) => (d.row ? [d.row] : []));
  const events = unit.events.filter((_e, i) => !decisions[i]!.copy);
  return { unit: { ...unit, events }, rows, copies: unit.events.length - events.length };
}
