/**
 * One API 2.0 call with its retries, shared by the SIEM pages (batch listing, stream) and the POST
 * feeds: bearer token with one refresh on 401, a rate budget shared by every concurrent caller,
 * 429 waits (`X-RateLimit-Reset`, else back-off), back-off with jitter for what the caller calls
 * retryable, metrics, and one clear error for an address that never answered. What an answer
 * means is the caller's: errors a person must fix become CollectorError.
 */
import type { Logger } from '../../log/logger.js';
import { type PollingOptions, backoffDelay, sleep } from '../../util/backoff.js';
import { CollectorError, RequestRejectedError } from '../../util/errors.js';
import { type RateBudget, rateLimitRemaining } from '../../util/rate-budget.js';
import { FirstContact, describeFetchError } from '../http-body.js';
import type { TokenSource } from './oauth.js';
import { STREAM_PATH_V2 } from '../../mimecast/endpoints.js';

export interface Page<T> {
  readonly value: T[];
  /** The token of the next page; the same page's token when the API sent none. */
  readonly nextPage: string;
  readonly isCaughtUp: boolean;
}

/** What the caller makes of an answer (not a 429, not the first 401): the result, or why to ask again. Throws to stop. */
export type Verdict<R> = { readonly done: R } | { readonly retry: string };

export interface ApiRequest {
  readonly method: 'GET' | 'POST';
  readonly url: URL;
  /** A JSON body (POST). */
  readonly body?: string;
  /** Its name in metrics (`stream`, `batch-list`, `feed-audit`…). */
  readonly endpoint: string;
  /** Names it in logs and errors. */
  readonly what: string;
}

export class PageClient {
  private readonly contact = new FirstContact();

  constructor(
    private readonly baseUrl: string,
    private readonly tokens: TokenSource,
    private readonly polling: PollingOptions,
    private readonly budget: RateBudget,
    private readonly log: Logger,
  ) {}

  /** Fetches one SIEM page (GET); undefined when stopped while waiting. `what` names it in logs and errors. */
  get<T>(path: string, params: Record<string, string | undefined>, stop: AbortSignal, what: string): Promise<Page<T> | undefined> {
    const url = new URL(path, this.baseUrl);
    for (const [k, v] of Object.entries(params)) if (v !== undefined && v !== '') url.searchParams.set(k, v);
    const endpoint = path === STREAM_PATH_V2 ? 'stream' : 'batch-list';
    return this.request<Page<T>>({ method: 'GET', url, endpoint, what }, stop, async (res) => {
      const body = (await res.json().catch(() => ({}))) as { value?: T[]; '@nextPage'?: string; isCaughtUp?: boolean; error?: { code?: string; message?: string } };
      if (res.status === 200 && Array.isArray(body.value)) {
        return { done: { value: body.value, nextPage: body['@nextPage'] ?? params.nextPage ?? '', isCaughtUp: body.isCaughtUp === true } };
      }
      if (res.status === 401 || res.status === 403) throw new CollectorError(`API 2.0 refused the ${what} (HTTP ${res.status}): check the application's permissions for SIEM logs`);
      if (res.status === 400) throw new RequestRejectedError(`API 2.0 rejected the ${what}: ${body.error?.message ?? 'bad request'}`, body.error?.code);
      return { retry: `HTTP ${res.status}${body.error?.code ? ` ${body.error.code}` : ''}` };
    });
  }

  /** Sends one request until `interpret` has a result; undefined when stopped while waiting. */
  async request<R>(r: ApiRequest, stop: AbortSignal, interpret: (res: Response) => Promise<Verdict<R>>): Promise<R | undefined> {
    const observe = this.polling.observe;
    const backoff = (attempt: number) => backoffDelay(attempt, { baseMs: this.polling.retryBaseMs, maxMs: this.polling.retryMaxMs });
    let refreshed = false;
    for (let attempt = 0; ; attempt++) {
      if (!(await this.budget.acquire(stop))) return undefined;
      let wait: number | undefined;
      let reason: string;
      let inFlight = true;
      const done = (headers?: Headers) => {
        if (inFlight) this.budget.release(headers);
        inFlight = false;
      };
      try {
        const res = await fetch(r.url, {
          method: r.method,
          headers: { authorization: `Bearer ${await this.tokens.get()}`, accept: 'application/json', ...(r.body !== undefined ? { 'content-type': 'application/json' } : {}) },
          body: r.body,
          signal: AbortSignal.timeout(this.polling.timeoutMs),
        });
        this.contact.answer();
        done(res.headers);
        observe?.call(r.endpoint, String(res.status));
        const remaining = rateLimitRemaining(res.headers);
        if (remaining !== undefined) observe?.rateLimitRemaining(remaining);
        if (res.status === 401 && !refreshed) {
          await res.arrayBuffer().catch(() => undefined);
          refreshed = true; // one new token, then one retry
          this.tokens.invalidate();
          attempt--;
          continue;
        }
        if (res.status === 429) {
          await res.arrayBuffer().catch(() => undefined);
          // Some endpoints send no X-RateLimit-Reset even with the 429: then back off.
          const reset = Number(res.headers.get('x-ratelimit-reset'));
          wait = Number.isFinite(reset) && reset > 0 ? reset : backoff(attempt);
          this.budget.pauseFor(wait); // every concurrent caller waits, not only this one
          reason = 'HTTP 429';
        } else {
          const verdict = await interpret(res);
          if ('done' in verdict) return verdict.done;
          reason = verdict.retry;
          refreshed = false; // a later 401 deserves its own refresh
        }
      } catch (err) {
        done();
        if (err instanceof CollectorError) throw err; // a person must act (keys, permissions, a refused request)
        observe?.call(r.endpoint, 'network_error');
        const failure = describeFetchError(err);
        reason = `${r.what} failed: ${failure.reason}`;
        const unreachable = this.contact.miss(failure.unreachable ? failure.reason : undefined, this.baseUrl);
        if (unreachable) throw new CollectorError(unreachable);
      }
      if (attempt >= this.polling.maxRetries) throw new CollectorError(`giving up on the ${r.what} after ${attempt + 1} tries: ${reason}`);
      const delay = wait ?? backoff(attempt);
      this.log.warn('retrying', { what: r.what, reason, attempt: attempt + 1, wait_ms: delay });
      observe?.retry(r.endpoint);
      if (!(await sleep(delay, stop))) return undefined;
    }
  }
}
