/**
 * One API 2.0 call with its retries, shared by the SIEM pages (batch listing, stream) and the POST
 * feeds: bearer token with one refresh on 401, a rate budget shared by every concurrent caller,
 * 429 waits (`X-RateLimit-Reset`, else back-off), back-off with jitter for what the caller calls
 * retryable, metrics, and one clear error for an address that never answered. What an answer
 * means is the caller's: errors a person must fix become CollectorError.
 */
import { createHash } from 'node:crypto';
import type { Logger } from '../../log/logger.js';
import { type ApiObserver, type PollingOptions, backoffDelay, sleep, troubleText } from '../../util/backoff.js';
import { CollectorError, RequestRejectedError } from '../../util/errors.js';
import { DEFAULT_MAX_SERVER_WAIT_MS, type RateBudget, type ServerWait, rateLimitRemaining, serverWaitMs } from '../../util/rate-budget.js';
import { FirstContact, answerText, bodyBytes, describeFetchError, discardBody, readCapped, requestSignal, tooLargeReason } from '../http-body.js';
import type { TokenSource } from './oauth.js';
import { STREAM_PATH_V2 } from '../../mimecast/endpoints.js';
import { type DecodeLimits, DEFAULT_LIMITS } from '../../decode/limits.js';
import { type JsonParse, jsonText, nestsDeeperThan } from '../../decode/json.js';
import { parsePage } from '../../decode/records.js';

export interface Page<T> {
  readonly value: T[];
  /** The token of the next page; the same page's token when the API sent none. */
  readonly nextPage: string;
  readonly isCaughtUp: boolean;
}

/** What the caller makes of an answer (not a 429, not the first 401): the result, or why to ask again. Throws to stop. */
export type Verdict<R> = { readonly done: R } | { readonly retry: string };

/** An answer read within the bound. */
export interface Answer {
  readonly status: number;
  readonly headers: Headers;
  /** The body; over the bound, only its head. */
  readonly bytes: Buffer;
  /** Set when the body passed the bound: why it was not read whole (where from, bytes read). */
  readonly tooLarge?: string;
  /** Bytes received (over the bound: where reading stopped). */
  readonly read: number;
}

/**
 * The most a JSON answer may be whatever the options say: a page is parsed whole, and its peak
 * RSS grows with it (23.5 MB: 370-390 MiB; 31.5 MB: 435-470 MiB; the README's bound is 512 MiB).
 * Mimecast's largest page (10,000 events) is some 20 MB; its usual one (500 events) about 1 MB.
 */
export const MAX_JSON_ANSWER_BYTES = 24 * 1024 * 1024;
/** Names the bound of a JSON answer in its over-the-bound error. */
const JSON_BOUND_NAMES = `--max-response-bytes, --max-document-bytes, at most ${MAX_JSON_ANSWER_BYTES} bytes for a JSON answer`;

/**
 * The bound of a JSON answer (a listing, a stream or feed page): it is parsed whole, so it is held
 * to the smallest of --max-response-bytes, --max-document-bytes and MAX_JSON_ANSWER_BYTES.
 */
function jsonAnswerBound(o: PollingOptions & { limits?: DecodeLimits }): number {
  return Math.min(o.maxResponseBytes ?? DEFAULT_LIMITS.maxZipBytes, (o.limits ?? DEFAULT_LIMITS).maxDocumentBytes, MAX_JSON_ANSWER_BYTES);
}

/** A page's envelope around a record: the root object and its `value` list. */
const PAGE_ENVELOPE_DEPTH = 2;

/** JSON.parse as a JsonParse: any depth, a repeated key's last value (as parseObject reads an answer). */
function parseWhole(text: string): JsonParse {
  try {
    return { ok: true, value: JSON.parse(text) as unknown };
  } catch (err) {
    return { ok: false, reason: (err as Error).message };
  }
}

/**
 * A stream page's or a batch listing's body parsed (`{}` when it does not parse, as parseObject),
 * its text decoded once for the depth scan and the parse. A page that nests deeper than a record
 * may: a stream page is read with its deep events cut out unparsed (parsePage; the decoder refuses
 * each with its text), so 24 MiB of brackets is never built as 12 million arrays; a listing's files
 * are flat, so it is not parsed at all (undefined). Any other page is parsed as it is: cutting
 * every stream page raised a valid 20 MB page's peak by some 90 MiB.
 */
function pageBody(bytes: Buffer, endpoint: string, maxDepth: number): Record<string, unknown> | undefined {
  const text = bytes.toString('utf8');
  let parsed: JsonParse;
  if (!nestsDeeperThan(text, maxDepth + PAGE_ENVELOPE_DEPTH)) parsed = parseWhole(text);
  else if (endpoint === 'stream') parsed = parsePage(text, ['value'], maxDepth, parseWhole);
  else return undefined;
  return parsed.ok && parsed.value !== null && typeof parsed.value === 'object' ? (parsed.value as Record<string, unknown>) : {};
}

/** Pages in a row handing back the token they were asked with before the pass ends (see tokenStuck). */
export const STUCK_TOKEN_PAGES = 20;

/** How much of an answer over the bound is kept (for a dead letter). */
const TOO_LARGE_HEAD_BYTES = 64 * 1024;

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
  private readonly maxBodyBytes: number;
  private readonly maxServerWaitMs: number;
  /** A server-given wait was capped: said once per client, not at every wait. */
  private waitCapSaid = false;
  /** A window used up paused every caller: said once per client. */
  private pauseSaid = false;
  /** A page token that did not move: said once per client. */
  private stuckSaid = false;
  /** Per request (`what`: a type's listing, the stream): pages in a row that handed back the token asked with. */
  private readonly unmoved = new Map<string, number>();

  constructor(
    private readonly baseUrl: string,
    private readonly tokens: TokenSource,
    private readonly polling: PollingOptions & { readonly limits?: DecodeLimits },
    private readonly budget: RateBudget,
    private readonly log: Logger,
  ) {
    this.maxBodyBytes = jsonAnswerBound(polling);
    this.maxServerWaitMs = polling.maxServerWaitMs ?? DEFAULT_MAX_SERVER_WAIT_MS;
  }

  /** Fetches one SIEM page (GET); undefined when stopped while waiting. `what` names it in logs and errors. */
  get<T>(path: string, params: Record<string, string | undefined>, stop: AbortSignal, what: string): Promise<Page<T> | undefined> {
    const url = new URL(path, this.baseUrl);
    for (const [k, v] of Object.entries(params)) if (v !== undefined && v !== '') url.searchParams.set(k, v);
    const endpoint = path === STREAM_PATH_V2 ? 'stream' : 'batch-list';
    return this.request<Page<T>>({ method: 'GET', url, endpoint, what }, stop, async (res) => {
      // The next page's token is inside the answer: one that is too large cannot be skipped, a person must look.
      if (res.tooLarge) throw new CollectorError(`API 2.0 ${what}: ${res.tooLarge}`);
      const maxDepth = (this.polling.limits ?? DEFAULT_LIMITS).maxJsonDepth;
      const parsed = pageBody(res.bytes, endpoint, maxDepth);
      // Like one over the bound: its next token cannot be read, and asking again brings the same listing.
      if (parsed === undefined) throw new CollectorError(`API 2.0 ${what}: the answer nests deeper than ${maxDepth + PAGE_ENVELOPE_DEPTH} levels: not parsed`);
      const body = parsed as { value?: T[]; '@nextPage'?: string; isCaughtUp?: boolean; error?: { code?: unknown; message?: unknown } };
      if (res.status === 200 && Array.isArray(body.value)) {
        const nextPage = body['@nextPage'] ?? params.nextPage ?? '';
        return { done: { value: body.value, nextPage, isCaughtUp: body.isCaughtUp === true || this.tokenStuck(what, params.nextPage, nextPage) } };
      }
      if (res.status === 401 || res.status === 403) throw new CollectorError(`API 2.0 refused the ${what} (HTTP ${res.status}): check the application's permissions for SIEM logs`);
      const code = answerText(body.error?.code);
      if (res.status === 400) throw new RequestRejectedError(`API 2.0 rejected the ${what}: ${answerText(body.error?.message) ?? 'bad request'}`, code);
      return { retry: `HTTP ${res.status}${code ? ` ${code}` : ''}` };
    });
  }

  /**
   * A page that says "not caught up" but hands back the token it was asked with is asked for again
   * at once. An empty page now and then does that (nothing new yet); STUCK_TOKEN_PAGES in a row is
   * a server that would be asked forever while the cursor never moves: that ends the pass as if
   * caught up, and the next poll asks again. Said once per client.
   */
  private tokenStuck(what: string, asked: string | undefined, next: string): boolean {
    if (asked === undefined || asked === '' || next !== asked) {
      this.unmoved.delete(what);
      return false;
    }
    const times = (this.unmoved.get(what) ?? 0) + 1;
    this.unmoved.set(what, times);
    if (times < STUCK_TOKEN_PAGES) return false;
    this.unmoved.delete(what);
    if (!this.stuckSaid) this.log.warn('the next-page token did not move for many pages although they say they are not caught up: ending this pass, asking again at the next poll (said once)', { what, pages: times });
    this.stuckSaid = true;
    return true;
  }

  /** A server-given wait over --max-server-wait: said once per client. */
  private sayCapped(what: string, wait: ServerWait): void {
    if (wait.askedMs === undefined || this.waitCapSaid) return;
    this.waitCapSaid = true;
    this.log.warn('the server asked for a wait longer than --max-server-wait: waiting that long at most (said once)', { what, asked_ms: wait.askedMs, wait_ms: wait.ms });
  }

  /** An answer that used up the rate window (X-RateLimit-Remaining) pauses every caller until its reset: said once per client. */
  private sayPause(what: string, wait: ServerWait): void {
    this.sayCapped(what, wait);
    if (this.pauseSaid) return;
    this.pauseSaid = true;
    this.log.warn('the API says its rate window is used up (X-RateLimit-Remaining): every call waits for the reset (said once)', { what, wait_ms: wait.ms, ...(wait.askedMs !== undefined ? { asked_ms: wait.askedMs } : {}) });
  }

  /** Sends one request until `interpret` has a result; undefined when stopped while waiting. */
  async request<R>(r: ApiRequest, stop: AbortSignal, interpret: (answer: Answer) => Promise<Verdict<R>>): Promise<R | undefined> {
    const observe = this.polling.observe;
    const backoff = (attempt: number) => backoffDelay(attempt, { baseMs: this.polling.retryBaseMs, maxMs: this.polling.retryMaxMs });
    let refreshed = false;
    for (let attempt = 0; ; attempt++) {
      if (!(await this.budget.acquire(stop))) return undefined;
      let wait: number | undefined;
      let reason: string;
      let inFlight = true;
      const done = (headers?: Headers) => {
        const pause = inFlight ? this.budget.release(headers, this.maxServerWaitMs) : undefined;
        inFlight = false;
        if (pause) this.sayPause(r.what, pause);
      };
      try {
        const res = await fetch(r.url, {
          method: r.method,
          headers: { authorization: `Bearer ${await this.tokens.get(stop)}`, accept: 'application/json', ...(r.body !== undefined ? { 'content-type': 'application/json' } : {}) },
          body: r.body,
          signal: requestSignal(this.polling.timeoutMs, stop),
        });
        this.contact.answer();
        done(res.headers);
        observe?.call(r.endpoint, String(res.status));
        const remaining = rateLimitRemaining(res.headers);
        if (remaining !== undefined) observe?.rateLimitRemaining(remaining);
        if (res.status === 401 && !refreshed) {
          await discardBody(res);
          refreshed = true; // one new token, then one retry
          this.tokens.invalidate();
          attempt--;
          continue;
        }
        if (res.status === 429) {
          await discardBody(res);
          // Some endpoints send no X-RateLimit-Reset even with the 429: then back off.
          const asked = serverWaitMs(res.headers, this.maxServerWaitMs);
          this.sayCapped(r.what, asked);
          wait = asked.ms ?? backoff(attempt);
          this.budget.pauseFor(wait); // every concurrent caller waits, not only this one
          reason = 'HTTP 429';
        } else {
          const body = await readCapped(res, this.maxBodyBytes, TOO_LARGE_HEAD_BYTES);
          const tooLarge = body.overLimit ? tooLargeReason(r.url, this.maxBodyBytes, body.read, JSON_BOUND_NAMES) : undefined;
          if (tooLarge) this.log.error('API answer over the bound: not read whole', { what: r.what, reason: tooLarge });
          const verdict = await interpret({ status: res.status, headers: res.headers, bytes: bodyBytes(body), tooLarge, read: body.read });
          if ('done' in verdict) return verdict.done;
          reason = verdict.retry;
          refreshed = false; // a later 401 deserves its own refresh
        }
      } catch (err) {
        done();
        if (stop.aborted) return undefined; // SIGTERM dropped the request or its body: nothing of it is kept
        if (err instanceof CollectorError) throw err; // a person must act (keys, permissions, a refused request)
        observe?.call(r.endpoint, 'network_error');
        const failure = describeFetchError(err);
        reason = `${r.what} failed: ${failure.reason}`;
        const unreachable = this.contact.miss(failure.unreachable ? failure.reason : undefined, this.baseUrl);
        if (unreachable) throw new CollectorError(unreachable);
      }
      if (wait === undefined) observe?.trouble?.(troubleText(r.url, reason)); // a 429 is the rate window, not trouble
      if (attempt >= this.polling.maxRetries) throw new CollectorError(`giving up on the ${r.what} after ${attempt + 1} tries: ${reason}`);
      const delay = wait ?? backoff(attempt);
      this.log.warn('retrying', { what: r.what, reason, attempt: attempt + 1, wait_ms: delay });
      observe?.retry(r.endpoint);
      if (!(await sleep(delay, stop))) return undefined;
    }
  }
}

/**
 * The page tokens of one pass (a feed window): a token seen before, or more pages than the bound,
 * means the server would be read forever while the cursor never moves. Tokens are kept as digests:
 * a hostile token may be large.
 */
export class PageTrail {
  private readonly seen = new Set<string>();

  constructor(private readonly maxPages: number) {}

  /** Why paging must stop at `next` (with what was received, for the dead letter), or undefined to go on. */
  runaway(next: unknown): { reason: string; body: Buffer } | undefined {
    if (typeof next !== 'string') {
      // Its JSON text (any depth), its head if huge, and the pages read.
      const received = { nextPageTokenJson: (jsonText(next) ?? 'undefined').slice(0, TOKEN_HEAD_CHARS), pagesRead: this.seen.size + 1 };
      return { reason: notAToken(next), body: Buffer.from(JSON.stringify(received)) };
    }
    const digest = tokenDigest(next);
    // What was received, for the dead letter: the token (its head, if huge) and the pages read.
    const received = (pagesRead: number) => Buffer.from(JSON.stringify({ nextPageToken: next.slice(0, TOKEN_HEAD_CHARS), pagesRead }));
    if (this.seen.has(digest)) return { reason: `the next-page token repeats one already followed in this pass (after ${this.seen.size + 1} pages)`, body: received(this.seen.size + 1) };
    this.seen.add(digest);
    if (this.seen.size >= this.maxPages) return { reason: `more than ${this.maxPages} pages in one pass (--max-pages-per-window): the next-page token never ends`, body: received(this.seen.size) };
    return undefined;
  }
}

/** Page tokens one pass remembers (digests, oldest forgotten first): memory stays bounded however long the backlog. */
const REMEMBERED_TOKENS = 10_000;
/** Pages (or API 1.0 files) in one pass that bring nothing new (no record, or the records of a page already read), each with a fresh token, before the pass ends. */
export const MAX_EMPTY_PAGES_PER_PASS = 50;

/**
 * The page tokens of one pass of a source that pages until caught up (the stream, a type's batch
 * listing, the API 1.0 file chain): a next-page token already followed in this pass (A→B→A), or
 * too many pages that bring nothing new (a fresh token on every empty page, or on every copy of
 * the same page), means the server would be asked forever while nothing new arrives. The caller ends the pass there without moving its
 * checkpoint to the repeated token (never backwards), and the next poll asks again.
 */
export class PassTrail {
  private readonly seen = new Set<string>();
  /** Digests of the pages' contents read in this pass (a copy brings nothing new: its events are duplicates). */
  private readonly contents = new Set<string>();
  private empty = 0;

  /** `sameTokenIsRepeat`: a page handing back the token it was asked with is a repeat (API 1.0); API 2.0 pages do that legitimately (PageClient.tokenStuck bounds it). */
  constructor(private readonly sameTokenIsRepeat: boolean) {}

  /**
   * Why the pass must end at this page (asked with `asked`, pointing at `next`, bringing `records`
   * whose digest is `content`: see contentDigest), or undefined to go on.
   */
  runaway(asked: string | undefined, next: unknown, records: number, content: string): string | undefined {
    if (typeof next !== 'string') return `${notAToken(next)}: it cannot be followed`;
    if (asked !== undefined && asked !== '') this.remember(this.seen, tokenDigest(asked));
    const copy = records > 0 && this.contents.has(content);
    this.remember(this.contents, content);
    // The same token again is PageClient.tokenStuck's (an empty page now and then is normal).
    if ((records === 0 || copy) && next !== asked) this.empty++;
    const repeats = (this.sameTokenIsRepeat || next !== asked) && this.seen.has(tokenDigest(next));
    if (repeats) return `the next-page token repeats one already followed in this pass`;
    if (this.empty >= MAX_EMPTY_PAGES_PER_PASS) return `${this.empty} pages in this pass brought nothing new (no record, or a copy of a page already read) although they say more follow`;
    return undefined;
  }

  private remember(set: Set<string>, digest: string): void {
    set.delete(digest); // re-inserted as the newest
    set.add(digest);
    if (set.size > REMEMBERED_TOKENS) set.delete(set.values().next().value!);
  }
}

/** A digest of what a page brought (its records as parsed, or a file's bytes as chunks), for PassTrail. */
export function contentDigest(content: readonly unknown[] | readonly Buffer[]): string {
  const hash = createHash('sha256');
  for (const part of content) hash.update(Buffer.isBuffer(part) ? part : jsonText(part) ?? 'undefined');
  return hash.digest('base64');
}

/** A pass that ended early (PassTrail): said in the log once per collector, and to the service (its /readyz reason) every time. */
export class EarlyPassEnd {
  private said = false;

  constructor(private readonly log: Logger, private readonly observe?: ApiObserver) {}

  say(reason: string, fields: Record<string, unknown>): void {
    this.observe?.degraded?.(reason);
    if (this.said) return;
    this.said = true;
    this.log.warn(`${reason} (said once)`, fields);
  }
}

/** How much of a next-page token a dead letter keeps. */
const TOKEN_HEAD_CHARS = 1024;

/**
 * Why a next-page token taken from a parsed answer that is not a string (a number, an object, one
 * nested 100,000 deep) is not followed: no text of it is a token the API gave, and its digest threw.
 */
function notAToken(next: unknown): string {
  const kind = next === null ? 'null' : Array.isArray(next) ? 'an array' : typeof next === 'object' ? 'an object' : `a ${typeof next}`;
  return `the next-page token is not a string but ${kind}`;
}

function tokenDigest(token: string): string {
  return createHash('sha256').update(token).digest('base64');
}
