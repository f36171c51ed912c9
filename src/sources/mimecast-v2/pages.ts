/**
 * One paged API 2.0 call (batch listing or stream page): bearer token with one refresh on 401,
 * a rate budget shared by every concurrent caller, 429 waits and 5xx back-off with jitter.
 * Answers `{value, @nextPage, isCaughtUp}`; errors a person must fix become CollectorError.
 */
import type { Logger } from '../../log/logger.js';
import { type PollingOptions, backoffDelay, sleep } from '../../util/backoff.js';
import { CollectorError, RequestRejectedError } from '../../core/errors.js';
import { type RateBudget, rateLimitRemaining } from '../../util/rate-budget.js';
import { FirstContact, describeFetchError } from '../http-body.js';
import { OAuthError, type TokenSource } from './oauth.js';
import { STREAM_PATH_V2 } from '../../mimecast/endpoints.js';

export interface Page<T> {
  readonly value: T[];
  /** The token of the next page; the same page's token when the API sent none. */
  readonly nextPage: string;
  readonly isCaughtUp: boolean;
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

  /** Fetches one page; undefined when stopped while waiting. `what` names it in logs and errors. */
  async get<T>(path: string, params: Record<string, string | undefined>, stop: AbortSignal, what: string): Promise<Page<T> | undefined> {
    let refreshed = false;
    const url = new URL(path, this.baseUrl);
    for (const [k, v] of Object.entries(params)) if (v !== undefined && v !== '') url.searchParams.set(k, v);
    const endpoint = path === STREAM_PATH_V2 ? 'stream' : 'batch-list';
    const observe = this.polling.observe;
    for (let attempt = 0; ; attempt++) {
      if (!(await this.budget.ready(stop))) return undefined;
      let wait: number | undefined;
      let reason: string;
      try {
        const res = await fetch(url, { headers: { authorization: `Bearer ${await this.tokens.get()}`, accept: 'application/json' }, signal: AbortSignal.timeout(this.polling.timeoutMs) });
        this.contact.answer();
        this.budget.observe(res.headers);
        observe?.call(endpoint, String(res.status));
        const remaining = rateLimitRemaining(res.headers);
        if (remaining !== undefined) observe?.rateLimitRemaining(remaining);
        const body = (await res.json().catch(() => ({}))) as { value?: T[]; '@nextPage'?: string; isCaughtUp?: boolean; error?: { code?: string; message?: string } };
        if (res.status === 200 && Array.isArray(body.value)) {
          return { value: body.value, nextPage: body['@nextPage'] ?? params.nextPage ?? '', isCaughtUp: body.isCaughtUp === true };
        }
        if (res.status === 401 && !refreshed) {
          refreshed = true; // one new token, then one retry
          this.tokens.invalidate();
          attempt--;
          continue;
        }
        if (res.status === 401 || res.status === 403) throw new CollectorError(`API 2.0 refused the ${what} (HTTP ${res.status}): check the application's permissions for SIEM logs`);
        if (res.status === 400) throw new RequestRejectedError(`API 2.0 rejected the ${what}: ${body.error?.message ?? 'bad request'}`, body.error?.code);
        reason = `HTTP ${res.status}${body.error?.code ? ` ${body.error.code}` : ''}`;
        if (res.status === 429) {
          const reset = Number(res.headers.get('x-ratelimit-reset'));
          wait = Number.isFinite(reset) && reset > 0 ? reset : 1000;
          this.budget.pauseFor(wait); // every concurrent caller waits, not only this one
        } else {
          refreshed = false; // a later 401 deserves its own refresh
        }
      } catch (err) {
        if (err instanceof CollectorError || err instanceof OAuthError) throw err; // a person must act
        observe?.call(endpoint, 'network_error');
        const failure = describeFetchError(err);
        reason = `${what} failed: ${failure.reason}`;
        const unreachable = this.contact.miss(failure.unreachable ? failure.reason : undefined, this.baseUrl);
        if (unreachable) throw new CollectorError(unreachable);
      }
      if (attempt >= this.polling.maxRetries) throw new CollectorError(`giving up on the ${what} after ${attempt + 1} tries: ${reason}`);
      const delay = wait ?? backoffDelay(attempt, { baseMs: this.polling.retryBaseMs, maxMs: this.polling.retryMaxMs });
      this.log.warn('retrying', { what, reason, attempt: attempt + 1, wait_ms: delay });
      observe?.retry(endpoint);
      if (!(await sleep(delay, stop))) return undefined;
    }
  }
}
