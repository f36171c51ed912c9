/**
 * Which event times may drive a cursor, a restart point, a gap bound or a lag. An event's own time
 * is data, and data can lie (a sender's or a server's clock, seconds read as milliseconds): one
 * event dated 2126 once made the stream restart from 2126 and pinned its lag at 0 for good.
 *
 * A time after the local clock plus FUTURE_SKEW_MS, or before EARLIEST_EVENT_MS, is stored with
 * its event but drives nothing. Such events are counted per checkpoint (`untrusted_time_events`
 * in `stats` and /metrics) and each source warns once per run. The time is ignored, not clamped to
 * now + skew: a clamped time claims progress the data never showed (a restart from it would skip
 * what the source still holds before it), while an ignored one leaves every bound at the newest
 * believable event, from where a restart re-reads (duplicates drop) and a gap begins early, never
 * late. The same holds when the local clock is the liar: a clock behind makes fresh events
 * "future", and the cursor simply waits at the last believable one.
 */
import { isRepresentableTime } from '../decode/time.js';
import type { Logger } from '../log/logger.js';

/** How far past the local clock an event time is still believed (clocks on both sides drift). */
export const FUTURE_SKEW_MS = 5 * 60_000;

/** No Mimecast event is older: an earlier time is a zero, a default or seconds read as milliseconds. */
export const EARLIEST_EVENT_MS = Date.UTC(2000, 0, 1);

/** True for a time that may drive a cursor, a restart point, a gap bound or a lag. */
export function isTrustedTime(ms: number, nowMs: number): boolean {
  return Number.isFinite(ms) && ms >= EARLIEST_EVENT_MS && ms <= nowMs + FUTURE_SKEW_MS;
}

/** A stored bound read back (a store written before this rule, or a clock moved back since): kept only if believable now. */
export function trustedOrUndefined(ms: number | null | undefined, nowMs: number): number | undefined {
  return ms != null && isTrustedTime(ms, nowMs) ? ms : undefined;
}

/** The believable extremes of some event times, and the ones left out. */
export interface TrustedSpan {
  readonly oldest?: number;
  readonly newest?: number;
  /** Times left out, and the first of them (for the warning). */
  readonly untrusted: number;
  readonly firstUntrusted?: number;
}

export function trustedSpan(events: Iterable<{ readonly timeMs: number }>, nowMs: number): TrustedSpan {
  let oldest: number | undefined;
  let newest: number | undefined;
  let untrusted = 0;
  let firstUntrusted: number | undefined;
  for (const { timeMs } of events) {
    if (!isTrustedTime(timeMs, nowMs)) {
      untrusted++;
      firstUntrusted ??= timeMs;
      continue;
    }
    if (oldest === undefined || timeMs < oldest) oldest = timeMs;
    if (newest === undefined || timeMs > newest) newest = timeMs;
  }
  return { oldest, newest, untrusted, firstUntrusted };
}

/**
 * Seconds from the newest event stored to now; null when unknown, including when the stored time
 * is beyond now + skew (a lag of 0 there would say "up to date" forever).
 */
export function lagSeconds(newestMs: number | null | undefined, nowMs: number): number | null {
  const newest = trustedOrUndefined(newestMs, nowMs);
  return newest === undefined ? null : Math.max(0, Math.round((nowMs - newest) / 1000));
}

/** An event time as a log shows it (any number, even one no Date holds). */
export function timeText(ms: number): string {
  return isRepresentableTime(ms) ? new Date(ms).toISOString() : String(ms);
}

/**
 * The span of a unit's events, with a warning the first time per source and run that one of them
 * is not believed (the store counts every such event in `untrusted_time_events`).
 */
export class EventTimes {
  private readonly warned = new Set<string>();

  constructor(private readonly log: Logger) {}

  span(source: string, events: Iterable<{ readonly timeMs: number }>, nowMs = Date.now()): TrustedSpan {
    const span = trustedSpan(events, nowMs);
    if (span.firstUntrusted !== undefined && !this.warned.has(source)) {
      this.warned.add(source);
      this.log.warn('event time not believed: the event is stored, but its time drives no cursor, restart point, gap bound or lag (counted as untrusted_time_events in stats; said once per run)', {
        source, event_time: timeText(span.firstUntrusted), believed_from: timeText(EARLIEST_EVENT_MS), believed_until: timeText(nowMs + FUTURE_SKEW_MS),
      });
    }
    return span;
  }
}
