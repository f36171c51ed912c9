/**
 * The registry of source state, beside the events in the same SQLite file: checkpoints (where a
 * source is, its cursor and identity, the newest event per log type it carried, and what kind of
 * source it is), the API 2.0 work queue, recorded gaps, dead letters and the running counters.
 *
 * It shares the store's connection, so a unit's state commits in the same transaction as the
 * unit's events (`commit` runs inside Store's unit transaction). With a search sink the same file
 * is the local state: the engine holds the events, the registry everything else.
 */
import type Database from 'better-sqlite3';
import type { SinkCounts } from '../core/counts.js';
import type { SourceKind, SourceState } from '../core/sink.js';
import type { DeadLetter } from '../core/unit.js';
import type { PreparedDeadLetter, PreparedUnit } from './prepared.js';
import { FUTURE_SKEW_MS, isTrustedTime, lagSeconds, trustedOrUndefined } from '../core/trusted-time.js';

export interface Checkpoint {
  readonly source: string;
  readonly kind: SourceKind;
  readonly position: number;
  readonly complete: boolean;
  readonly identity: string | null;
  readonly cursor: string | null;
  readonly updatedAt: number;
  /** The newest event time stored through this checkpoint (null when none is believable now). */
  readonly newestEventMs: number | null;
  /** The same, per log type (API 1.0: where a gap of that type would begin). */
  readonly newestByType: Readonly<Record<string, number>>;
}

export interface StoredDeadLetter extends DeadLetter {
  readonly rowid: number;
  readonly replayAttempts: number;
}

/** A checkpoint row's columns. */
interface CheckpointRow {
  readonly key: string;
  readonly position: number;
  readonly identity: string | null;
  readonly cursor: string | null;
}

/**
 * Where each kind of source state lands in its checkpoint row; undefined: the state moves no
 * checkpoint (an API 2.0 step that only changes the work queue).
 */
function checkpointRow(state: SourceState, unit: PreparedUnit): CheckpointRow | undefined {
  switch (state.kind) {
    case 'file':
      return { key: unit.source, position: unit.position, identity: state.identity ?? null, cursor: null };
    case 'mimecast-v1':
      return { key: state.key, position: state.filesDone, identity: null, cursor: state.token ?? null };
    case 'mimecast-v2':
      return state.pageToken === undefined ? undefined : { key: state.key, position: unit.position, identity: null, cursor: state.pageToken };
    case 'mimecast-v2-stream':
      return { key: state.key, position: 0, identity: null, cursor: state.token };
    case 'mimecast-v2-feed':
      return { key: state.key, position: 0, identity: null, cursor: String(state.windowEndMs) };
  }
}

/** An API source's checkpoint as `stats` shows it. */
export interface ApiStream {
  stream: string;
  kind: SourceKind;
  caught_up: boolean;
  /** Seconds between now and the newest event stored from it (null: none, or none believable). */
  lag_seconds: number | null;
  /** Events read whose own time was not believed (core/trusted-time.ts): stored, but no bound. */
  untrusted_time_events: number;
  /** Files: see FILE_COUNTS; null where the kind of source cannot say. */
  pending: number | null;
  done: number | null;
  dead_lettered: number | null;
  updated_at: string;
}

type FileCounts = Pick<ApiStream, 'pending' | 'done' | 'dead_lettered'>;
const NO_FILES: FileCounts = { pending: null, done: null, dead_lettered: null };

/**
 * What each kind of API source knows of its files: an API 2.0 batch type its work queue; API 1.0
 * the files it stored (its checkpoint's position: it never knows what is still to come, and a
 * file it dead-letters is a dead letter, not a state); the stream and the feeds read no files.
 */
const FILE_COUNTS: Record<Exclude<SourceKind, 'file'>, (r: { position: number; pending: number; done: number; dead: number }) => FileCounts> = {
  'mimecast-v2': (r) => ({ pending: r.pending, done: r.done, dead_lettered: r.dead }),
  'mimecast-v1': (r) => ({ ...NO_FILES, done: r.position }),
  'mimecast-v2-stream': () => NO_FILES,
  'mimecast-v2-feed': () => NO_FILES,
};

export type CounterName = 'stored' | 'duplicates' | 'collisions' | 'deadLetters' | 'indexed' | 'retention_removed';

/** What one destination did with one unit (the counts of store.ts `Delivery`). */
export interface DeliveryTally {
  readonly indexed: number;
  readonly duplicates: number;
  readonly collisions: { readonly length: number };
  readonly rejected: { readonly length: number };
  readonly resent: number;
}

/** A destination's running totals (`stats`, `/metrics`, the console). */
export interface DestinationCounts {
  readonly destination: string;
  readonly acknowledged: number;
  readonly duplicates: number;
  readonly collisions: number;
  readonly refused: number;
  readonly resent: number;
  readonly units: number;
  readonly last_unit_at: number;
}

export class SourceRegistry {
  private readonly insertDeadLetter: Database.Statement;
  private readonly upsertCheckpoint: Database.Statement;
  private readonly insertGap: Database.Statement;
  private readonly bumpNewestByType: Database.Statement;
  private readonly ageOutWorkItems: Database.Statement;
  private readonly bumpCounter: Database.Statement;
  private readonly bumpDrift: Database.Statement;
  private readonly upsertWorkItem: Database.Statement;
  private readonly queueWorkItem: Database.Statement;
  private readonly bumpDestination: Database.Statement;

  constructor(private readonly db: Database.Database) {
    this.bumpDestination = db.prepare(`INSERT INTO destination_counts (destination, acknowledged, duplicates, collisions, refused, resent, units, last_unit_at)
      VALUES (?, ?, ?, ?, ?, ?, 1, ?) ON CONFLICT(destination) DO UPDATE SET acknowledged = acknowledged + excluded.acknowledged,
      duplicates = duplicates + excluded.duplicates, collisions = collisions + excluded.collisions, refused = refused + excluded.refused,
      resent = resent + excluded.resent, units = units + 1, last_unit_at = excluded.last_unit_at`);
    this.insertDeadLetter = db.prepare(`INSERT OR IGNORE INTO dead_letters (source, position, reason, raw, raw_is_text, raw_digest, created_at, truncated_from, cut_short, feed)
      VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`);
    // A newest time stored beyond @horizon (now + skew: written before times were checked, or the
    // clock moved back since) is no bound: the unit's own newest replaces it.
    this.upsertCheckpoint = db.prepare(`INSERT INTO checkpoints (source, kind, position, complete, identity, cursor, updated_at, newest_event_ms, untrusted_time_events) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
      ON CONFLICT(source) DO UPDATE SET kind = excluded.kind, position = excluded.position, complete = excluded.complete,
      identity = coalesce(excluded.identity, identity), cursor = coalesce(excluded.cursor, cursor), updated_at = excluded.updated_at,
      newest_event_ms = iif(newest_event_ms > @horizon, excluded.newest_event_ms,
        max(coalesce(newest_event_ms, excluded.newest_event_ms), coalesce(excluded.newest_event_ms, newest_event_ms))),
      untrusted_time_events = untrusted_time_events + excluded.untrusted_time_events`);
    this.insertGap = db.prepare('INSERT INTO gaps (source, from_ms, to_ms, reason, recorded_at, log_type) VALUES (?, ?, ?, ?, ?, ?)');
    this.bumpNewestByType = db.prepare(`INSERT INTO checkpoint_types (source, log_type, newest_ms) VALUES (?, ?, ?)
      ON CONFLICT(source, log_type) DO UPDATE SET newest_ms = iif(newest_ms > @horizon, excluded.newest_ms, max(newest_ms, excluded.newest_ms))`);
    this.bumpCounter = db.prepare('INSERT INTO counters (name, value) VALUES (?, ?) ON CONFLICT(name) DO UPDATE SET value = value + excluded.value');
    this.bumpDrift = db.prepare(`INSERT INTO drift_keys (key, count, last_seen) VALUES (?, ?, ?)
      ON CONFLICT(key) DO UPDATE SET count = count + excluded.count, last_seen = excluded.last_seen`);
    this.upsertWorkItem = db.prepare(`INSERT INTO work_items (stream, key, state, detail, updated_at) VALUES (?, ?, ?, ?, ?)
      ON CONFLICT(stream, key) DO UPDATE SET state = excluded.state, detail = excluded.detail, updated_at = excluded.updated_at`);
    this.queueWorkItem = db.prepare(`INSERT INTO work_items (stream, key, state, page_token, expires_at, updated_at) VALUES (?, ?, 'pending', ?, ?, ?)
      ON CONFLICT(stream, key) DO UPDATE SET state = 'pending', page_token = excluded.page_token, expires_at = excluded.expires_at, updated_at = excluded.updated_at
      WHERE state IN ('pending', 'aged-out')`);
    this.ageOutWorkItems = db.prepare(`UPDATE work_items SET state = 'aged-out', detail = 'aged out at Mimecast before it was fetched', updated_at = ?
      WHERE stream = ? AND state = 'pending'`);
  }

  /**
   * The end of every unit's transaction: its dead letters, work items, gaps and checkpoint.
   * Runs inside the caller's transaction; sets `counts.deadLetters`.
   */
  commit(unit: PreparedUnit, deadLetters: readonly PreparedDeadLetter[], state: SourceState | undefined, counts: SinkCounts, now: number): void {
    for (const d of deadLetters) this.insertDeadLetter.run(d.source, d.position, d.reason, d.raw, d.isText ? 1 : 0, d.digest, now, d.truncatedFrom, d.cutShort ? 1 : 0, d.feed ?? null);
    counts.deadLetters = deadLetters.length;
    if (counts.deadLetters > 0) this.bump('deadLetters', counts.deadLetters);
    if (state?.kind === 'mimecast-v2') {
      if (state.agedOut) this.ageOutWorkItems.run(now, state.agedOut.stream);
      const listed = state.listed;
      if (listed) for (const i of listed.items) this.queueWorkItem.run(listed.stream, i.key, listed.pageToken, i.expiry ?? null, now);
      const item = state.workItem;
      if (item) this.upsertWorkItem.run(item.stream, item.key, item.state, item.detail ?? null, now);
    }
    if (!state) return;
    const row = checkpointRow(state, unit);
    if (!row) return;
    for (const g of state.gaps ?? []) this.insertGap.run(row.key, g.fromMs, g.toMs, g.reason, now, g.logType ?? null);
    const horizon = { horizon: now + FUTURE_SKEW_MS };
    this.upsertCheckpoint.run(row.key, state.kind, row.position, unit.last ? 1 : 0, row.identity, row.cursor, now, unit.newestEventMs ?? null, unit.untrustedTimes, horizon);
    for (const [type, ms] of unit.newestByType) this.bumpNewestByType.run(row.key, type, ms, horizon);
  }

  /** Adds one unit's outcome at a destination to its totals (inside the unit's transaction). */
  countDelivery(destination: string, t: DeliveryTally, now: number): void {
    this.bumpDestination.run(destination, t.indexed, t.duplicates, t.collisions.length, t.rejected.length, t.resent, now);
  }

  /** Every destination's totals, by name. */
  destinations(): DestinationCounts[] {
    return this.db.prepare('SELECT * FROM destination_counts ORDER BY destination').all() as DestinationCounts[];
  }

  bump(counter: CounterName, n: number): void {
    if (n > 0) this.bumpCounter.run(counter, n);
  }

  /** Keys seen outside the field map (schema drift), with how often. */
  noteDrift(drift: Iterable<readonly [string, number]>, now: number): void {
    for (const [k, n] of drift) this.bumpDrift.run(k, n, now);
  }

  counter(name: CounterName): number {
    const row = this.db.prepare('SELECT value FROM counters WHERE name = ?').get(name) as { value: number } | undefined;
    return row?.value ?? 0;
  }

  checkpoint(source: string): Checkpoint | undefined {
    const row = this.db.prepare('SELECT source, kind, position, complete, identity, cursor, updated_at, newest_event_ms FROM checkpoints WHERE source = ?').get(source) as
      | { source: string; kind: SourceKind; position: number; complete: number; identity: string | null; cursor: string | null; updated_at: number; newest_event_ms: number | null }
      | undefined;
    // Bounds for a restart or a gap: only times still believable now (see trusted-time.ts).
    const now = Date.now();
    return row && {
      source: row.source, kind: row.kind, position: row.position, complete: row.complete === 1, identity: row.identity, cursor: row.cursor, updatedAt: row.updated_at,
      newestEventMs: trustedOrUndefined(row.newest_event_ms, now) ?? null,
      newestByType: Object.fromEntries((this.db.prepare('SELECT log_type, newest_ms FROM checkpoint_types WHERE source = ?').all(source) as { log_type: string; newest_ms: number }[])
        .filter((t) => isTrustedTime(t.newest_ms, now)).map((t) => [t.log_type, t.newest_ms])),
    };
  }

  /** The checkpoints of API sources (not files), with their work queue's counts. */
  apiStreams(): ApiStream[] {
    const rows = this.db.prepare(`SELECT c.source, c.kind, c.position, c.complete, c.updated_at, c.newest_event_ms, c.untrusted_time_events,
        count(w.key) FILTER (WHERE w.state = 'pending') AS pending,
        count(w.key) FILTER (WHERE w.state = 'done') AS done,
        count(w.key) FILTER (WHERE w.state = 'dead') AS dead
      FROM checkpoints c LEFT JOIN work_items w ON w.stream = c.source
      WHERE c.kind <> 'file' GROUP BY c.source ORDER BY c.source`).all() as
      { source: string; kind: Exclude<SourceKind, 'file'>; position: number; complete: number; updated_at: number; newest_event_ms: number | null; untrusted_time_events: number; pending: number; done: number; dead: number }[];
    const now = Date.now();
    return rows.map((r) => ({
      stream: r.source,
      kind: r.kind,
      caught_up: r.complete === 1,
      lag_seconds: lagSeconds(r.newest_event_ms, now),
      untrusted_time_events: r.untrusted_time_events,
      ...FILE_COUNTS[r.kind](r),
      updated_at: new Date(r.updated_at).toISOString(),
    }));
  }

  /** The final state of a work-queue item (done, dead), or undefined while it is still to do. */
  workItemState(stream: string, key: string): string | undefined {
    const row = this.db.prepare("SELECT state FROM work_items WHERE stream = ? AND key = ? AND state IN ('done', 'dead')").get(stream, key) as { state: string } | undefined;
    return row?.state;
  }

  deadLetterIds(): number[] {
    return (this.db.prepare('SELECT rowid FROM dead_letters ORDER BY rowid').all() as { rowid: number }[]).map((r) => r.rowid);
  }

  deadLetter(rowid: number): StoredDeadLetter | undefined {
    const row = this.db.prepare('SELECT rowid, source, position, reason, raw, raw_is_text, replay_attempts, truncated_from, cut_short, feed FROM dead_letters WHERE rowid = ?').get(rowid) as
      | { rowid: number; source: string; position: number; reason: string; raw: Buffer; raw_is_text: number; replay_attempts: number; truncated_from: number | null; cut_short: number; feed: string | null }
      | undefined;
    if (!row) return undefined;
    return {
      rowid: row.rowid, source: row.source, position: row.position, reason: row.reason, raw: row.raw_is_text ? row.raw.toString('utf8') : row.raw,
      replayAttempts: row.replay_attempts, truncatedFrom: row.truncated_from ?? undefined, cutShort: row.cut_short === 1, feed: row.feed ?? undefined,
    };
  }

  /** A dead letter replaced by its events (replay): dropped. */
  deleteDeadLetter(rowid: number): void {
    this.db.prepare('DELETE FROM dead_letters WHERE rowid = ?').run(rowid);
  }

  markReplayFailed(rowid: number, reason: string): void {
    this.db.prepare('UPDATE dead_letters SET replay_attempts = replay_attempts + 1, reason = ? WHERE rowid = ?').run(reason, rowid);
  }
}
