/**
 * The embedded SQLite store: one file, WAL mode, one row per event keyed by its fingerprint.
 * A unit's events, dead letters, counters and checkpoint commit in one transaction, so a crash
 * leaves the store before or after the whole unit, never in between.
 */
import { closeSync, existsSync, openSync } from 'node:fs';
import Database from 'better-sqlite3';
import { type SinkCounts, addCounts, noCounts } from '../core/counts.js';
import type { Unit } from '../core/unit.js';
import { type PreparedDeadLetter, type PreparedEvent, type PreparedUnit, prepareUnit } from './prepared.js';
import type { SourceState } from '../core/sink.js';
import { MIGRATIONS, NEW_STORE_PAGE_SIZE } from './schema.js';
import { CrossSpans, CrossVersionIndex, type CrossRow, PendingCrossRows } from './cross-version.js';
import type { LogTypeSource } from '../classify/classify.js';
import { rebuildDocument } from './documents.js';
import { EVENT_BY_ID, EventReader, EventWriter, STORED_COLUMNS, type StoredRow, byId } from './event-rows.js';
import { MimelogError } from '../util/errors.js';
import { DamagedBlockError } from './record-blocks.js';
import { SourceRegistry } from './registry.js';

/** A prepared event's document, as JSON (for a collision's record: the store keeps no documents). */
function preparedDoc(e: PreparedEvent): string {
  return JSON.stringify(rebuildDocument(e.record, { logType: e.logType, source: e.typeSource as LogTypeSource, candidates: e.candidates }));
}

/** A unit to store and the state of its source to commit with it. */
export interface StateOfUnit {
  readonly unit: PreparedUnit;
  readonly state?: SourceState;
}

/** Same id, different content, found by a remote sink: both copies, neither overwritten. */
export interface CollisionRow {
  readonly id: string;
  readonly storedHash: string;
  readonly newHash: string;
  readonly storedDoc: string;
  readonly newDoc: string;
  readonly newOriginal: string;
  readonly position: number;
}

/** What a destination outside the store did with a unit's events (see sinks/destination.ts). */
export interface Delivery {
  readonly indexed: number;
  readonly duplicates: number;
  readonly collisions: readonly CollisionRow[];
  /** Documents the engine refused (mapping or validation errors), with its reason. */
  readonly rejected: readonly PreparedDeadLetter[];
  /** Events sent more than once before they were acknowledged. */
  readonly resent: number;
}

/** One destination's outcome for a unit, by the destination's name. */
export interface NamedReport {
  readonly destination: string;
  readonly report: Delivery;
}

/** A unit's cross-version decisions, made before it was sent anywhere (cross-version.ts `withoutCopies`). */
export interface CrossDecisions {
  /** The rows to record with the unit's checkpoint. */
  readonly rows: readonly CrossRow[];
  /** Events not sent because they are copies, through the other API, of events already delivered: counted as duplicates. */
  readonly copies: number;
}

/**
 * Opens the store file. A name SQLite would turn into a temporary or in-memory database is
 * refused (a run would report events stored and keep none). A new file is created readable by
 * its owner only, because it holds mail metadata; SQLite gives its WAL and shared-memory files
 * the same mode.
 */
function openDatabase(path: string, readonly: boolean): Database.Database {
  if (path.trim() === '' || path === ':memory:' || path.startsWith('file:')) {
    throw new MimelogError('store', `--db/MIMELOG_DB must name a file, not ${JSON.stringify(path)} (SQLite would keep the events in memory and lose them)`);
  }
  if (readonly && !existsSync(path)) throw new MimelogError('store', `no store at ${path} (set --db or MIMELOG_DB)`);
  try {
    if (!readonly && !existsSync(path)) closeSync(openSync(path, 'a', 0o600));
    return new Database(path, { readonly, fileMustExist: readonly });
  } catch (err) {
    throw new MimelogError('store', `cannot open the store ${path}: ${(err as Error).message}`, { cause: err });
  }
}

/** WAL pages (2 KiB each in a store made since schema 19, 4 KiB before) after which a commit checkpoints the WAL into the file. */
export const WAL_CHECKPOINT_PAGES = 65_536;

function migrate(db: Database.Database): void {
  const version = db.pragma('user_version', { simple: true }) as number;
  if (version > MIGRATIONS.length) throw new MimelogError('store', `store was written by a newer mimelog (schema ${version})`);
  if (version === MIGRATIONS.length) return;
  db.transaction(() => {
    // Read again under the write lock: another process opening the same older store may have
    // upgraded it between the read above and this transaction; a migration must never run twice.
    const locked = db.pragma('user_version', { simple: true }) as number;
    for (let v = locked; v < MIGRATIONS.length; v++) {
      const m = MIGRATIONS[v]!;
      if (typeof m === 'string') db.exec(m);
      else m(db);
    }
    db.pragma(`user_version = ${MIGRATIONS.length}`);
  }).immediate();
  // An upgrade that rebuilt a table (schema 17: the events) leaves the old one's pages free: a store
  // made with incremental auto-vacuum gives them back to the file system at once (a no-op otherwise).
  if (version > 0) db.pragma('incremental_vacuum');
}

/**
 * A reader (stats, search, the console) of a store an older mimelog wrote upgrades its schema
 * first, in one transaction, rather than refusing it; the events are untouched.
 */
function upgradeIfOlder(path: string): void {
  if (!existsSync(path)) return;
  const probe = openDatabase(path, true);
  const version = probe.pragma('user_version', { simple: true }) as number;
  probe.close();
  if (version >= MIGRATIONS.length || version === 0) return;
  const db = openDatabase(path, false);
  try {
    db.pragma('busy_timeout = 10000');
    migrate(db);
  } catch (err) {
    throw new MimelogError('store', `cannot upgrade the store ${path} to this mimelog's schema: ${(err as Error).message}`, { cause: err });
  } finally {
    db.close();
  }
}

export class Store {
  readonly db: Database.Database;
  private readonly events: EventWriter;
  private readonly findEvent: Database.Statement;
  private readonly insertCollision: Database.Statement;
  /** Source state, dead letters and counters, in the same file and transactions as the events. */
  readonly registry: SourceRegistry;
  /** Copies of one event from API 1.0 and 2.0 (cross-version.ts). */
  readonly crossVersion: CrossVersionIndex;
  private readonly writeUnitsTx: (units: readonly StateOfUnit[]) => SinkCounts[];

  constructor(path: string, options: { readonly?: boolean } = {}) {
    if (options.readonly) upgradeIfOlder(path);
    this.db = openDatabase(path, options.readonly ?? false);
    if (!options.readonly) {
      try {
        // A new store gives pages freed by retention back to the file system. This takes effect only
        // before the first table and before WAL (an older store reuses freed pages for new events).
        // Its page size (schema.ts NEW_STORE_PAGE_SIZE) first: once auto_vacuum is set, SQLite keeps 4 KiB.
        if ((this.db.pragma('page_count', { simple: true }) as number) === 0) {
          this.db.pragma(`page_size = ${NEW_STORE_PAGE_SIZE}`);
          this.db.pragma('auto_vacuum = INCREMENTAL');
        }
        this.db.pragma('journal_mode = WAL');
        this.db.pragma('synchronous = NORMAL'); // WAL + NORMAL: durable across process crashes; a power loss may drop the last commits, never corrupt.
        // Checkpoint every 256 MiB of WAL (at 4 KiB pages), not every 4 MiB: a unit dirties index pages
        // all over the store (ids and keys are random), and the same pages are dirtied again by the next
        // units, so fewer checkpoints copy each page fewer times (64 MiB: ingest about 12 % faster at 200k
        // events than 4 MiB; 256 MiB: 1M events in 61 s instead of 75). The WAL file is cut back to
        // journal_size_limit after a checkpoint, and removed when the store closes.
        this.db.pragma(`wal_autocheckpoint = ${WAL_CHECKPOINT_PAGES}`);
        this.db.pragma(`journal_size_limit = ${64 * 1024 * 1024}`);
        this.migrate();
      } catch (err) {
        this.db.close();
        throw new MimelogError('store', `cannot use the store ${path}: ${(err as Error).message}`, { cause: err });
      }
    }
    this.db.pragma('busy_timeout = 10000');
    const version = this.db.pragma('user_version', { simple: true }) as number;
    if (version !== MIGRATIONS.length) throw new MimelogError('store', `store ${path}: schema version ${version}, this mimelog expects ${MIGRATIONS.length}`);
    this.events = new EventWriter(this.db);
    this.findEvent = this.db.prepare(`SELECT ${STORED_COLUMNS} FROM events e WHERE ${EVENT_BY_ID}`);
    this.insertCollision = this.db.prepare(`INSERT INTO collisions (id, stored_hash, new_hash, stored_doc, new_doc, new_original, source, position, seen_at)
      VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`);
    this.registry = new SourceRegistry(this.db);
    this.crossVersion = new CrossVersionIndex(this.db);
    const writeTx = this.db.transaction((units: readonly StateOfUnit[]) => units.map((u) => this.writeUnitNow(u.unit, u.state)));
    this.writeUnitsTx = (units) => this.rollingBack(() => writeTx.immediate(units));
  }

  private migrate(): void {
    migrate(this.db);
  }

  /** Stores a unit and commits its source's state, atomically. */
  writeUnit(unit: Unit, state?: SourceState): SinkCounts {
    return this.writePrepared(prepareUnit(unit), state);
  }

  /** The same, for a unit already turned into rows (see prepared.ts; the ingest worker uses this). */
  writePrepared(unit: PreparedUnit, state?: SourceState): SinkCounts {
    return this.writeUnitsTx([{ unit, state }])[0]!;
  }

  /**
   * Units in one transaction, in order, each with its checkpoint (the writer thread commits the
   * units waiting for it together): all are stored or none. A page that several of them dirty
   * (the random-key indexes' pages) goes to the WAL once instead of once per unit.
   */
  writePreparedTogether(units: readonly StateOfUnit[]): SinkCounts[] {
    return this.writeUnitsTx(units);
  }

  /** Runs a write transaction; when it rolls back, name codes and dictionaries it added are forgotten with it. */
  private rollingBack<T>(write: () => T): T {
    try {
      return write();
    } catch (err) {
      this.events.forget();
      throw err;
    }
  }

  private writeUnitNow(unit: PreparedUnit, state: SourceState | undefined): SinkCounts {
    const now = Date.now();
    const { counts } = this.storeEvents(unit, now);
    this.registry.commit(unit, unit.deadLetters, state, counts, now);
    return counts;
  }

  /**
   * The bookkeeping of a unit that went to destinations outside the store, atomically: what each
   * acknowledged (its counts, by name), collisions they found, events they refused (as dead
   * letters), the unit's events too when the store is one of the destinations (`unit` prepared
   * with its events), then the unit's checkpoint. Called only once every destination gave every
   * event of the unit an outcome. The unit's counts are the store's when it keeps the events,
   * else the first destination's.
   */
  recordDeliveries(unit: PreparedUnit, reports: readonly NamedReport[], state?: SourceState, cross?: CrossDecisions): SinkCounts {
    return this.rollingBack(() => this.db.transaction(() => {
      const now = Date.now();
      for (const { report } of reports) {
        for (const c of report.collisions) {
          this.insertCollision.run(c.id, c.storedHash, c.newHash, c.storedDoc, c.newDoc, c.newOriginal, unit.source, c.position, now);
        }
      }
      let counts: SinkCounts;
      let rowids: ReadonlyMap<string, number> | undefined;
      if (unit.events.length > 0) ({ counts, rowids } = this.storeEvents(unit, now, cross !== undefined));
      else {
        const first = reports[0]?.report;
        counts = { stored: first?.indexed ?? 0, duplicates: first?.duplicates ?? 0, collisions: first?.collisions.length ?? 0, deadLetters: 0 };
        this.registry.bump('indexed', counts.stored);
        for (const name of ['duplicates', 'collisions'] as const) this.registry.bump(name, counts[name]);
        this.registry.noteDrift(unit.drift, now);
      }
      if (cross) {
        const spans = new CrossSpans();
        for (const row of cross.rows) this.crossVersion.record(row, spans, row.copy ? undefined : rowids?.get(row.id));
        this.crossVersion.widen(spans);
        counts.duplicates += cross.copies;
        this.registry.bump('duplicates', cross.copies);
      }
      for (const { destination, report } of reports) this.registry.countDelivery(destination, report, now);
      this.registry.commit(unit, [...unit.deadLetters, ...reports.flatMap((r) => r.report.rejected)], state, counts, now);
      return counts;
    }).immediate());
  }

  /**
   * Stores a unit's events (not its dead letters or checkpoint) and bumps the counters. Each new
   * id is first checked for being a copy through the other API, unless `crossDecided` (the
   * delivering sink decided before sending, and records its rows itself).
   */
  private storeEvents(unit: PreparedUnit, now: number, crossDecided = false): { counts: SinkCounts; rowids: ReadonlyMap<string, number> } {
    const counts = noCounts();
    const fresh = new Map<string, PreparedEvent>();
    // The unit's cross-version rows are recorded once its events have rowids (cross_ids keeps them,
    // schema 18); until then a later decision of the unit counts them as pending.
    const pending = new PendingCrossRows();
    const rows: CrossRow[] = [];
    const storedRecords = new EventReader(this.db);
    for (const e of unit.events) {
      const earlier = fresh.get(e.id);
      if (earlier) this.compareWithEarlier(earlier, e, counts, now);
      else if (crossDecided) {
        if (this.compareWithStored(e, counts, now, storedRecords)) fresh.set(e.id, e);
      } else if (this.compareWithStored(e, counts, now, storedRecords)) {
        const cross = this.crossVersion.decide(e, pending);
        if (cross.row) {
          pending.add(cross.row);
          rows.push(cross.row);
        }
        if (cross.copy) counts.duplicates++;
        else fresh.set(e.id, e);
      }
    }
    const stored = [...fresh.values()];
    const rowids = this.events.insert(stored);
    const byId = new Map(stored.map((e, i) => [e.id, rowids[i]!]));
    const spans = new CrossSpans();
    for (const row of rows) this.crossVersion.record(row, spans, row.copy ? undefined : byId.get(row.id));
    this.crossVersion.widen(spans);
    counts.stored = fresh.size;
    this.registry.noteDrift(unit.drift, now);
    for (const name of ['stored', 'duplicates', 'collisions'] as const) this.registry.bump(name, counts[name]);
    return { counts, rowids: byId };
  }

  /**
   * True when the id is new; else the event is counted as a duplicate or kept as a collision. The
   * row keeps no digest (schema 18): the same record is the same content (the fingerprint is a
   * function of the record), and another record is compared by its whole hash, from the rebuilt
   * document. `stored` reads the unit's stored records (a block inflated once per unit).
   */
  private compareWithStored(e: PreparedEvent, counts: SinkCounts, now: number, stored: EventReader): boolean {
    const row = this.findEvent.get(...byId(e.idKey)) as StoredRow | undefined;
    if (row === undefined) return true;
    let rebuilt: ReturnType<EventReader['rebuild']> | undefined;
    try {
      const record = stored.record(row);
      rebuilt = record.raw === e.record.raw && record.format === e.record.format && row.legacy_doc === null ? undefined : stored.rebuild(row);
    } catch (err) {
      // A damaged block (mimelog check names it) cannot say what the event held: its id is stored, so it is counted as a duplicate, as before.
      if (!(err instanceof DamagedBlockError)) throw err;
    }
    if (rebuilt === undefined || rebuilt.doc.event?.hash === e.hash) counts.duplicates++;
    else this.keepCollision({ doc: rebuilt.docText, hash: String(rebuilt.doc.event?.hash ?? '') }, e, counts, now);
    return false;
  }

  /** The same id twice in one unit. */
  private compareWithEarlier(earlier: PreparedEvent, e: PreparedEvent, counts: SinkCounts, now: number): void {
    if (earlier.hash === e.hash) counts.duplicates++;
    else this.keepCollision({ doc: preparedDoc(earlier), hash: earlier.hash }, e, counts, now);
  }

  /** Same id, different content: keep both, overwrite nothing, count it. */
  private keepCollision(kept: { doc: string; hash: string }, e: PreparedEvent, counts: SinkCounts, now: number): void {
    this.insertCollision.run(e.id, kept.hash, e.hash, kept.doc, preparedDoc(e), e.record.raw, e.source, e.position, now);
    counts.collisions++;
  }

  /** Replay: a dead letter that now decodes is replaced by its events, atomically. */
  resolveDeadLetter(rowid: number, units: readonly Unit[]): SinkCounts {
    return this.rollingBack(() => this.db.transaction(() => {
      const total = noCounts();
      for (const unit of units) addCounts(total, this.storeEvents(prepareUnit(unit), Date.now()).counts);
      this.registry.deleteDeadLetter(rowid);
      return total;
    }).immediate());
  }

  close(): void {
    this.db.close();
  }
}
