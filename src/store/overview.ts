/**
 * The console's overview: what `stats` counts, plus events per hour (from the store's hourly counts), and for
 * every API checkpoint how much of Mimecast's horizon is left. The page that shows nothing was lost.
 */
import type Database from 'better-sqlite3';
import { horizonOf } from '../mimecast/horizons.js';
import { type StatsReport, stats } from './queries.js';
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

export interface Overview {
  readonly generated_at: string;
  readonly stats: StatsReport;
  readonly last_24h: HourlySeries;
  readonly last_7d: HourlySeries;
  readonly headroom: SourceHeadroom[];
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

export function overview(store: Store, now = Date.now()): Overview {
  const report = stats(store);
  const headroom: SourceHeadroom[] = [];
  for (const c of report.checkpoints) {
    const h = horizonOf(c.source);
    if (!h) continue;
    const age = Math.max(0, now - Date.parse(c.updated_at));
    headroom.push({ source: c.source, feed: h.feed, horizon_hours: h.horizonMs / HOUR_MS, checkpoint_age_seconds: Math.round(age / 1000), headroom_seconds: Math.round((h.horizonMs - age) / 1000) });
  }
  return { generated_at: new Date(now).toISOString(), stats: report, last_24h: hourly(store.db, now, 24), last_7d: hourly(store.db, now, 7 * 24), headroom };
}
