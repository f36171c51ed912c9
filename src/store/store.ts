/**
 * The embedded SQLite store: one file, WAL mode, one row per event keyed by its fingerprint.
 * A unit's events, dead letters, counters and checkpoint commit in one transaction, so a crash
 * leaves the store before or after the whole unit, never in between.
 */
import { closeSync, existsSync, openSync } from 'node:fs';
import Database from 'better-sqlite3';
import { type SinkCounts, addCounts, noCounts } from '../core/counts.js';
import type { DeadLetter, Unit } from '../core/unit.js';
import { type PreparedDeadLetter, type PreparedEvent, type PreparedUnit, prepareUnit } from './prepared.js';
import type { CheckpointUpdate } from '../core/sink.js';
import { MIGRATIONS } from './schema.js';
import type { LogTypeSource } from '../classify/classify.js';
import { rebuildDocument, storedId } from './documents.js';
import { EventReader, EventWriter, STORED_COLUMNS, type StoredRow } from './event-rows.js';
import { MimelogError } from '../util/errors.js';

/** A prepared event's document, as JSON (for a collision's record: the store keeps no documents). */
function preparedDoc(e: PreparedEvent): string {
  return JSON.stringify(rebuildDocument(e.record, { logType: e.logType, source: e.typeSource as LogTypeSource, candidates: e.candidates }));
}

export interface Checkpoint {
  readonly source: string;
  readonly position: number;
  readonly complete: boolean;
  readonly identity: string | null;
  readonly cursor: string | null;
  readonly updatedAt: number;
  /** The newest event time stored through this checkpoint. */
  readonly newestEventMs: number | null;
  /** The newest event time stored through this checkpoint, per log type. */
  readonly newestByType: Readonly<Record<string, number>>;
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

/** What a remote sink did with a unit's events. */
export interface Delivery {
  readonly indexed: number;
  readonly duplicates: number;
  readonly collisions: readonly CollisionRow[];
  /** Documents the engine refused (mapping or validation errors), with its reason. */
  readonly rejected: readonly PreparedDeadLetter[];
}

export interface StoredDeadLetter extends DeadLetter {
  readonly rowid: number;
  readonly replayAttempts: number;
}

/** The store cannot be opened or used; the message names the path and the cause. */

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

function migrate(db: Database.Database): void {
  const version = db.pragma('user_version', { simple: true }) as number;
  if (version > MIGRATIONS.length) throw new Error(`store was written by a newer mimelog (schema ${version})`);
  if (version === MIGRATIONS.length) return;
  db.transaction(() => {
    for (let v = version; v < MIGRATIONS.length; v++) {
      const m = MIGRATIONS[v]!;
      if (typeof m === 'string') db.exec(m);
      else m(db);
    }
    db.pragma(`user_version = ${MIGRATIONS.length}`);
  }).immediate();
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
  private readonly insertDeadLetter: Database.Statement;
  private readonly upsertCheckpoint: Database.Statement;
  private readonly insertGap: Database.Statement;
  private readonly bumpNewestByType: Database.Statement;
  private readonly ageOutWorkItems: Database.Statement;
  private readonly bumpCounter: Database.Statement;
  private readonly bumpDrift: Database.Statement;
  private readonly upsertWorkItem: Database.Statement;
  private readonly queueWorkItem: Database.Statement;
  private readonly writeUnitTx: (unit: PreparedUnit, update: CheckpointUpdate | undefined) => SinkCounts;

  constructor(path: string, options: { readonly?: boolean } = {}) {
    if (options.readonly) upgradeIfOlder(path);
    this.db = openDatabase(path, options.readonly ?? false);
    if (!options.readonly) {
      try {
        // A new store gives pages freed by retention back to the file system. This takes effect only
        // before the first table and before WAL (an older store reuses freed pages for new events).
        if ((this.db.pragma('page_count', { simple: true }) as number) === 0) this.db.pragma('auto_vacuum = INCREMENTAL');
        this.db.pragma('journal_mode = WAL');
        this.db.pragma('synchronous = NORMAL'); // WAL + NORMAL: durable across process crashes; a power loss may drop the last commits, never corrupt.
        // Checkpoint every 64 MiB of WAL, not every 4 MiB: a unit dirties index pages all over the
        // store (ids and keys are random), and the same pages are dirtied again by the next units, so
        // fewer checkpoints copy each page fewer times (ingest about 12 % faster at 200k events).
        this.db.pragma('wal_autocheckpoint = 16384');
        this.db.pragma(`journal_size_limit = ${64 * 1024 * 1024}`);
        this.migrate();
      } catch (err) {
        this.db.close();
        throw new MimelogError('store', `cannot use the store ${path}: ${(err as Error).message}`, { cause: err });
      }
    }
    this.db.pragma('busy_timeout = 10000');
    const version = this.db.pragma('user_version', { simple: true }) as number;
    if (version !== MIGRATIONS.length) throw new Error(`store ${path}: schema version ${version}, this mimelog expects ${MIGRATIONS.length}`);
    this.events = new EventWriter(this.db);
    this.findEvent = this.db.prepare(`SELECT ${STORED_COLUMNS}, e.digest = ? AS same FROM events e WHERE e.id = ?`);
    this.insertCollision = this.db.prepare(`INSERT INTO collisions (id, stored_hash, new_hash, stored_doc, new_doc, new_original, source, position, seen_at)
      VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`);
    this.insertDeadLetter = this.db.prepare(`INSERT OR IGNORE INTO dead_letters (source, position, reason, raw, raw_is_text, raw_digest, created_at, truncated_from, cut_short)
      VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`);
    this.upsertCheckpoint = this.db.prepare(`INSERT INTO checkpoints (source, position, complete, identity, cursor, updated_at, newest_event_ms) VALUES (?, ?, ?, ?, ?, ?, ?)
      ON CONFLICT(source) DO UPDATE SET position = excluded.position, complete = excluded.complete,
      identity = coalesce(excluded.identity, identity), cursor = coalesce(excluded.cursor, cursor), updated_at = excluded.updated_at,
      newest_event_ms = max(coalesce(newest_event_ms, excluded.newest_event_ms), coalesce(excluded.newest_event_ms, newest_event_ms))`);
    this.insertGap = this.db.prepare('INSERT INTO gaps (source, from_ms, to_ms, reason, recorded_at, log_type) VALUES (?, ?, ?, ?, ?, ?)');
    this.bumpNewestByType = this.db.prepare(`INSERT INTO checkpoint_types (source, log_type, newest_ms) VALUES (?, ?, ?)
      ON CONFLICT(source, log_type) DO UPDATE SET newest_ms = max(newest_ms, excluded.newest_ms)`);
    this.bumpCounter = this.db.prepare('INSERT INTO counters (name, value) VALUES (?, ?) ON CONFLICT(name) DO UPDATE SET value = value + excluded.value');
    this.bumpDrift = this.db.prepare(`INSERT INTO drift_keys (key, count, last_seen) VALUES (?, ?, ?)
      ON CONFLICT(key) DO UPDATE SET count = count + excluded.count, last_seen = excluded.last_seen`);
    this.upsertWorkItem = this.db.prepare(`INSERT INTO work_items (stream, key, state, detail, updated_at) VALUES (?, ?, ?, ?, ?)
      ON CONFLICT(stream, key) DO UPDATE SET state = excluded.state, detail = excluded.detail, updated_at = excluded.updated_at`);
    this.queueWorkItem = this.db.prepare(`INSERT INTO work_items (stream, key, state, page_token, expires_at, updated_at) VALUES (?, ?, 'pending', ?, ?, ?)
      ON CONFLICT(stream, key) DO UPDATE SET state = 'pending', page_token = excluded.page_token, expires_at = excluded.expires_at, updated_at = excluded.updated_at
      WHERE state IN ('pending', 'aged-out')`);
    this.ageOutWorkItems = this.db.prepare(`UPDATE work_items SET state = 'aged-out', detail = 'aged out at Mimecast before it was fetched', updated_at = ?
      WHERE stream = ? AND state = 'pending'`);
    const writeTx = this.db.transaction((unit: PreparedUnit, update: CheckpointUpdate | undefined) => this.writeUnitNow(unit, update));
    this.writeUnitTx = (unit, update) => this.rollingBack(() => writeTx.immediate(unit, update));
  }

  private migrate(): void {
    migrate(this.db);
  }

  /** Stores a unit and moves its input's checkpoint, atomically. */
  writeUnit(unit: Unit, update?: CheckpointUpdate): SinkCounts {
    return this.writePrepared(prepareUnit(unit), update);
  }

  /** The same, for a unit already turned into rows (see prepared.ts; the ingest worker uses this). */
  writePrepared(unit: PreparedUnit, update?: CheckpointUpdate): SinkCounts {
    return this.writeUnitTx(unit, update);
  }

  /** Runs a write transaction; when it rolls back, name codes it added are forgotten with it. */
  private rollingBack<T>(write: () => T): T {
    try {
      return write();
    } catch (err) {
      this.events.names.forget();
      throw err;
    }
  }

  private writeUnitNow(unit: PreparedUnit, update: CheckpointUpdate | undefined): SinkCounts {
    const now = Date.now();
    const counts = this.storeEvents(unit, now);
    this.finishUnit(unit, unit.deadLetters, update, counts, now);
    return counts;
  }

  /**
   * A remote sink's bookkeeping for one unit, atomically: what the engine acknowledged (counts),
   * collisions it found, documents it rejected (as dead letters), then the unit's checkpoint.
   * Called only once every event of the unit has one of those outcomes.
   */
  recordDelivery(unit: PreparedUnit, delivery: Delivery, update?: CheckpointUpdate): SinkCounts {
    return this.db.transaction(() => {
      const now = Date.now();
      for (const c of delivery.collisions) {
        this.insertCollision.run(c.id, c.storedHash, c.newHash, c.storedDoc, c.newDoc, c.newOriginal, unit.source, c.position, now);
      }
      const counts: SinkCounts = { stored: delivery.indexed, duplicates: delivery.duplicates, collisions: delivery.collisions.length, deadLetters: 0 };
      if (delivery.indexed > 0) this.bumpCounter.run('indexed', delivery.indexed);
      for (const name of ['duplicates', 'collisions'] as const) if (counts[name] > 0) this.bumpCounter.run(name, counts[name]);
      for (const [k, n] of unit.drift) this.bumpDrift.run(k, n, now);
      this.finishUnit(unit, [...unit.deadLetters, ...delivery.rejected], update, counts, now);
      return counts;
    }).immediate();
  }

  /** Dead letters, work item and checkpoint: the end of every unit's transaction. */
  private finishUnit(unit: PreparedUnit, deadLetters: readonly PreparedDeadLetter[], update: CheckpointUpdate | undefined, counts: SinkCounts, now: number): void {
    for (const d of deadLetters) this.insertDeadLetter.run(d.source, d.position, d.reason, d.raw, d.isText ? 1 : 0, d.digest, now, d.truncatedFrom, d.cutShort ? 1 : 0);
    counts.deadLetters = deadLetters.length;
    if (counts.deadLetters > 0) this.bumpCounter.run('deadLetters', counts.deadLetters);
    if (update?.agedOut) this.ageOutWorkItems.run(now, update.agedOut.stream);
    const listed = update?.listed;
    if (listed) for (const i of listed.items) this.queueWorkItem.run(listed.stream, i.key, listed.pageToken, i.expiry ?? null, now);
    const item = update?.workItem;
    if (item) this.upsertWorkItem.run(item.stream, item.key, item.state, item.detail ?? null, now);
    if (update?.moveCheckpoint === false) return;
    const key = update?.key ?? unit.source;
    for (const g of update?.gaps ?? []) this.insertGap.run(key, g.fromMs, g.toMs, g.reason, now, g.logType ?? null);
    this.upsertCheckpoint.run(key, update?.position ?? unit.position, unit.last ? 1 : 0, update?.identity ?? null, update?.cursor ?? null, now, unit.newestEventMs ?? null);
    for (const [type, ms] of unit.newestByType) this.bumpNewestByType.run(key, type, ms);
  }

  /** Stores a unit's events (not its dead letters or checkpoint) and bumps the counters. */
  private storeEvents(unit: PreparedUnit, now: number): SinkCounts {
    const counts = noCounts();
    const fresh = new Map<string, PreparedEvent>();
    for (const e of unit.events) {
      const earlier = fresh.get(e.id);
      if (earlier) this.compareWithEarlier(earlier, e, counts, now);
      else if (this.compareWithStored(e, counts, now)) fresh.set(e.id, e);
    }
    this.events.insert([...fresh.values()]);
    counts.stored = fresh.size;
    for (const [k, n] of unit.drift) this.bumpDrift.run(k, n, now);
    for (const name of ['stored', 'duplicates', 'collisions'] as const) if (counts[name] > 0) this.bumpCounter.run(name, counts[name]);
    return counts;
  }

  /** True when the id is new; else the event is counted as a duplicate or kept as a collision. */
  private compareWithStored(e: PreparedEvent, counts: SinkCounts, now: number): boolean {
    const stored = this.findEvent.get(e.digest, storedId(e.id)) as (StoredRow & { same: number }) | undefined;
    if (stored === undefined) return true;
    if (stored.same === 1) counts.duplicates++;
    else {
      // The row keeps only 64 bits of the digest: the whole one comes from the rebuilt document.
      const { doc, docText } = new EventReader(this.db).rebuild(stored);
      this.keepCollision({ doc: docText, hash: String(doc.event?.hash ?? '') }, e, counts, now);
    }
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
      for (const unit of units) addCounts(total, this.storeEvents(prepareUnit(unit), Date.now()));
      this.deleteDeadLetter(rowid);
      return total;
    }).immediate());
  }

  /** Replay into a remote sink: the dead letter's events were delivered elsewhere; drop it. */
  deleteDeadLetter(rowid: number): void {
    this.db.prepare('DELETE FROM dead_letters WHERE rowid = ?').run(rowid);
  }

  markReplayFailed(rowid: number, reason: string): void {
    this.db.prepare('UPDATE dead_letters SET replay_attempts = replay_attempts + 1, reason = ? WHERE rowid = ?').run(reason, rowid);
  }

  deadLetterIds(): number[] {
    return (this.db.prepare('SELECT rowid FROM dead_letters ORDER BY rowid').all() as { rowid: number }[]).map((r) => r.rowid);
  }

  deadLetter(rowid: number): StoredDeadLetter | undefined {
    const row = this.db.prepare('SELECT rowid, source, position, reason, raw, raw_is_text, replay_attempts, truncated_from, cut_short FROM dead_letters WHERE rowid = ?').get(rowid) as
      | { rowid: number; source: string; position: number; reason: string; raw: Buffer; raw_is_text: number; replay_attempts: number; truncated_from: number | null; cut_short: number }
      | undefined;
    if (!row) return undefined;
    return {
      rowid: row.rowid, source: row.source, position: row.position, reason: row.reason, raw: row.raw_is_text ? row.raw.toString('utf8') : row.raw,
      replayAttempts: row.replay_attempts, truncatedFrom: row.truncated_from ?? undefined, cutShort: row.cut_short === 1,
    };
  }

  checkpoint(source: string): Checkpoint | undefined {
    const row = this.db.prepare('SELECT source, position, complete, identity, cursor, updated_at, newest_event_ms FROM checkpoints WHERE source = ?').get(source) as
      | { source: string; position: number; complete: number; identity: string | null; cursor: string | null; updated_at: number; newest_event_ms: number | null }
      | undefined;
    return row && {
      source: row.source, position: row.position, complete: row.complete === 1, identity: row.identity, cursor: row.cursor, updatedAt: row.updated_at, newestEventMs: row.newest_event_ms,
      newestByType: Object.fromEntries((this.db.prepare('SELECT log_type, newest_ms FROM checkpoint_types WHERE source = ?').all(source) as { log_type: string; newest_ms: number }[])
        .map((t) => [t.log_type, t.newest_ms])),
    };
  }

  /** The final state of a work-queue item (done, dead), or undefined while it is still to do. */
  workItemState(stream: string, key: string): string | undefined {
    const row = this.db.prepare("SELECT state FROM work_items WHERE stream = ? AND key = ? AND state IN ('done', 'dead')").get(stream, key) as { state: string } | undefined;
    return row?.state;
  }

  counter(name: string): number {
    const row = this.db.prepare('SELECT value FROM counters WHERE name = ?').get(name) as { value: number } | undefined;
    return row?.value ?? 0;
  }

  close(): void {
    this.db.close();
  }
}
