/**
 * SQLite's own ceiling for today's schema (`npm run bench -- store-ceiling`): the rows an ingest of
 * the corpus writes (events with their indexes, record blocks, addresses, indicators, full-text
 * entries, cross_ids, hourly counts, a checkpoint per unit), built beforehand outside the timing,
 * inserted by units of the ingest's size into a new store made by today's migrations. Then the same
 * with each index or table left out in turn, and with the lookups ingest makes per event (is the id
 * stored, the cross-version key's rows). Every rate is also a ratio against `ingest --sink ndjson` of
 * the same file in the same run: how far any change to the JavaScript around these statements can
 * take `ingest --db`, and what each index costs.
 */
import { createReadStream, rmSync } from 'node:fs';
import { join } from 'node:path';
import { decodeInput } from '../src/decode/input.js';
import { toKeyValueLine } from '../src/simulator/generate.js';
import { Classifier } from '../src/classify/classify.js';
import { DEFAULT_TABLES } from '../src/classify/type-tables.js';
import { EcsNormalizer, NORMALIZER_VERSION } from '../src/normalize/ecs.js';
import { Transformer } from '../src/pipeline/transform.js';
import { type PreparedUnit, prepareUnit } from '../src/store/prepared.js';
import { BLOCK_RECORDS, DICTIONARY_BYTES, compressLayout, layoutRecords } from '../src/store/record-blocks.js';
import { storedCrossKey } from '../src/store/cross-version.js';
import { EVENT_BY_ID, byId, ROLE } from '../src/store/event-rows.js';
import { Store } from '../src/store/store.js';
import type { SourceState } from '../src/core/sink.js';
import { noCounts } from '../src/core/counts.js';
import { BENCH_DIR, type Row, corpusFile, rate, runMimelog as run } from './common.js';

/** One unit's rows, every code and rowid resolved (a new store hands them out in this order). */
interface UnitRows {
  readonly first: number;
  readonly count: number;
  readonly blocks: { readonly rowid: number; readonly bytes: Buffer; readonly live: number }[];
  /** JSON [[code, address]] of the addresses the unit meets first. */
  readonly newAddresses: string | null;
  /** JSON [[address code, event rowid, role]]. */
  readonly eventAddresses: string | null;
  /** JSON [[event rowid, subject]]. */
  readonly subjects: string | null;
  readonly indicators: [bigint, number][];
  readonly counts: [number, string, string, number][];
  /** The unit without its events: what the checkpoint reads. */
  readonly skeleton: PreparedUnit;
}

/** The events' columns, one slot per event. */
class EventColumns {
  readonly ids: Buffer;
  readonly ts: Float64Array;
  readonly type: Int32Array;
  readonly typeSource: Int32Array;
  readonly candidates: (string | null)[] = [];
  readonly keys: BigInt64Array;
  /** Bit 1 acode, 2 message, 4 subject: which of `keys` (3 per event) are set. */
  readonly hasKey: Uint8Array;
  readonly sender: Int32Array;
  readonly action: Int32Array;
  readonly block: Int32Array;
  readonly slot: Int32Array;
  readonly source: Int32Array;
  readonly position: Float64Array;
  readonly crossKeys: Buffer;
  /** 0: no cross-version identity. */
  readonly crossApi: Uint8Array;

  constructor(readonly size: number) {
    this.ids = Buffer.alloc(size * 16);
    this.ts = new Float64Array(size);
    this.type = new Int32Array(size);
    this.typeSource = new Int32Array(size);
    this.keys = new BigInt64Array(size * 3);
    this.hasKey = new Uint8Array(size);
    this.sender = new Int32Array(size);
    this.action = new Int32Array(size);
    this.block = new Int32Array(size);
    this.slot = new Int32Array(size);
    this.source = new Int32Array(size);
    this.position = new Float64Array(size);
    this.crossKeys = Buffer.alloc(size * 12);
    this.crossApi = new Uint8Array(size);
  }
}

const HOUR_MS = 3_600_000;
const STATE: SourceState = { kind: 'file', identity: 'bench' };

/** Codes handed out in first-seen order after those a table starts with, as a new store's tables do. */
class Codes {
  readonly known: Map<string, number>;
  private next: number;
  constructor(start: ReadonlyMap<string, number> = new Map()) {
    this.known = new Map(start);
    this.next = Math.max(0, ...start.values()) + 1;
  }
  code(name: string): { code: number; fresh: boolean } {
    const code = this.known.get(name);
    if (code !== undefined) return { code, fresh: false };
    this.known.set(name, this.next);
    return { code: this.next++, fresh: true };
  }
}

/** The names a new store already holds (schema 19 gives 'fields' code 0), read from one made and removed here. */
function namesOfNewStore(dir: string): Map<string, number> {
  const db = join(dir, 'store-ceiling-names.db');
  const store = new Store(db);
  try {
    return new Map((store.db.prepare('SELECT name, code FROM names').all() as { name: string; code: number }[]).map((r) => [r.name, r.code]));
  } finally {
    store.close();
    for (const suffix of ['', '-wal', '-shm']) rmSync(db + suffix, { force: true });
  }
}

/** Every row the ingest of `file` writes into a new store, built by the ingest's own code (decode, transform, prepareUnit, block layout and deflate). */
async function buildRows(file: string, count: number): Promise<{ units: UnitRows[]; columns: EventColumns; names: Map<string, number>; dictionary: Buffer }> {
  const transformer = new Transformer(new Classifier(DEFAULT_TABLES), new EcsNormalizer({ keepOriginal: false }));
  const columns = new EventColumns(count);
  const names = new Codes(namesOfNewStore(BENCH_DIR));
  const addresses = new Codes();
  const units: UnitRows[] = [];
  let dictionary: Buffer | undefined;
  let next = 0;
  let blockRowid = 0;
  for await (const batch of decodeInput(file, createReadStream(file))) {
    const unit = prepareUnit(transformer.process(batch, true, true));
    const first = next;
    const events = unit.events.slice(0, count - first);
    const blocks: UnitRows['blocks'] = [];
    const newAddresses: [number, string][] = [];
    const eventAddresses: [number, number, number][] = [];
    const subjects: [number, string][] = [];
    const indicators: [bigint, number][] = [];
    const counts = new Map<string, [number, string, string, number]>();
    for (let start = 0; start < events.length; start += BLOCK_RECORDS) {
      const layout = layoutRecords(events.slice(start, start + BLOCK_RECORDS).map((e) => e.record));
      blocks.push({ rowid: ++blockRowid, bytes: compressLayout(layout, dictionary), live: Math.min(BLOCK_RECORDS, events.length - start) });
      dictionary ??= Buffer.from(layout.subarray(Math.max(0, layout.length - DICTIONARY_BYTES)));
    }
    events.forEach((e, k) => {
      const i = next++;
      const rowid = i + 1;
      const f = e.fields;
      columns.ids.set(e.idKey, i * 16);
      columns.ts[i] = e.ts;
      columns.type[i] = names.code(e.logType).code;
      columns.typeSource[i] = names.code(e.typeSource).code;
      columns.candidates[i] = e.candidates ? JSON.stringify(e.candidates) : null;
      const keys = [e.acodeKey, e.messageKey, e.subjectKey];
      keys.forEach((key, j) => {
        if (key === null) return;
        columns.keys[i * 3 + j] = key;
        columns.hasKey[i]! |= 1 << j;
      });
      for (const [role, list] of [[ROLE.from, f.from], [ROLE.to, f.to]] as const) {
        for (const a of list) {
          const { code, fresh } = addresses.code(a.toLowerCase());
          if (fresh) newAddresses.push([code, a]);
          eventAddresses.push([code, rowid, role]);
        }
      }
      const sender = f.from[f.from.length - 1];
      columns.sender[i] = sender === undefined ? 0 : addresses.code(sender.toLowerCase()).code;
      columns.action[i] = f.action === null ? 0 : names.code(f.action).code;
      columns.block[i] = blocks[Math.floor(k / BLOCK_RECORDS)]!.rowid;
      columns.slot[i] = k % BLOCK_RECORDS;
      columns.source[i] = names.code(e.source).code;
      columns.position[i] = e.position;
      for (const key of e.indicatorKeys) indicators.push([key, rowid]);
      if (f.subject) subjects.push([rowid, f.subject]);
      if (e.cross) {
        storedCrossKey(e.cross.key).copy(columns.crossKeys, i * 12);
        columns.crossApi[i] = e.cross.api === 'v1' ? 1 : 2;
      }
      const hour = Math.floor(e.ts / HOUR_MS);
      const key = `${hour} ${e.logType} ${e.typeSource}`;
      const c = counts.get(key);
      if (c) c[3]++;
      else counts.set(key, [hour, e.logType, e.typeSource, 1]);
    });
    const json = (rows: unknown[]) => (rows.length > 0 ? JSON.stringify(rows) : null);
    units.push({
      first, count: events.length, blocks, newAddresses: json(newAddresses), eventAddresses: json(eventAddresses), subjects: json(subjects),
      indicators, counts: [...counts.values()], skeleton: { ...unit, events: [] },
    });
    if (next >= count) break;
  }
  if (next < count) throw new Error(`the corpus holds ${next} events, ${count} asked`);
  return { units, columns, names: names.known, dictionary: dictionary! };
}

/** What a variant leaves out: an index (dropped after the migrations made it) or a table's rows (not written). */
const LEFT_OUT = {
  'index events_id': 'events_id',
  'index events_ts': 'events_ts',
  'index events_acode': 'events_acode',
  'index events_message': 'events_message',
  'record_blocks rows': 'record_blocks',
  'addresses + event_addresses rows': 'event_addresses',
  'event_indicators rows': 'event_indicators',
  'events_fts rows': 'events_fts',
  'cross_ids rows': 'cross_ids',
  'event_counts rows': 'event_counts',
  'checkpoint + counters': 'checkpoint',
} as const;
type LeftOut = (typeof LEFT_OUT)[keyof typeof LEFT_OUT];
const INDEXES = ['events_id', 'events_ts', 'events_acode', 'events_message'] as const;

interface Variant {
  readonly name: string;
  readonly without: readonly LeftOut[];
  /** Units per transaction (ingest: 1, or up to 8 when several wait for the writer). */
  readonly together?: number;
  /** The per-event lookups ingest makes before it inserts (the id's row, the cross-version key's rows). */
  readonly reads?: boolean;
  /** Pragmas set on the connection before the inserts (the store's own are set by Store). */
  readonly pragmas?: readonly string[];
}

/** Inserts every unit's rows into a new store as the variant says; the time includes closing it (the WAL checkpointed into the file, as at the end of an ingest). */
function insertAll(db: string, rows: Awaited<ReturnType<typeof buildRows>>, v: Variant): number {
  for (const suffix of ['', '-wal', '-shm']) rmSync(db + suffix, { force: true });
  const store = new Store(db);
  const sql = store.db;
  const without = new Set<LeftOut>(v.without);
  for (const index of INDEXES) if (without.has(index)) sql.exec(`DROP INDEX ${index}`);
  for (const pragma of v.pragmas ?? []) sql.pragma(pragma);
  const addName = sql.prepare('INSERT INTO names (code, name) VALUES (?, ?) ON CONFLICT (name) DO NOTHING'); // a name the new store holds keeps its code (Codes started from them)
  for (const [name, code] of rows.names) addName.run(code, name);
  sql.prepare('INSERT INTO record_dictionaries (id, first_block, bytes) VALUES (1, 2, ?)').run(rows.dictionary);
  const insertBlock = sql.prepare('INSERT INTO record_blocks (rowid, records, normalizer, live, dictionary) VALUES (?, ?, ?, ?, ?)');
  const insertEvent = sql.prepare(`INSERT INTO events (rowid, id, ts, type, type_source, candidates, acode_key, message_key, subject_key, sender, action,
    block, slot, source, position, legacy_doc) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, NULL)`);
  const insertAddresses = sql.prepare('INSERT INTO addresses (code, address) SELECT value ->> 0, value ->> 1 FROM json_each(?)');
  const insertEventAddresses = sql.prepare('INSERT OR IGNORE INTO event_addresses (address, event, role) SELECT value ->> 0, value ->> 1, value ->> 2 FROM json_each(?)');
  const insertIndicator = sql.prepare('INSERT OR IGNORE INTO event_indicators (key, event) VALUES (?, ?)');
  const indexSubjects = sql.prepare('INSERT INTO events_fts (rowid, subject) SELECT value ->> 0, value ->> 1 FROM json_each(?)');
  const insertCross = sql.prepare('INSERT OR IGNORE INTO cross_ids (key, api, event) VALUES (?, ?, ?)');
  const countEvents = sql.prepare(`INSERT INTO event_counts (hour, log_type, type_source, events) VALUES (?, ?, ?, ?)
    ON CONFLICT (hour, log_type, type_source) DO UPDATE SET events = events + excluded.events`);
  const findEvent = sql.prepare(`SELECT e.rowid FROM events e WHERE ${EVENT_BY_ID}`);
  const keyRows = sql.prepare('SELECT coalesce(sum(api = 1), 0) AS v1, coalesce(sum(api = 2), 0) AS v2, coalesce(max(api = ? AND event = ?), 0) AS own FROM cross_ids WHERE key = ?');
  const c = rows.columns;
  const key = (i: number, j: number) => (c.hasKey[i]! & (1 << j) ? c.keys[i * 3 + j]! : null);
  const code = (n: number) => (n === 0 ? null : n);
  const writeUnit = (u: UnitRows) => {
    if (v.reads) {
      for (let i = u.first; i < u.first + u.count; i++) {
        findEvent.get(...byId(c.ids.subarray(i * 16, i * 16 + 16)));
        if (c.crossApi[i] !== 0) keyRows.get(c.crossApi[i], -1, c.crossKeys.subarray(i * 12, i * 12 + 12));
      }
    }
    if (!without.has('record_blocks')) for (const b of u.blocks) insertBlock.run(b.rowid, b.bytes, NORMALIZER_VERSION, b.live, 1);
    if (!without.has('event_addresses') && u.newAddresses) insertAddresses.run(u.newAddresses);
    for (let i = u.first; i < u.first + u.count; i++) {
      insertEvent.run(i + 1, c.ids.subarray(i * 16, i * 16 + 16), c.ts[i], c.type[i], c.typeSource[i], c.candidates[i], key(i, 0), key(i, 1), key(i, 2),
        code(c.sender[i]!), code(c.action[i]!), c.block[i], c.slot[i], c.source[i], c.position[i]);
    }
    if (!without.has('event_indicators')) for (const [k, event] of u.indicators) insertIndicator.run(k, event);
    if (!without.has('event_addresses') && u.eventAddresses) insertEventAddresses.run(u.eventAddresses);
    if (!without.has('events_fts') && u.subjects) indexSubjects.run(u.subjects);
    if (!without.has('cross_ids')) {
      for (let i = u.first; i < u.first + u.count; i++) if (c.crossApi[i] !== 0) insertCross.run(c.crossKeys.subarray(i * 12, i * 12 + 12), c.crossApi[i], i + 1);
    }
    if (!without.has('event_counts')) for (const row of u.counts) countEvents.run(...row);
    if (!without.has('checkpoint')) {
      const counts = { ...noCounts(), stored: u.count };
      for (const name of ['stored', 'duplicates', 'collisions'] as const) store.registry.bump(name, counts[name]);
      store.registry.commit(u.skeleton, [], STATE, counts, Date.now());
    }
  };
  const writeUnits = sql.transaction((units: readonly UnitRows[]) => units.forEach(writeUnit));
  const together = v.together ?? 1;
  const t0 = process.hrtime.bigint();
  for (let at = 0; at < rows.units.length; at += together) writeUnits.immediate(rows.units.slice(at, at + together));
  store.close();
  const ms = Number(process.hrtime.bigint() - t0) / 1e6;
  for (const suffix of ['', '-wal', '-shm']) rmSync(db + suffix, { force: true });
  return ms;
}

const VARIANTS: readonly Variant[] = [
  { name: 'every row and index (the ceiling)', without: [] },
  { name: '… plus the lookups ingest makes per event (id, cross-version key)', without: [], reads: true },
  { name: '… 8 units per transaction', without: [], together: 8 },
  { name: '… a page cache of 256 MiB (default 2 MiB)', without: [], pragmas: [`cache_size = ${-256 * 1024}`] },
  { name: '… 8 units per transaction, a page cache of 256 MiB', without: [], together: 8, pragmas: [`cache_size = ${-256 * 1024}`] },
  ...Object.entries(LEFT_OUT).map(([name, left]) => ({ name: `without ${name}`, without: [left] })),
  { name: 'the events table alone (no index, no other row)', without: Object.values(LEFT_OUT) },
];

export async function benchStoreCeiling(count: number): Promise<{ rows: Row[]; results: Record<string, unknown> }> {
  const file = await corpusFile(`kv-${count}.log`, count, toKeyValueLine);
  const db = join(BENCH_DIR, `store-ceiling-${count}.db`);
  const ingestDb = join(BENCH_DIR, `store-ceiling-ingest-${count}.db`);
  for (const suffix of ['', '-wal', '-shm']) rmSync(ingestDb + suffix, { force: true });
  const ndjsonMs = run(['ingest', '--sink', 'ndjson', file, '--summary', 'none']);
  const ingestMs = run(['ingest', '--db', ingestDb, file, '--summary', 'none']);
  for (const suffix of ['', '-wal', '-shm']) rmSync(ingestDb + suffix, { force: true });
  const rows = await buildRows(file, count);
  const ratio = (ms: number) => +(ndjsonMs / ms).toFixed(3);
  const results: Record<string, unknown> = {
    events: count,
    ndjson_eps: rate(count, ndjsonMs),
    ingest_sqlite_eps: rate(count, ingestMs),
    ingest_sqlite_ratio: ratio(ingestMs),
    variants: {} as Record<string, { eps: number; ratio: number }>,
  };
  const out: Row[] = [
    { name: 'events, units of', value: `${count.toLocaleString('en')}, ${rows.units[0]?.count ?? 0} events` },
    { name: 'ingest → ndjson /dev/null (baseline)', value: `${rate(count, ndjsonMs).toLocaleString('en')} events/s` },
    { name: 'ingest → sqlite (today)', value: `${rate(count, ingestMs).toLocaleString('en')} events/s  ratio ${ratio(ingestMs)}` },
  ];
  // BENCH_CEILING_ONLY=<regular expression>: only the variants whose names match (the first, the ceiling, always runs).
  const only = process.env.BENCH_CEILING_ONLY ? new RegExp(process.env.BENCH_CEILING_ONLY) : undefined;
  for (const v of VARIANTS.filter((x, i) => i === 0 || !only || only.test(x.name))) {
    const ms = insertAll(db, rows, v);
    (results.variants as Record<string, unknown>)[v.name] = { eps: rate(count, ms), ratio: ratio(ms) };
    out.push({ name: `rows prebuilt: ${v.name}`, value: `${rate(count, ms).toLocaleString('en')} events/s  ratio ${ratio(ms)}` });
    process.stderr.write(`store-ceiling: ${out.at(-1)!.name}: ${out.at(-1)!.value}\n`);
  }
  return { rows: out, results };
}
