/**
 * One rate budget shared by every caller of an API (API 2.0 types or feeds fetched concurrently):
 * driven by the `X-RateLimit-*` headers Mimecast sends, so concurrent callers stop together before
 * the limit instead of each meeting its own 429. It counts its own calls in flight: a window whose
 * remaining calls are already on their way is treated as used up, so callers that would send the
 * calls past the limit wait for the reset rather than discover the limit by 429s.
 */
import { sleep } from './backoff.js';

/** Responses whose windows end this close together belong to the same window (network jitter). */
const SAME_WINDOW_MS = 50;

export class RateBudget {
  private resumeAt = 0;
  private inFlight = 0;
  /** Calls left in the current window as last seen (the lowest figure seen in it), and when it ends. */
  private remaining: number | undefined;
  private windowEndsAt = 0;

  /** `reserve`: calls left unused in each window, for other tools on the same account. */
  constructor(private readonly reserve = 1) {}

  /**
   * Waits until a call may go, and counts it as in flight (every `acquire` that returns true needs
   * one `release`); false when stopped first.
   */
  async acquire(stop: AbortSignal): Promise<boolean> {
    for (;;) {
      if (stop.aborted) return false;
      const now = Date.now();
      const until = Math.max(this.resumeAt, this.spokenFor(now) ? this.windowEndsAt : 0);
      if (now >= until) break;
      if (!(await sleep(until - now, stop))) return false;
    }
    this.inFlight++;
    return true;
  }

  /**
   * Ends an acquired call, with its response's headers when there was a response; a reset is waited
   * for `maxWaitMs` at most. Returns the wait when the answer used up the window and so paused every
   * caller (for the caller to say: a pause of up to an hour must not be silent).
   */
  release(headers?: Headers, maxWaitMs = DEFAULT_MAX_SERVER_WAIT_MS): ServerWait | undefined {
    this.inFlight = Math.max(0, this.inFlight - 1);
    return headers ? this.observe(headers, maxWaitMs) : undefined;
  }

  /** True when the window's calls left (beyond the reserve) are all taken by calls in flight. */
  private spokenFor(now: number): boolean {
    return this.remaining !== undefined && now < this.windowEndsAt && this.remaining - this.inFlight <= this.reserve;
  }

  /** Reads a response's headers: the window's calls left and its reset (ms); used up: everyone waits (the wait is returned). */
  private observe(headers: Headers, maxWaitMs: number): ServerWait | undefined {
    const remaining = rateLimitRemaining(headers);
    const wait = serverWaitMs(headers, maxWaitMs);
    const reset = wait.ms;
    if (remaining === undefined || reset === undefined) return undefined;
    const endsAt = Date.now() + reset;
    // Answers arrive out of order: within one window the lowest figure is the latest. An end far
    // from the one known is another window (or a better estimate of it): its figures replace ours.
    if (this.remaining === undefined || Math.abs(endsAt - this.windowEndsAt) > SAME_WINDOW_MS) {
      this.remaining = remaining;
      this.windowEndsAt = endsAt;
    } else {
      this.remaining = Math.min(this.remaining, remaining);
    }
    if (remaining > this.reserve) return undefined;
    this.pauseFor(reset);
    return wait;
  }

  /** Everyone waits `ms` (a 429, or a window used up); the caller has capped it (serverWaitMs). */
  pauseFor(ms: number): void {
    this.resumeAt = Math.max(this.resumeAt, Date.now() + ms);
  }
}

/**
 * The longest wait a server may impose (--max-server-wait): Mimecast's rate windows are at most an
 * hour. Not --retry-max-ms: cutting a real window short would turn it into a string of 429s that
 * use up --max-retries.
 */
export const DEFAULT_MAX_SERVER_WAIT_MS = 3_600_000;

/** A wait a server asked for, capped; `note` says so when it was capped (for the log), else ''. */
export interface ServerWait {
  /** Undefined when the answer named no usable wait. */
  readonly ms: number | undefined;
  /** The wait asked for, when it was over the bound. */
  readonly askedMs?: number;
  readonly note: string;
}

/**
 * The wait a server asks for: `X-RateLimit-Reset` (ms, Mimecast's), else `Retry-After` (seconds or
 * an HTTP date), capped at `maxMs` so that a lying or broken server cannot stop a collection for
 * days (or, past 2^31 ms, turn the wait into a 1 ms timer loop).
 */
export function serverWaitMs(headers: Headers, maxMs: number, now = Date.now()): ServerWait {
  const reset = Number(headers.get('x-ratelimit-reset') ?? Number.NaN);
  const retryAfter = headers.get('retry-after');
  let asked: number | undefined;
  if (Number.isFinite(reset) && reset > 0) asked = reset;
  else if (retryAfter !== null && /^\s*\d+\s*$/.test(retryAfter)) asked = Number(retryAfter) * 1000;
  else if (retryAfter !== null && /GMT\s*$/.test(retryAfter) && Number.isFinite(Date.parse(retryAfter))) asked = Math.max(0, Date.parse(retryAfter) - now); // an HTTP date
  if (asked === undefined) return { ms: undefined, note: '' };
  if (asked <= maxMs) return { ms: asked, note: '' };
  return { ms: maxMs, askedMs: asked, note: ` (the server asked to wait ${asked} ms; capped at ${maxMs} ms, --max-server-wait)` };
}

/** `X-RateLimit-Remaining`: calls left in the current window; undefined when the answer did not say. */
export function rateLimitRemaining(headers: Headers): number | undefined {
  const remaining = Number(headers.get('x-ratelimit-remaining') ?? Number.NaN);
  return Number.isFinite(remaining) ? remaining : undefined;
}
