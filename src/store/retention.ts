/**
 * Retention: removes events older than N days (by their own time) from the embedded store, in
 * small transactions, so ingest waits at most one batch; then gives the freed pages back to the
 * file system where the store allows it (incremental auto-vacuum). Dead letters, collisions, gaps,
 * checkpoints and counters are never removed: they are the record of what happened.
 */
import type Database from 'better-sqlite3';
import { type IndexedFields, textKey } from './documents.js';
import { EventReader, ROLE, STORED_COLUMNS, type StoredRow } from './event-rows.js';
import { DamagedBlocks } from './record-blocks.js';
import { hasDictionaries } from './block-dictionaries.js';
import { RETAG_CROSS_ROW, crossRowsToRetag } from './cross-version.js';
import { MimelogError } from '../util/errors.js';

const DAY_MS = 86_400_000;

/**
 * The shortest retention allowed. A collector that restarts (an invalid API 1.0 token, a batch
 * listing started again) re-reads up to 7 days of files; events deleted younger than that would
 * come back and be stored again as new. One day more than that horizon leaves none to come back.
 */
export const MIN_RETAIN_DAYS = 8;
/** The longest retention: a century. Far longer ones make a cutoff no date can hold. */
export const MAX_RETAIN_DAYS = 36_500;

/** Events removed per transaction: tens of milliseconds (their address rows lie scattered through that index), so a writer waits only that long. */
const BATCH = 500;
/** Pages given back per step of the incremental vacuum (2 MiB at 4 KiB pages; tens of milliseconds). */
const VACUUM_PAGES = 500;

export interface RetentionResult {
  readonly cutoffMs: number;
  readonly eventsRemoved: number;
  /** Of them, events whose record block was damaged: removed by their rows alone (their records could not be read). */
  readonly damagedEventsRemoved: number;
  readonly batches: number;
  /** The longest one batch's transaction took: how long ingest may have waited. */
  readonly longestBatchMs: number;
  readonly bytesBefore: number;
  readonly bytesAfter: number;
}


/** Refuses a retention that would let deleted events come back as new. */
export function checkRetainDays(days: number): void {
  if (!Number.isInteger(days) || days < MIN_RETAIN_DAYS) {
    throw new MimelogError('retention', `retention of ${days} days is shorter than ${MIN_RETAIN_DAYS}: a collector that restarts re-reads up to 7 days of Mimecast's files, and events deleted sooner would be stored again as new`);
  }
  if (days > MAX_RETAIN_DAYS) throw new MimelogError('retention', `retention of ${days} days is longer than ${MAX_RETAIN_DAYS} (a century): no cutoff date that far back exists`);
}

/** The oldest time a Date can hold (ECMAScript's range), in ms. */
const MIN_TIME_MS = -8.64e15;

/**
 * One retention pass at a time per store: the pass holds a lease (two rows of `counters`, taken in
 * a write transaction) and renews it as it works. A second pass would delete the events the first
 * one is about to read, and their blocks with them; it is refused, plainly. A lease whose process
 * is gone (on this host) or that was not renewed for `LEASE_STALE_MS` is taken over.
 */
const LEASE = { pid: 'retention_pass_pid', beat: 'retention_pass_beat' } as const;
const LEASE_STALE_MS = 60_000;

function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

class RetentionLease {
  private readonly read: Database.Statement;
  private readonly write: Database.Statement;
  private readonly drop: Database.Statement;

  constructor(private readonly db: Database.Database) {
    this.read = db.prepare(`SELECT (SELECT value FROM counters WHERE name = '${LEASE.pid}') AS pid, (SELECT value FROM counters WHERE name = '${LEASE.beat}') AS beat`);
    this.write = db.prepare('INSERT INTO counters (name, value) VALUES (?, ?) ON CONFLICT(name) DO UPDATE SET value = excluded.value');
    this.drop = db.prepare(`DELETE FROM counters WHERE name IN ('${LEASE.pid}', '${LEASE.beat}') AND (SELECT value FROM counters WHERE name = '${LEASE.pid}') = ?`);
  }

  take(): void {
    // Two passes of one process (a service and a test) share the pid: they are told apart here.
    if (RetentionLease.held.has(this.db.name)) throw new MimelogError('retention', 'another retention pass of this process is running on this store: this one removed nothing');
    this.db.transaction(() => {
      const held = this.read.get() as { pid: number | null; beat: number | null };
      if (held.pid !== null && held.pid !== process.pid && held.beat !== null && Date.now() - held.beat < LEASE_STALE_MS && processAlive(held.pid)) {
        throw new MimelogError('retention', `another retention pass is running on this store (process ${held.pid}, active ${Math.round((Date.now() - held.beat) / 1000)} s ago): this one removed nothing; run it again once that one has ended`);
      }
      this.renew();
    }).immediate();
    RetentionLease.held.add(this.db.name);
  }

  private static readonly held = new Set<string>();

  /** Called inside the pass's own write transactions. */
  renew(): void {
    this.write.run(LEASE.pid, process.pid);
    this.write.run(LEASE.beat, Date.now());
  }

  release(): void {
    RetentionLease.held.delete(this.db.name);
    this.drop.run(process.pid);
  }
}

/** SQLite's "database is locked" said as what it means for a retention pass. */
function plainBusy(err: unknown): unknown {
  if ((err as { code?: string }).code !== 'SQLITE_BUSY') return err;
  return new MimelogError('retention', 'the store stayed locked by another writer for longer than its busy timeout (a `retain --compact` rewriting it, or another long write): this pass stopped after what it had removed; run it again later');
}

/** Bytes the store's pages hold (the file's pages less its free ones). */
export function bytesInUse(db: Database.Database): number {
  const pages = db.pragma('page_count', { simple: true }) as number;
  const free = db.pragma('freelist_count', { simple: true }) as number;
  const size = db.pragma('page_size', { simple: true }) as number;
  return (pages - free) * size;
}

/**
 * One retention pass: events with a time before now − `days` are removed, oldest first, with
 * their addresses, full-text entries and hourly counts, yielding to the event loop between
 * batches (the service's collectors write there); `stop` ends the pass after the batch in hand.
 *
 * Give the pass its own connection when others write. Each batch's address and indicator rows
 * are found from the events' documents, rebuilt before its transaction, so the transaction only
 * deletes rows by their keys.
 */
export async function retain(
  db: Database.Database, days: number, options: { now?: number; stop?: AbortSignal } = {},
): Promise<RetentionResult> {
  checkRetainDays(days);
  const lease = new RetentionLease(db);
  try {
    lease.take();
  } catch (err) {
    throw plainBusy(err);
  }
  try {
    return await retainLeased(db, days, lease, options);
  } catch (err) {
    throw plainBusy(err);
  } finally {
    lease.release();
  }
}

/**
 * A dictionary is a copy of an earlier block's records (block-dictionaries.ts): once no block is
 * deflated against it, it goes too, so no mail metadata outlives the retention in one. The newest
 * stays: the writer deflates its next blocks against it.
 */
function dropUnusedDictionaries(db: Database.Database): number {
  if (!hasDictionaries(db)) return 0;
  return db.prepare(`DELETE FROM record_dictionaries WHERE id < (SELECT max(id) FROM record_dictionaries)
    AND id NOT IN (SELECT DISTINCT dictionary FROM record_blocks WHERE dictionary IS NOT NULL)`).run().changes;
}

async function retainLeased(
  db: Database.Database, days: number, lease: RetentionLease, options: { now?: number; stop?: AbortSignal },
): Promise<RetentionResult> {
  const cutoffMs = (options.now ?? Date.now()) - days * DAY_MS;
  // Never record a pass whose cutoff no date can hold: every report of the store reads it back.
  if (!Number.isFinite(cutoffMs) || cutoffMs < MIN_TIME_MS) throw new MimelogError('retention', `retention of ${days} days gives a cutoff before the earliest date`);
  const bytesBefore = bytesInUse(db);
  const oldest = db.prepare(`SELECT ${STORED_COLUMNS} FROM events e WHERE e.ts < ? ORDER BY e.ts LIMIT ?`);
  const unindex = db.prepare('DELETE FROM events_fts WHERE rowid IN (SELECT value FROM json_each(?))');
  const unaddress = db.prepare(`DELETE FROM event_addresses WHERE (address, event, role) IN (
    SELECT a.code, j.value ->> 1, j.value ->> 2 FROM json_each(?) j JOIN addresses a ON a.address = j.value ->> 0)`);
  const unindicate = db.prepare('DELETE FROM event_indicators WHERE key = ? AND event = ?');
  // An event of a damaged block has no document to say its addresses and indicators: its rows are
  // found by a scan instead (slow, and only for such events).
  const unaddressUnread = db.prepare('DELETE FROM event_addresses WHERE event IN (SELECT value FROM json_each(?))');
  const unindicateUnread = db.prepare('DELETE FROM event_indicators WHERE event IN (SELECT value FROM json_each(?))');
  const uncount = db.prepare(`UPDATE event_counts SET events = events - removed.n
    FROM (SELECT (e.ts - ((e.ts % 3600000) + 3600000) % 3600000) / 3600000 AS hour, t.name AS log_type, s.name AS type_source, count(*) AS n
          FROM events e JOIN names t ON t.code = e.type JOIN names s ON s.code = e.type_source WHERE e.rowid IN (SELECT value FROM json_each(?)) GROUP BY 1, 2, 3) AS removed
    WHERE event_counts.hour = removed.hour AND event_counts.log_type = removed.log_type AND event_counts.type_source = removed.type_source`);
  const dropEmptyCounts = db.prepare('DELETE FROM event_counts WHERE events <= 0');
  // A block goes with the last of its events (one block holds the events of one write).
  const unblock = db.prepare(`UPDATE record_blocks SET live = live - removed.n
    FROM (SELECT block, count(*) AS n FROM events WHERE rowid IN (SELECT value FROM json_each(?)) GROUP BY block) AS removed WHERE record_blocks.rowid = removed.block`);
  const dropEmptyBlocks = db.prepare('DELETE FROM record_blocks WHERE rowid IN (SELECT DISTINCT block FROM events WHERE rowid IN (SELECT value FROM json_each(?))) AND live <= 0');
  const remove = db.prepare('DELETE FROM events WHERE rowid IN (SELECT value FROM json_each(?))');
  const retag = db.prepare(RETAG_CROSS_ROW).safeIntegers(true);
  const record = db.prepare('INSERT INTO retention_passes (ran_at, cutoff_ms, events_removed) VALUES (?, ?, ?)');
  const bumpRemoved = db.prepare("INSERT INTO counters (name, value) VALUES ('retention_removed', ?) ON CONFLICT(name) DO UPDATE SET value = value + excluded.value");
  const batch = db.transaction((rows: StoredRow[], fields: (IndexedFields | undefined)[], retags: unknown[][]) => {
    lease.renew();
    const rowids = JSON.stringify(rows.map((r) => r.rowid));
    unindex.run(rowids);
    unaddress.run(JSON.stringify(rows.flatMap((r, i) => [...(fields[i]?.from ?? []).map((a) => [a, r.rowid, ROLE.from]), ...(fields[i]?.to ?? []).map((a) => [a, r.rowid, ROLE.to])])));
    rows.forEach((r, i) => { for (const v of fields[i]?.indicators ?? []) unindicate.run(textKey('indicator', v), r.rowid); });
    const unread = JSON.stringify(rows.filter((_, i) => fields[i] === undefined).map((r) => r.rowid));
    if (unread !== '[]') {
      unaddressUnread.run(unread);
      unindicateUnread.run(unread);
    }
    uncount.run(rowids);
    dropEmptyCounts.run();
    unblock.run(rowids);
    dropEmptyBlocks.run(rowids);
    for (const params of retags) retag.run(...params);
    const removed = remove.run(rowids).changes;
    bumpRemoved.run(removed); // with the removal itself: a pass cut short still counts what it removed
    return removed;
  });
  let eventsRemoved = 0;
  let batches = 0;
  let longestBatchMs = 0;
  // A damaged block must not stop retention for good: its events go by their rows, and the block with the last of them.
  const damaged = new DamagedBlocks();
  const reader = new EventReader(db, damaged);
  while (!options.stop?.aborted) {
    const rows = oldest.all(cutoffMs, BATCH) as StoredRow[];
    if (rows.length === 0) break;
    const rebuilt = rows.map((r) => reader.rebuildOrSkip(r));
    const fields = rebuilt.map((r) => r?.fields);
    // Each record decoded once: its cross-version key comes from the decode its document was rebuilt from.
    const retags = crossRowsToRetag(rows.flatMap((r, i) => (rebuilt[i] ? [{ rowid: r.rowid, id: r.id, record: rebuilt[i]!.record, decoded: rebuilt[i]!.decoded, logType: reader.name(r.type) }] : [])));
    const t0 = performance.now();
    eventsRemoved += batch.immediate(rows, fields, retags);
    batches++;
    const batchMs = performance.now() - t0;
    longestBatchMs = Math.max(longestBatchMs, batchMs);
    // Leave the write lock free for as long as the batch held it. A collector waiting for the lock
    // sleeps in SQLite's busy handler, in steps of up to 100 ms, and would miss a lock released
    // for a moment only: back-to-back batches starved its commit for one to two seconds.
    await new Promise<void>((resolve) => setTimeout(resolve, Math.max(5, batchMs)));
  }
  if (eventsRemoved > 0) dropUnusedDictionaries(db);
  record.run(Date.now(), cutoffMs, eventsRemoved);
  // Give the pages back in steps (a store created before incremental auto-vacuum keeps them for new events).
  if ((db.pragma('auto_vacuum', { simple: true }) as number) === 2) {
    while (!options.stop?.aborted && (db.pragma('freelist_count', { simple: true }) as number) > 0) {
      db.pragma(`incremental_vacuum(${VACUUM_PAGES})`);
      lease.renew();
      await new Promise<void>((resolve) => setImmediate(resolve));
    }
  }
  return { cutoffMs, eventsRemoved, damagedEventsRemoved: damaged.skippedEvents, batches, longestBatchMs: Math.round(longestBatchMs), bytesBefore, bytesAfter: bytesInUse(db) };
}
