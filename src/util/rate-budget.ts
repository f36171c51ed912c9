/**
 * One rate budget shared by every caller of an API (API 2.0 types fetched concurrently): driven
 * by the `X-RateLimit-*` headers Mimecast sends, so concurrent callers stop together before the
 * limit instead of each meeting its own 429.
 */
import { sleep } from './backoff.js';

export class RateBudget {
  private resumeAt = 0;

  /** `reserve`: calls left unused in each window, for other tools on the same account. */
  constructor(private readonly reserve = 1) {}

  /** Waits until calls may go again; false when stopped first. */
  async ready(stop: AbortSignal): Promise<boolean> {
    while (Date.now() < this.resumeAt) {
      if (!(await sleep(this.resumeAt - Date.now(), stop))) return false;
    }
    return !stop.aborted;
  }

  /** Reads a response's headers: when the window is used up, everyone waits for its reset (ms). */
  observe(headers: Headers): void {
    const remaining = rateLimitRemaining(headers) ?? Number.NaN;
    const reset = Number(headers.get('x-ratelimit-reset') ?? Number.NaN);
    if (Number.isFinite(remaining) && remaining <= this.reserve && Number.isFinite(reset) && reset > 0) this.pauseFor(reset);
  }

  /** Everyone waits `ms` (a 429, or a window used up). */
  pauseFor(ms: number): void {
    this.resumeAt = Math.max(this.resumeAt, Date.now() + ms);
  }
}

/** `X-RateLimit-Remaining`: calls left in the current window; undefined when the answer did not say. */
export function rateLimitRemaining(headers: Headers): number | undefined {
  const remaining = Number(headers.get('x-ratelimit-remaining') ?? Number.NaN);
  return Number.isFinite(remaining) ? remaining : undefined;
}
