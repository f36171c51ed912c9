/**
 * Each source's health for `/readyz` and the metrics: its state and why, and for each of its
 * checkpoints the age, lag and horizon headroom read from the store.
 */
import type { MiddlewareHandler } from 'hono';
import { lagSeconds } from '../core/trusted-time.js';
import { horizonOf } from '../mimecast/horizons.js';
import type { Store } from '../store/store.js';
import { hostAllowed, isLoopback } from '../util/listen.js';

/**
 * Refuses (421) a request to /readyz or /metrics whose Host header is not one the service answers
 * to (util/listen.ts `hostAllowed`): a web page using DNS rebinding would otherwise read the
 * sources' names, states and failure reasons from a browser on this machine.
 */
export function hostCheck(listenHost: string, allowedHosts: readonly string[]): MiddlewareHandler {
  return async (c, next) => {
    if (!hostAllowed(c.req.header('host'), listenHost, allowedHosts)) {
      return c.text('mimelog: this Host is not one the service answers to: use its address, localhost, or a name listed in allowed_hosts\n', 421);
    }
    await next();
  };
}

/**
 * The warning for a listen address other than loopback (`--check` and the start log say it):
 * health and metrics have no token, so who can reach the address can read them.
 */
export function exposureWarning(listen: string, host: string): string | undefined {
  if (isLoopback(host)) return undefined;
  return `listen ${listen} is not loopback: anyone who can connect to it can read /readyz (source names, states and failure reasons) and /metrics, which have no token; listen on 127.0.0.1 or firewall the port to the scraper`;
}

export type SourceState = 'starting' | 'ok' | 'degraded' | 'failing' | 'stopped';

export interface CheckpointHealth {
  readonly name: string;
  readonly horizon_seconds?: number;
  readonly age_seconds?: number;
  readonly headroom_seconds?: number;
  readonly lag_seconds: number | null;
  /** Its last pass reached the newest data Mimecast had (README, under `stats`: "caught up"). */
  readonly caught_up: boolean;
  /** Events whose own time was not believed (core/trusted-time.ts). */
  readonly untrusted_time_events: number;
  readonly pending: number;
}

export interface SourceHealth {
  readonly name: string;
  readonly kind: string;
  readonly state: SourceState;
  readonly reason?: string;
  readonly restarts: number;
  readonly checkpoints: readonly CheckpointHealth[];
  /** Gaps recorded for its checkpoints, and the newest of them. */
  readonly gaps: number;
  readonly lost_seconds: number;
  readonly last_gap?: { from: string; to: string; recorded_at: string };
}

/** A pass that ended early keeps its source degraded this long (each such pass renews it). */
const EARLY_END_ALARM_MS = 3_600_000;

/** A gap keeps its source degraded this long after it was recorded, so nobody misses it. */
const GAP_ALARM_MS = 24 * 3_600_000;

/** What the runner knows of a source between store reads. */
export interface SourceStatus {
  readonly name: string;
  readonly kind: string;
  /** Its checkpoint names in the store (one per API 2.0 batch type). */
  readonly checkpointNames: readonly string[];
  /** elsewhere: with cluster:, another replica holds its lease (or nobody yet). */
  running: 'starting' | 'running' | 'failing' | 'stopped' | 'elsewhere';
  failure?: string;
  /** The last pass that ended early (a runaway page token), and when: the source is degraded for a while after. */
  degraded?: { readonly reason: string; readonly atMs: number };
  restarts: number;
  /** Calls failing since `sinceMs` (unreachable, refused, 5xx), the newest reason; cleared by a successful call. */
  trouble?: { reason: string; readonly sinceMs: number };
}

/** How long a source may be in trouble before it is failing, and the horizon share that makes it degraded. */
export interface HealthLimits {
  readonly warningShare: number;
  readonly failingAfterS: number;
}

const STATE_ORDER: readonly SourceState[] = ['ok', 'starting', 'stopped', 'degraded', 'failing'];

export function worst(states: readonly SourceState[]): SourceState {
  return states.reduce<SourceState>((w, s) => (STATE_ORDER.indexOf(s) > STATE_ORDER.indexOf(w) ? s : w), 'ok');
}

const duration = (s: number) => (Math.abs(s) < 120 ? `${Math.round(s)} s` : Math.abs(s) < 7200 ? `${Math.round(s / 60)} min` : `${(s / 3600).toFixed(1)} h`);

export function sourceHealth(store: Store, status: SourceStatus, limits: HealthLimits, now = Date.now()): SourceHealth {
  const read = store.db.prepare('SELECT updated_at, newest_event_ms, untrusted_time_events, complete FROM checkpoints WHERE source = ?');
  const pending = store.db.prepare("SELECT count(*) AS n FROM work_items WHERE stream = ? AND state = 'pending'");
  const checkpoints: CheckpointHealth[] = status.checkpointNames.map((name) => {
    const row = read.get(name) as { updated_at: number; newest_event_ms: number | null; untrusted_time_events: number; complete: number } | undefined;
    const horizon = horizonOf(name);
    const age = row ? Math.max(0, Math.round((now - row.updated_at) / 1000)) : undefined;
    return {
      name,
      horizon_seconds: horizon && horizon.horizonMs / 1000,
      age_seconds: age,
      headroom_seconds: horizon && age !== undefined ? horizon.horizonMs / 1000 - age : undefined,
      lag_seconds: lagSeconds(row?.newest_event_ms, now),
      caught_up: row?.complete === 1,
      untrusted_time_events: row?.untrusted_time_events ?? 0,
      pending: (pending.get(name) as { n: number }).n,
    };
  });
  const placeholders = status.checkpointNames.map(() => '?').join(', ') || "''";
  const gapRows = store.db.prepare(`SELECT from_ms, to_ms, recorded_at FROM gaps WHERE source IN (${placeholders}) ORDER BY recorded_at`).all(...status.checkpointNames) as
    { from_ms: number; to_ms: number; recorded_at: number }[];
  const lastGap = gapRows.at(-1);
  const base = {
    name: status.name, kind: status.kind, restarts: status.restarts, checkpoints,
    gaps: gapRows.length, lost_seconds: Math.round(gapRows.reduce((n, g) => n + (g.to_ms - g.from_ms), 0) / 1000),
    last_gap: lastGap && { from: new Date(lastGap.from_ms).toISOString(), to: new Date(lastGap.to_ms).toISOString(), recorded_at: new Date(lastGap.recorded_at).toISOString() },
  };
  // Its checkpoints here are this replica's last copy: whoever holds the lease judges its health.
  if (status.running === 'elsewhere') return { ...base, state: 'ok', reason: 'not run by this replica (another one holds its lease)' };
  if (status.running === 'failing') return { ...base, state: 'failing', reason: status.failure };
  const trouble = status.trouble && troubleHealth(status.trouble, limits.failingAfterS, now);
  if (trouble?.state === 'failing') return { ...base, ...trouble };
  const low = checkpoints.find((c) => c.headroom_seconds !== undefined && c.horizon_seconds !== undefined && c.headroom_seconds < c.horizon_seconds * limits.warningShare);
  if (low) {
    const left = low.headroom_seconds!;
    return {
      ...base,
      state: left <= 0 ? 'failing' : 'degraded',
      reason: left <= 0
        ? `${low.name}: past Mimecast's horizon by ${duration(-left)}: data older than ${duration(low.horizon_seconds!)} that was not collected is gone; collect now and look for a gap`
        : `${low.name}: ${duration(left)} left before Mimecast drops data not yet collected (horizon ${duration(low.horizon_seconds!)}, checkpoint last moved ${duration(low.age_seconds!)} ago): check that mimelog reaches Mimecast and keeps up`,
    };
  }
  if (trouble) return { ...base, ...trouble };
  if (lastGap && now - lastGap.recorded_at < GAP_ALARM_MS) {
    return {
      ...base,
      state: 'degraded',
      reason: `gap recorded ${new Date(lastGap.recorded_at).toISOString()}: the events between ${new Date(lastGap.from_ms).toISOString()} and ${new Date(lastGap.to_ms).toISOString()} aged out at Mimecast before they were collected (see mimelog stats)`,
    };
  }
  if (status.degraded && now - status.degraded.atMs < EARLY_END_ALARM_MS) return { ...base, state: 'degraded', reason: status.degraded.reason };
  if (status.running === 'starting') return { ...base, state: 'starting', reason: 'has not stored anything yet' };
  if (status.running === 'stopped') return { ...base, state: 'stopped' };
  return { ...base, state: 'ok' };
}

/** Failing calls: degraded at once, failing once no call has succeeded for `failingAfterS`. */
function troubleHealth(trouble: NonNullable<SourceStatus['trouble']>, failingAfterS: number, now: number): { state: SourceState; reason: string } {
  const forS = Math.max(0, (now - trouble.sinceMs) / 1000);
  const since = `no successful call to Mimecast for ${duration(forS)}`;
  return forS >= failingAfterS
    ? { state: 'failing', reason: `${trouble.reason} (${since}, failing after ${duration(failingAfterS)}: check the network, the url or region, and the credentials)` }
    : { state: 'degraded', reason: `${trouble.reason} (${since}; failing after ${duration(failingAfterS)})` };
}
