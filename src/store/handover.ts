/**
 * The hand-over from API 1.0 to API 2.0 (issue 27; README "Moving from API 1.0 to API 2.0").
 *
 * Per log type, API 1.0's stored data ends at its newest event of the type; API 2.0 starts before
 * that point (the stream: at the oldest such point less an overlap; batch files: at the oldest
 * file still kept, 7 days) and its copies of events already stored are duplicates (store/
 * cross-version.ts). The store follows, per API and log type, the oldest and newest event met
 * (`cross_spans`, copies included), which says where each type stands:
 * - waiting: API 2.0 has not yet reached API 1.0's newest event of the type;
 * - handed-over: API 2.0 served events from at or before that event to after it: no gap, no double;
 * - gap: API 2.0's oldest event of the type is after API 1.0's newest: its horizon no longer
 *   reached back; the interval between them may hold lost events and is recorded as a gap.
 * Once every type is handed over (or its gap recorded), the API 1.0 source stops.
 */
import type Database from 'better-sqlite3';
import type { Gap } from '../core/sink.js';

/** How far before API 1.0's newest event the API 2.0 stream starts. */
export const HANDOVER_OVERLAP_MS = 3_600_000;
/** The checkpoint name gaps of the hand-over are recorded under. */
export const HANDOVER_SOURCE = 'hand-over API 1.0 → API 2.0';
/** `counters` row: when a hand-over was started (ms); none: no hand-over asked for. */
const STARTED = 'handover_started_ms';

export type HandoverState = 'waiting' | 'handed-over' | 'gap';

export interface TypeHandover {
  readonly logType: string;
  /** Where API 1.0's data of the type ends: the hand-over point. */
  readonly v1NewestMs: number;
  readonly v2OldestMs?: number;
  readonly v2NewestMs?: number;
  readonly state: HandoverState;
}

export interface Handover {
  /** When `collect --api v2 --hand-over` (or `hand_over: true`) first ran; undefined: never. */
  readonly startedMs?: number;
  readonly types: readonly TypeHandover[];
  /** Every type API 1.0 stored is handed over or its gap recorded: the API 1.0 source stops. */
  readonly complete: boolean;
}

interface Span {
  api: number;
  log_type: string;
  oldest_ms: number;
  newest_ms: number;
}

const wholeSecond = (ms: number) => ms - (((ms % 1000) + 1000) % 1000);

function hasTable(db: Database.Database, name: string): boolean {
  return db.prepare("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?").get(name) !== undefined;
}

export function handoverStatus(db: Database.Database): Handover {
  if (!hasTable(db, 'cross_spans')) return { types: [], complete: false };
  const started = db.prepare('SELECT value FROM counters WHERE name = ?').pluck().get(STARTED) as number | undefined;
  const spans = db.prepare('SELECT api, log_type, oldest_ms, newest_ms FROM cross_spans ORDER BY log_type').all() as Span[];
  const v2 = new Map(spans.filter((s) => s.api === 2).map((s) => [s.log_type, s]));
  const gapped = new Set(db.prepare('SELECT log_type FROM gaps WHERE source = ?').pluck().all(HANDOVER_SOURCE) as string[]);
  const types = spans.filter((s) => s.api === 1).map((v1): TypeHandover => {
    const after = v2.get(v1.log_type);
    const base = { logType: v1.log_type, v1NewestMs: v1.newest_ms, v2OldestMs: after?.oldest_ms, v2NewestMs: after?.newest_ms };
    if (gapped.has(v1.log_type)) return { ...base, state: 'gap' };
    if (!after) return { ...base, state: 'waiting' };
    // API 1.0 times are whole seconds, API 2.0's milliseconds: the copy of API 1.0's newest event may be up to 999 ms later.
    if (after.oldest_ms >= wholeSecond(v1.newest_ms) + 1000) return { ...base, state: 'gap' };
    return { ...base, state: after.newest_ms >= v1.newest_ms ? 'handed-over' : 'waiting' };
  });
  return { startedMs: started, types, complete: started !== undefined && types.length > 0 && types.every((t) => t.state !== 'waiting') };
}

/** Marks the hand-over as asked for (once); from then on the API 1.0 source stops when it is complete. */
export function startHandover(db: Database.Database, nowMs: number): void {
  db.prepare('INSERT OR IGNORE INTO counters (name, value) VALUES (?, ?)').run(STARTED, nowMs);
}

/** Where the API 2.0 stream starts for a hand-over: the oldest of API 1.0's per-type ends, less the overlap. */
export function streamStartMs(handover: Handover): number | undefined {
  if (handover.types.length === 0) return undefined;
  return Math.min(...handover.types.map((t) => t.v1NewestMs)) - HANDOVER_OVERLAP_MS;
}

/**
 * Records the gap of each type whose API 2.0 data begins after API 1.0's ended, once (a second
 * call records nothing new); returns the gaps it recorded now. `caughtUp`: the log types an API
 * 2.0 pass just read to its end: one of them with nothing from API 2.0 at all lost everything
 * after API 1.0's newest event up to now.
 */
export function recordHandoverGaps(db: Database.Database, handover: Handover, nowMs: number, caughtUp: ReadonlySet<string> | 'all'): Gap[] {
  const recorded: Gap[] = [];
  const exists = db.prepare('SELECT 1 FROM gaps WHERE source = ? AND log_type = ? AND from_ms = ?');
  const insert = db.prepare('INSERT INTO gaps (source, from_ms, to_ms, reason, recorded_at, log_type) VALUES (?, ?, ?, ?, ?, ?)');
  db.transaction(() => {
    for (const t of handover.types) {
      const nothing = t.state === 'waiting' && t.v2OldestMs === undefined && (caughtUp === 'all' || caughtUp.has(t.logType));
      if ((t.state !== 'gap' && !nothing) || exists.get(HANDOVER_SOURCE, t.logType, t.v1NewestMs)) continue;
      const gap: Gap = {
        fromMs: t.v1NewestMs, toMs: t.v2OldestMs ?? nowMs, logType: t.logType,
        reason: "API 2.0's horizon no longer reached back to API 1.0's newest event of the type: events between them may be missing",
      };
      insert.run(HANDOVER_SOURCE, gap.fromMs, gap.toMs, gap.reason, nowMs, gap.logType);
      recorded.push(gap);
    }
  }).immediate();
  return recorded;
}

export interface HandoverJson {
  readonly started: string | null;
  readonly complete: boolean;
  readonly types: readonly { log_type: string; state: HandoverState; v1_newest: string | null; v2_oldest: string | null; v2_newest: string | null }[];
}

/** `stats --json`'s `handover`, when a hand-over was started. */
export function withHandover(db: Database.Database): { handover?: HandoverJson } {
  const json = handoverJson(handoverStatus(db));
  return json ? { handover: json } : {};
}

/** The hand-over as plain JSON (stats --json, the log). */
export function handoverJson(h: Handover): HandoverJson | undefined {
  if (h.startedMs === undefined) return undefined;
  const iso = (ms: number | undefined) => (ms === undefined ? null : new Date(ms).toISOString());
  return {
    started: iso(h.startedMs),
    complete: h.complete,
    types: h.types.map((t) => ({ log_type: t.logType, state: t.state, v1_newest: iso(t.v1NewestMs), v2_oldest: iso(t.v2OldestMs), v2_newest: iso(t.v2NewestMs) })),
  };
}
