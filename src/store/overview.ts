/**
 * The console's overview: what `stats` counts, plus events per hour (from the store's hourly counts), and for
 * every API checkpoint how much of Mimecast's horizon is left. The page that shows nothing was lost.
 */
import type Database from 'better-sqlite3';
import { horizonOf } from '../mimecast/horizons.js';
import { type CheckpointReport, type StatsReport, checkpointRows, stats } from './queries.js';
import type { ApiStream } from './registry.js';
import type { Store } from './store.js';

const HOUR_MS = 3_600_000;

export interface HourlySeries {
  /** Start of the first hour (ms since the epoch, UTC); one bucket per hour up to `now`. */
  readonly start: number;
  readonly hours: number;
  /** Per log type, events per hour, `hours` numbers each. */
  readonly by_type: Record<string, number[]>;
}

export interface SourceHeadroom {
  readonly source: string;
  readonly feed: string;
  readonly horizon_hours: number;
  /** Time since the checkpoint last moved. */
  readonly checkpoint_age_seconds: number;
  /** Horizon minus checkpoint age: how long the collector may stay down before data is lost. */
  readonly headroom_seconds: number;
}

/** Checkpoints of one kind of source (core/sink.ts SOURCE_KINDS): how many, how many done, when they moved. */
export interface CheckpointKind {
  readonly kind: string;
  readonly checkpoints: number;
  readonly complete: number;
  readonly oldest_update: string;
  readonly newest_update: string;
}

/**
 * The checkpoints, summarised: a spool of many files has one per file (130,000 of them made a
 * 16 MB page that took 30 s to draw). Per kind, and those most in need of a look, at most
 * `CHECKPOINTS_SHOWN`; `mimelog stats --json` lists them all.
 */
export interface CheckpointSummary {
  readonly total: number;
  readonly by_kind: CheckpointKind[];
  /** Incomplete ones first (an input not read to its end), then those updated longest ago. */
  readonly needing_attention: CheckpointReport[];
}

export const CHECKPOINTS_SHOWN = 50;
/** API checkpoints are one per feed or type, but the list is bounded all the same, the smallest headroom first. */
export const HEADROOM_SHOWN = 200;

/** API streams are one per feed or type, but a store may hold thousands (5,000 made a 1.17 MB page): the few needing a look. */
export const API_STREAMS_SHOWN = 50;

/**
 * The order of "needing a look", most first: not caught up, dead-lettered work, work pending, the
 * longest lag (none known last), updated longest ago, then by name. Each key: smaller comes first.
 */
const STREAM_LOOK: readonly ((a: ApiStream) => number | string)[] = [
  (a) => (a.caught_up ? 1 : 0), (a) => -(a.dead_lettered ?? 0), (a) => -(a.pending ?? 0), (a) => -(a.lag_seconds ?? -1), (a) => Date.parse(a.updated_at), (a) => a.stream,
];

function byNeedingALook(a: ApiStream, b: ApiStream): number {
  for (const key of STREAM_LOOK) {
    const x = key(a);
    const y = key(b);
    if (x !== y) return x < y ? -1 : 1;
  }
  return 0;
}

export interface Overview {
  readonly generated_at: string;
  /**
   * What `stats --json` reports, except its checkpoint list (see `checkpoints`), and with its API
   * streams cut to the `API_STREAMS_SHOWN` needing a look most (`api_streams_total` in all).
   */
  readonly stats: Omit<StatsReport, 'checkpoints'>;
  readonly api_streams_total: number;
  readonly checkpoints: CheckpointSummary;
  readonly last_24h: HourlySeries;
  readonly last_7d: HourlySeries;
  /** The API checkpoints with the least headroom first, at most `HEADROOM_SHOWN` (`headroom_total` in all). */
  readonly headroom: SourceHeadroom[];
  readonly headroom_total: number;
}

export function hourly(db: Database.Database, now: number, hours: number): HourlySeries {
  const start = Math.floor(now / HOUR_MS) * HOUR_MS - (hours - 1) * HOUR_MS;
  const first = start / HOUR_MS;
  const rows = db.prepare('SELECT log_type, hour - ? AS bucket, sum(events) AS n FROM event_counts WHERE hour >= ? AND hour < ? GROUP BY log_type, hour')
    .all(first, first, first + hours) as { log_type: string; bucket: number; n: number }[];
  const byType: Record<string, number[]> = {};
  for (const r of rows) (byType[r.log_type] ??= new Array<number>(hours).fill(0))[r.bucket] = r.n;
  return { start, hours, by_type: byType };
}

export function checkpointSummary(db: Database.Database): CheckpointSummary {
  const iso = (ms: number) => new Date(ms).toISOString();
  const kinds = db.prepare('SELECT kind, count(*) AS checkpoints, sum(complete) AS complete, min(updated_at) AS oldest, max(updated_at) AS newest FROM checkpoints GROUP BY kind ORDER BY kind')
    .all() as { kind: string; checkpoints: number; complete: number; oldest: number; newest: number }[];
  return {
    total: kinds.reduce((n, k) => n + k.checkpoints, 0),
    by_kind: kinds.map((k) => ({ kind: k.kind, checkpoints: k.checkpoints, complete: k.complete, oldest_update: iso(k.oldest), newest_update: iso(k.newest) })),
    needing_attention: checkpointRows(db, 'ORDER BY complete, updated_at, source LIMIT ?', CHECKPOINTS_SHOWN),
  };
}

export function overview(store: Store, now = Date.now()): Overview {
  const { checkpoints: _all, ...report } = stats(store, { checkpoints: false });
  const streams = [...report.api_streams].sort(byNeedingALook);
  const headroom: SourceHeadroom[] = [];
  // Local files never age out: only API checkpoints have a horizon.
  for (const c of checkpointRows(store.db, "WHERE kind <> 'file'")) {
    const h = horizonOf(c.source);
    if (!h) continue;
    const age = Math.max(0, now - Date.parse(c.updated_at));
    headroom.push({ source: c.source, feed: h.feed, horizon_hours: h.horizonMs / HOUR_MS, checkpoint_age_seconds: Math.round(age / 1000), headroom_seconds: Math.round((h.horizonMs - age) / 1000) });
  }
  headroom.sort((a, b) => a.headroom_seconds - b.headroom_seconds || (a.source < b.source ? -1 : 1));
  return {
    generated_at: new Date(now).toISOString(), stats: { ...report, api_streams: streams.slice(0, API_STREAMS_SHOWN) }, api_streams_total: streams.length, checkpoints: checkpointSummary(store.db),
    last_24h: hourly(store.db, now, 24), last_7d: hourly(store.db, now, 7 * 24), headroom: headroom.slice(0, HEADROOM_SHOWN), headroom_total: headroom.length,
  };
}
