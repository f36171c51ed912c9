/**
 * The compact event rows, both ways. Writing: a batch of new events becomes record blocks, one
 * narrow row per event (ids and digests as bytes and integers, names as codes, indexed texts as
 * 64-bit keys), address and indicator rows, full-text entries and hourly counts. Reading: rows
 * become the events the queries return, their documents rebuilt from the records.
 */
import type Database from 'better-sqlite3';
import type { LogTypeSource } from '../classify/classify.js';
import { NORMALIZER_VERSION } from '../normalize/ecs.js';
import type { DecodeResult } from '../decode/record.js';
import { type IndexedFields, type KeyKind, bareMessageId, decodeStored, idText, indexedFields, rebuildDocument, textKey } from './documents.js';
import type { PreparedEvent } from './prepared.js';
import { BLOCK_RECORDS, DamagedBlockError, type DamagedBlocks, type StoredRecord, compressLayout, layoutRecords, packRecords, unpackRecords } from './record-blocks.js';
import { DictionaryReader, DictionaryWriter, hasDictionaries } from './block-dictionaries.js';

/** event_addresses.role */
export const ROLE = { from: 0, to: 1 } as const;

const HOUR_MS = 3_600_000;

/** Codes of the short names repeated on every row (log types, how a type was decided, actions, sources). */
export class NameCodes {
  private readonly codes = new Map<string, number>();
  private readonly find: Database.Statement;
  private readonly add: Database.Statement;

  constructor(db: Database.Database) {
    this.find = db.prepare('SELECT code FROM names WHERE name = ?').pluck();
    this.add = db.prepare('INSERT INTO names (name) VALUES (?)');
  }

  code(name: string): number {
    let code = this.codes.get(name);
    if (code === undefined) {
      code = (this.find.get(name) as number | undefined) ?? Number(this.add.run(name).lastInsertRowid);
      this.codes.set(name, code);
    }
    return code;
  }

  /** After a rolled-back transaction: codes it added are gone. */
  forget(): void {
    this.codes.clear();
  }
}

/** The block's records; a DamagedBlockError when its bytes do not read or the dictionary it was deflated against is missing. */
function blockRecords(packed: Buffer, dictionary: number | null, block: number, dictionaries: DictionaryReader | undefined): StoredRecord[] {
  if (dictionary === null) return unpackRecords(packed, block);
  const bytes = dictionaries?.get(dictionary);
  if (bytes === undefined) throw new DamagedBlockError(block, `the dictionary it was compressed with (${dictionary}) is missing or damaged`);
  return unpackRecords(packed, block, bytes);
}

/**
 * Reads record blocks by rowid, deflated alone or against a dictionary. A block that is missing
 * or does not read is a DamagedBlockError naming it.
 */
export function blockLoader(db: Database.Database): (block: number) => StoredRecord[] {
  // The upgrade to schema 13 reads blocks before 14 added dictionaries.
  const dictionaries = hasDictionaries(db) ? new DictionaryReader(db) : undefined;
  const load = db.prepare(`SELECT records, ${dictionaries ? 'dictionary' : 'NULL AS dictionary'} FROM record_blocks WHERE rowid = ?`);
  return (block) => {
    const row = load.get(block) as { records: Buffer; dictionary: number | null } | undefined;
    if (row === undefined) throw new DamagedBlockError(block, 'it is missing');
    return blockRecords(row.records, row.dictionary, block, dictionaries);
  };
}

/** A block as the writer stores it: deflated against the store's current dictionary (see block-dictionaries.ts). */
class BlockWriter {
  private readonly dictionaries: DictionaryWriter;
  private readonly insert: Database.Statement;

  constructor(db: Database.Database) {
    this.dictionaries = new DictionaryWriter(db);
    this.insert = db.prepare('INSERT INTO record_blocks (records, normalizer, live, dictionary) VALUES (?, ?, ?, ?)');
  }

  write(records: readonly StoredRecord[]): number {
    const layout = layoutRecords(records);
    const dictionary = this.dictionaries.forNext();
    const rowid = Number(this.insert.run(compressLayout(layout, dictionary?.bytes), NORMALIZER_VERSION, records.length, dictionary?.id ?? null).lastInsertRowid);
    this.dictionaries.written(rowid, layout);
    return rowid;
  }

  forget(): void {
    this.dictionaries.forget();
  }
}

/** Schema 9's blocks, each deflated alone: the upgrade to 9 writes them before the dictionaries' table exists (schema 14). */
class PlainBlockWriter {
  private readonly insert: Database.Statement;

  constructor(db: Database.Database) {
    this.insert = db.prepare('INSERT INTO record_blocks (records, normalizer, live) VALUES (?, ?, ?)');
  }

  write(records: readonly StoredRecord[]): number {
    return Number(this.insert.run(packRecords(records), NORMALIZER_VERSION, records.length).lastInsertRowid);
  }

  forget(): void {}
}

export class EventWriter {
  readonly names: NameCodes;
  private readonly blocks: BlockWriter | PlainBlockWriter;
  private readonly insertEvent: Database.Statement;
  private readonly insertAddressNames: Database.Statement;
  private readonly insertAddresses: Database.Statement;
  private readonly insertIndicator: Database.Statement;
  private readonly indexSubjects: Database.Statement;
  private readonly countEvents: Database.Statement;
  private readonly withDigest: boolean;

  /** `schema9`: the upgrade to schema 9 (compact-events.ts) writes with it, before later tables exist. */
  constructor(db: Database.Database, options: { schema9?: boolean } = {}) {
    this.names = new NameCodes(db);
    this.blocks = options.schema9 ? new PlainBlockWriter(db) : new BlockWriter(db);
    // Schema 9 to 17 kept the digest (the first 64 bits of event.hash) in the row; 18 dropped it (store.ts compareWithStored).
    const digest = options.schema9 ? ['digest, ', '?, '] : ['', ''];
    this.insertEvent = db.prepare(`INSERT INTO events (rowid, id, ${digest[0]}ts, type, type_source, candidates, acode_key, message_key, subject_key, sender, action,
      block, slot, source, position, legacy_doc) VALUES (?, ?, ${digest[1]}?, ?, ?, ?, ?, ?, ?, (SELECT code FROM addresses WHERE address = ?), ?, ?, ?, ?, ?, ?)`);
    this.withDigest = options.schema9 === true;
    // One statement per batch for addresses and subjects: a statement call costs more than the rows.
    this.insertAddressNames = db.prepare('INSERT INTO addresses (address) SELECT value FROM json_each(?) WHERE true ON CONFLICT DO NOTHING');
    this.insertAddresses = db.prepare(`INSERT OR IGNORE INTO event_addresses (address, event, role)
      SELECT a.code, j.value ->> 1, j.value ->> 2 FROM json_each(?) j JOIN addresses a ON a.address = j.value ->> 0`);
    this.insertIndicator = db.prepare('INSERT OR IGNORE INTO event_indicators (key, event) VALUES (?, ?)');
    this.indexSubjects = db.prepare('INSERT INTO events_fts (rowid, subject) SELECT value ->> 0, value ->> 1 FROM json_each(?)');
    this.countEvents = db.prepare(`INSERT INTO event_counts (hour, log_type, type_source, events) VALUES (?, ?, ?, ?)
      ON CONFLICT (hour, log_type, type_source) DO UPDATE SET events = events + excluded.events`);
  }

  /**
   * Stores events none of whose ids is stored yet (the caller checked), in one transaction the
   * caller holds. `upgrade` moves an older store's events: their rowids and documents, and no
   * hourly counts (the older store has them).
   */
  insert(events: readonly PreparedEvent[], upgrade?: { rowids: number[]; legacyDocs: (string | null)[] }): number[] {
    const rowids: number[] = [];
    if (events.length === 0) return rowids;
    const addressNames = new Set<string>();
    for (const e of events) for (const a of [...e.fields.from, ...e.fields.to]) addressNames.add(a);
    if (addressNames.size > 0) this.insertAddressNames.run(JSON.stringify([...addressNames]));
    const addresses: [string, number, number][] = [];
    const subjects: [number, string][] = [];
    const counts = new Map<string, number>();
    for (let start = 0; start < events.length; start += BLOCK_RECORDS) {
      const chunk = events.slice(start, start + BLOCK_RECORDS);
      const block = this.blocks.write(chunk.map((e) => e.record));
      chunk.forEach((e, slot) => {
        const f = e.fields;
        const info = this.insertEvent.run(
          upgrade?.rowids[start + slot] ?? null, e.idKey, ...(this.withDigest ? [e.digest] : []), e.ts, this.names.code(e.logType), this.names.code(e.typeSource),
          e.candidates ? JSON.stringify(e.candidates) : null, e.acodeKey, e.messageKey, e.subjectKey, f.from[f.from.length - 1] ?? null,
          f.action === null ? null : this.names.code(f.action), block, slot, this.names.code(e.source), e.position, upgrade?.legacyDocs[start + slot] ?? null,
        );
        const rowid = Number(info.lastInsertRowid);
        rowids.push(rowid);
        for (const a of f.from) addresses.push([a, rowid, ROLE.from]);
        for (const a of f.to) addresses.push([a, rowid, ROLE.to]);
        for (const k of e.indicatorKeys) this.insertIndicator.run(k, rowid);
        if (f.subject) subjects.push([rowid, f.subject]);
        const hour = Math.floor(e.ts / HOUR_MS);
        const key = JSON.stringify([hour, e.logType, e.typeSource]);
        counts.set(key, (counts.get(key) ?? 0) + 1);
      });
    }
    if (addresses.length > 0) this.insertAddresses.run(JSON.stringify(addresses));
    if (subjects.length > 0) this.indexSubjects.run(JSON.stringify(subjects));
    if (!upgrade) for (const [key, n] of counts) this.countEvents.run(...(JSON.parse(key) as [number, string, string]), n);
    return rowids;
  }

  /** After a rolled-back transaction: name codes and a dictionary it added are gone. */
  forget(): void {
    this.names.forget();
    this.blocks.forget();
  }
}

/**
 * Finds an event by its stored id (bound three times: `...byId(key)`). The index holds the id's
 * first 4 bytes (schema 19; 8 in 17 and 18, 16 before): the whole id is compared on the row, so two
 * ids that share a prefix stay two events, and a lookup reads another event's row about n/2^32
 * times (0.002 at 10M events). The 8-byte condition is there for the upgrade to 18, which looks ids
 * up through 17's index (cross-version.ts crossIdsByEvent): SQLite takes whichever index the store has.
 */
export const EVENT_BY_ID = 'substr(e.id, 1, 4) = substr(?, 1, 4) AND substr(e.id, 1, 8) = substr(?, 1, 8) AND e.id = ?';
export const byId = (key: Uint8Array): [Uint8Array, Uint8Array, Uint8Array] => [key, key, key];

/** The columns of `events` a reader selects (as `e`) to rebuild the event. */
export const STORED_COLUMNS = 'e.rowid, e.id, e.ts, e.type, e.type_source, e.candidates, e.block, e.slot, e.legacy_doc';

export interface StoredRow {
  readonly rowid: number;
  readonly id: Buffer;
  readonly ts: number;
  readonly type: number;
  readonly type_source: number;
  readonly candidates: string | null;
  readonly block: number;
  readonly slot: number;
  readonly legacy_doc: string | null;
}

/** An event as the queries return it. */
export interface EventRow {
  rowid: number;
  id: string;
  ts: number;
  log_type: string;
  acode: string | null;
  message_id: string | null;
  sender: string | null;
  recipients: string | null;
  subject: string | null;
  direction: string | null;
  action: string | null;
  /** The ECS document without event.original, as JSON. */
  doc: string;
  /** The original record (bytes that were not UTF-8 escaped as decode/text.ts says). */
  original: string;
}

/** Blocks kept inflated by one reader: an export walks events in time order, and neighbours share blocks. */
const CACHED_BLOCKS = 64;

/**
 * Rebuilds events from rows. One per query or export; it caches names and recent blocks. A damaged
 * record block is a DamagedBlockError naming it; given `damaged`, `rows` and `rebuildOrSkip` leave
 * its events out and note them there instead, so the rest can still be read.
 */
export class EventReader {
  private names = new Map<number, string>();
  private readonly blocks = new Map<number, StoredRecord[]>();
  private readonly failed = new Map<number, DamagedBlockError>();
  private readonly loadNames: Database.Statement;
  private readonly loadBlock: (block: number) => StoredRecord[];
  private readonly blockEvents: Database.Statement;

  constructor(private readonly db: Database.Database, private readonly damaged?: DamagedBlocks) {
    this.loadNames = db.prepare('SELECT code, name FROM names');
    this.loadBlock = blockLoader(db);
    this.blockEvents = db.prepare('SELECT count(*) AS count, min(ts) AS first, max(ts) AS last FROM events WHERE block = ?');
  }

  /** The block's records, or a DamagedBlockError that names it and the events it held (kept: a block is judged once). */
  private blockRecords(block: number): StoredRecord[] {
    const known = this.failed.get(block);
    if (known) throw known;
    try {
      return this.loadBlock(block);
    } catch (err) {
      if (!(err instanceof DamagedBlockError)) throw err;
      const e = this.blockEvents.get(block) as { count: number; first: number | null; last: number | null };
      const iso = (ms: number | null) => (ms === null ? '-' : new Date(ms).toISOString());
      const damage = new DamagedBlockError(block, err.problem, { count: e.count, first: iso(e.first), last: iso(e.last) });
      this.failed.set(block, damage);
      throw damage;
    }
  }

  name(code: number): string {
    let name = this.names.get(code);
    if (name === undefined) {
      this.names = new Map((this.loadNames.all() as { code: number; name: string }[]).map((r) => [r.code, r.name]));
      name = this.names.get(code);
      if (name === undefined) throw new Error(`store: no name for code ${code}`);
    }
    return name;
  }

  record(row: Pick<StoredRow, 'block' | 'slot'>): StoredRecord {
    let records = this.blocks.get(row.block);
    if (records === undefined) {
      records = this.blockRecords(row.block);
      if (this.blocks.size >= CACHED_BLOCKS) this.blocks.delete(this.blocks.keys().next().value!);
      this.blocks.set(row.block, records);
    }
    const record = records[row.slot];
    if (record === undefined) throw new DamagedBlockError(row.block, `it holds ${records.length} records, an event points at record ${row.slot + 1}`);
    return record;
  }

  /** The event's document (parsed), its record (and, unless the row keeps its document, the record decoded) and the fields shown in lists. */
  rebuild(row: StoredRow): { doc: Record<string, any>; docText: string; record: StoredRecord; decoded?: DecodeResult; fields: IndexedFields } {
    const record = this.record(row);
    if (row.legacy_doc !== null) {
      const doc = JSON.parse(row.legacy_doc) as Record<string, any>;
      return { doc, docText: row.legacy_doc, record, fields: indexedFields(doc) };
    }
    const decoded = decodeStored(record);
    const doc = rebuildDocument(record, { logType: this.name(row.type), source: this.name(row.type_source) as LogTypeSource, candidates: row.candidates === null ? undefined : (JSON.parse(row.candidates) as string[]) }, decoded);
    return { doc, docText: JSON.stringify(doc), record, decoded, fields: indexedFields(doc) };
  }

  row(stored: StoredRow): EventRow {
    const { docText, record, fields: f } = this.rebuild(stored);
    return {
      rowid: stored.rowid, id: idText(stored.id), ts: stored.ts, log_type: this.name(stored.type), acode: f.acode, message_id: f.messageId,
      sender: f.from[f.from.length - 1] ?? null, recipients: f.to.length > 0 ? f.to.join(',') : null, subject: f.subject, direction: f.direction, action: f.action,
      doc: docText, original: record.raw,
    };
  }

  rows(stored: readonly StoredRow[]): EventRow[] {
    const out: EventRow[] = [];
    for (const s of stored) {
      const row = this.orSkip(() => this.row(s));
      if (row) out.push(row);
    }
    return out;
  }

  /**
   * The events whose aCode or message id is `text`, in rowid order, found by its narrow key
   * (documents.ts KEY_BITS) a page of the key's events at a time: events of another text that share
   * the key are rebuilt, compared (hasKeyedText) and dropped page by page, so a forged flood on one
   * key costs time, never memory beyond a page.
   */
  byKeyedText(kind: NarrowKeyKind, text: string): EventRow[] {
    const page = this.db.prepare(`SELECT ${STORED_COLUMNS} FROM events e WHERE e.${KEY_COLUMN[kind]} = ? AND e.rowid > ? ORDER BY e.rowid LIMIT ${KEY_PAGE}`);
    const key = textKey(kind, kind === 'message-id' ? bareMessageId(text) : text);
    const keep = hasKeyedText(kind, text);
    const out: EventRow[] = [];
    for (let after = Number.MIN_SAFE_INTEGER; ; ) {
      const stored = page.all(key, after) as StoredRow[];
      for (const row of this.rows(stored)) if (keep(row)) out.push(row);
      if (stored.length < KEY_PAGE) return out;
      after = stored[stored.length - 1]!.rowid;
    }
  }

  /** `rebuild`, or undefined (noted in `damaged`) when the event's block is damaged and the reader skips such blocks. */
  rebuildOrSkip(row: StoredRow): ReturnType<EventReader['rebuild']> | undefined {
    return this.orSkip(() => this.rebuild(row));
  }

  private orSkip<T>(read: () => T): T | undefined {
    try {
      return read();
    } catch (err) {
      if (!(err instanceof DamagedBlockError) || !this.damaged) throw err;
      this.damaged.note(err);
      return undefined;
    }
  }
}

/** The narrow keys found through an index of the events table, and its column. */
type NarrowKeyKind = 'acode' | 'message-id';
const KEY_COLUMN: Readonly<Record<NarrowKeyKind, string>> = { acode: 'acode_key', 'message-id': 'message_key' };
/** Events of one narrow key rebuilt at once (EventReader.byKeyedText). */
const KEY_PAGE = 1000;

/** The texts of a rebuilt event that narrow keys stand for. */
export type KeyedTexts = Pick<EventRow, 'acode' | 'message_id' | 'subject'>;

/** Each narrow key's text on a rebuilt event, as its key was made from it (a message id without <>). */
const KEYED_TEXT: Readonly<Record<Exclude<KeyKind, 'indicator'>, (row: KeyedTexts) => string | null>> = {
  acode: (row) => row.acode,
  'message-id': (row) => (row.message_id === null ? null : bareMessageId(row.message_id)),
  subject: (row) => row.subject,
};

/**
 * Whether an event a narrow key found (documents.ts KEY_BITS) holds the very text asked for: a key
 * of 8 or 32 bits is shared by other texts now and then, so every reader by key keeps only these.
 */
export function hasKeyedText(kind: Exclude<KeyKind, 'indicator'>, text: string): (row: KeyedTexts) => boolean {
  const asked = kind === 'message-id' ? bareMessageId(text) : text;
  return (row) => KEYED_TEXT[kind](row) === asked;
}

/**
 * What `mimelog check` finds wrong with the record blocks: an event whose block is missing or too
 * short, or a block whose count of live events is not the number of events pointing at it. Every
 * block is inflated once (about a second per million events).
 */
export function blockProblems(db: Database.Database): string[] {
  const problems: string[] = [];
  const uses = new Map((db.prepare('SELECT block, count(*) AS n, max(slot) AS last FROM events GROUP BY block').all() as { block: number; n: number; last: number }[]).map((u) => [u.block, u]));
  const page = db.prepare('SELECT rowid, records, live, dictionary FROM record_blocks WHERE rowid > ? ORDER BY rowid LIMIT 256');
  const dictionaries = new DictionaryReader(db);
  for (let after = 0; ;) {
    const blocks = page.all(after) as { rowid: number; records: Buffer; live: number; dictionary: number | null }[];
    if (blocks.length === 0) break;
    for (const b of blocks) {
      const use = uses.get(b.rowid);
      uses.delete(b.rowid);
      let records: number;
      try {
        records = blockRecords(b.records, b.dictionary, b.rowid, dictionaries).length;
      } catch (err) {
        problems.push(`record block ${b.rowid} cannot be read: ${err instanceof DamagedBlockError ? err.problem : (err as Error).message}`);
        continue;
      }
      if ((use?.n ?? 0) !== b.live) problems.push(`record block ${b.rowid} counts ${b.live} events, ${use?.n ?? 0} point at it`);
      if (use && use.last >= records) problems.push(`record block ${b.rowid} holds ${records} records, an event points at record ${use.last + 1}`);
    }
    after = blocks[blocks.length - 1]!.rowid;
  }
  for (const [block, use] of uses) problems.push(`${use.n} events point at record block ${block}, which is missing`);
  return problems.slice(0, 20);
}
