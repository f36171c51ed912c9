/** Waiting between retries: exponential back-off with jitter, never a tight loop; interruptible. */

export interface BackoffOptions {
  readonly baseMs: number;
  readonly maxMs: number;
}

/** How an API collector polls and retries (shared by the API 1.0 and 2.0 collectors). */
export interface PollingOptions {
  /** Exit when caught up instead of polling. */
  readonly once: boolean;
  readonly pollIntervalMs: number;
  readonly timeoutMs: number;
  readonly retryBaseMs: number;
  readonly retryMaxMs: number;
  /** Consecutive failed calls before giving up (a person should look). */
  readonly maxRetries: number;
  /** Told about every API call (the service's metrics); optional. */
  readonly observe?: ApiObserver;
  /** The longest wait a server's X-RateLimit-Reset or Retry-After may impose (default: an hour). */
  readonly maxServerWaitMs?: number;
  /** Larger API answers are not read whole (default: DEFAULT_LIMITS.maxZipBytes, 256 MiB). */
  readonly maxResponseBytes?: number;
}

/** Sees each API call's outcome (an HTTP status, or `network_error`), each retry and the rate budget left. */
export interface ApiObserver {
  call(endpoint: string, outcome: string): void;
  retry(endpoint: string): void;
  rateLimitRemaining(remaining: number): void;
  /** A pass ended early for a reason a person should see (a runaway page token): the service's /readyz shows it. */
  degraded?(reason: string): void;
  /**
   * A call failed because Mimecast could not be reached or refused it (network error, 5xx): the
   * reason names the host and the error. The service shows the source degraded at once, failing
   * when no call has succeeded for `failing_after_s`; a 2xx `call` ends the trouble.
   */
  trouble?(reason: string): void;
}

/** A failed call's trouble as the service shows it: the host it went to, then why. */
export function troubleText(url: string | URL, reason: string): string {
  return `${new URL(url).host}: ${reason}`;
}

/** Equal jitter: half the exponential delay fixed, half random, so retries spread but never hammer. */
export function backoffDelay(attempt: number, o: BackoffOptions, random: () => number = Math.random): number {
  const ceiling = Math.min(o.maxMs, o.baseMs * 2 ** Math.min(attempt, 30));
  return Math.round(ceiling / 2 + random() * (ceiling / 2));
}

/** The longest delay a Node timer holds: a longer one fires after 1 ms (with a warning each time). */
const MAX_TIMER_MS = 2 ** 31 - 1;

/**
 * Sleeps `ms`, waking early (resolving false) when `signal` aborts. A delay a timer cannot hold is
 * clamped to the longest it can (never the 1 ms Node would use), NaN or negative to none.
 */
export function sleep(ms: number, signal?: AbortSignal): Promise<boolean> {
  const delay = Number.isNaN(ms) ? 0 : Math.min(Math.max(ms, 0), MAX_TIMER_MS);
  return new Promise((resolve) => {
    if (signal?.aborted) return resolve(false);
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve(true);
    }, delay);
    const onAbort = () => {
      clearTimeout(timer);
      resolve(false);
    };
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}
