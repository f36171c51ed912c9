/** Reading an HTTP answer's body within a bound: a hostile or broken endpoint cannot fill memory. */
import { headOf, upTo } from '../decode/input.js';
import { MimelogError } from '../util/errors.js';
import { jsonText } from '../decode/json.js';


export interface CappedBody {
  /** The body as received, or only its first `keepOnOverflow` bytes when it passed the bound. */
  readonly chunks: readonly Buffer[];
  /** The body was longer than `max`: reading stopped there and the connection was dropped. */
  readonly overLimit: boolean;
  /** Bytes received before reading stopped (over the bound: more than `max`). */
  readonly read: number;
}

/**
 * Reads a body up to `max` bytes, chunk by chunk (never concatenated here: a body near the bound
 * is held once). Past the bound it stops, drops the connection and keeps only the first
 * `keepOnOverflow` bytes (default: none), so an endless answer costs at most `max` bytes of
 * memory, and only while it is read. Aborting the request's signal (SIGTERM) ends the read at once.
 */
export async function readCapped(res: Response, max: number, keepOnOverflow = 0): Promise<CappedBody> {
  if (!res.body) return { chunks: [], overLimit: false, read: 0 };
  const chunks: Buffer[] = [];
  let total = 0;
  for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) {
    const c = Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength);
    total += c.length;
    if (total > max) return { chunks: [headOf([...chunks, c], keepOnOverflow)], overLimit: true, read: total }; // leaving the loop cancels the body
    chunks.push(c);
  }
  return { chunks, overLimit: false, read: total };
}

/** A body's chunks passed through until `max` bytes, then a failure saying where from and how much (the caller drops the connection). */
export function cappedChunks(body: AsyncIterable<Uint8Array>, max: number, url: string): AsyncGenerator<Uint8Array> {
  return upTo(body, max, (total) => new Error(tooLargeReason(url, max, total)));
}

/** The body's bytes as one buffer. */
export function bodyBytes(body: CappedBody): Buffer {
  return body.chunks.length === 1 ? body.chunks[0]! : Buffer.concat(body.chunks);
}

/** Drops an answer's body unread (a 429 or 401 says all in its status and headers). */
export async function discardBody(res: Response): Promise<void> {
  await res.body?.cancel().catch(() => undefined);
}

/** Where an answer came from, for errors and dead letters: origin and path, never the query (tokens). */
export function answerLocation(url: URL | string): string {
  const u = new URL(url);
  return `${u.origin}${u.pathname}`;
}

/** Why an answer over the bound was not read whole, with where it came from and how much arrived. */
export function tooLargeReason(url: URL | string, max: number, read: number, option = '--max-response-bytes'): string {
  return `the answer of ${answerLocation(url)} is larger than ${max} bytes (${option}): reading stopped after ${read} bytes`;
}

/** A request's signal: its timeout, and the run's stop (SIGTERM) so that a body in progress ends at once. */
export function requestSignal(timeoutMs: number, stop?: AbortSignal): AbortSignal {
  const timeout = AbortSignal.timeout(timeoutMs);
  return stop ? AbortSignal.any([timeout, stop]) : timeout;
}

/** A base URL with a user name or password in it is refused: it would be logged and sent on every retry. */
export function checkNoUrlCredentials(url: string, flag: string): void {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new MimelogError('usage', `${flag} is not a URL`);
  }
  if (parsed.username || parsed.password) throw new MimelogError('usage', `${flag} must not carry a user name or password; credentials come from the environment`);
}

const UNREACHABLE: Readonly<Record<string, string>> = {
  ECONNREFUSED: 'connection refused',
  ENOTFOUND: 'host not found (DNS)',
  EAI_AGAIN: 'DNS lookup failed',
  EHOSTUNREACH: 'host unreachable',
  ENETUNREACH: 'network unreachable',
  DEPTH_ZERO_SELF_SIGNED_CERT: 'TLS: self-signed certificate',
  SELF_SIGNED_CERT_IN_CHAIN: 'TLS: self-signed certificate in the chain',
  UNABLE_TO_VERIFY_LEAF_SIGNATURE: 'TLS: certificate not verifiable',
  CERT_HAS_EXPIRED: 'TLS: certificate expired',
  ERR_TLS_CERT_ALTNAME_INVALID: 'TLS: certificate is for another host name',
};

/** Why a fetch failed, in words, and whether the address itself looks wrong (never reachable). */
export function describeFetchError(err: unknown): { reason: string; unreachable: boolean } {
  const e = err as Error & { cause?: { code?: string; message?: string } };
  if (e.name === 'TimeoutError') return { reason: 'timed out', unreachable: false };
  const code = e.cause?.code;
  const known = code ? UNREACHABLE[code] : undefined;
  if (known) return { reason: `${known} (${code})`, unreachable: true };
  if (e.cause?.message === 'bad port') return { reason: 'a port that fetch refuses to use (bad port)', unreachable: true };
  return { reason: `${e.message}${code ? ` (${code})` : e.cause?.message ? ` (${e.cause.message})` : ''}`, unreachable: false };
}

/**
 * Gives up early on an address that never answered: after `limit` failures in a row that say the
 * address is wrong (refused, DNS, TLS) and no answer ever, instead of retrying for many minutes.
 */
export class FirstContact {
  private answered = false;
  private misses = 0;

  constructor(private readonly limit = 3) {}

  /** An HTTP answer arrived (any status). */
  answer(): void {
    this.answered = true;
  }

  /**
   * A failed attempt, with its cause when the address itself looks wrong (see
   * describeFetchError); returns the message to stop with, or undefined to go on retrying.
   */
  miss(unreachableCause: string | undefined, url: string): string | undefined {
    if (this.answered || unreachableCause === undefined) {
      this.misses = 0;
      return undefined;
    }
    this.misses++;
    return this.misses >= this.limit ? `cannot reach ${url}: ${unreachableCause}, ${this.misses} attempts and no answer yet; check --url or --region` : undefined;
  }
}

/** A JSON object answer, or {} when the body is not one (judged by its status). */
export function parseObject(bytes: Buffer): Record<string, unknown> {
  try {
    const v = JSON.parse(bytes.toString('utf8')) as unknown;
    return v !== null && typeof v === 'object' ? (v as Record<string, unknown>) : {};
  } catch {
    return {};
  }
}

/** Characters of an answer's error code or message put in an error or a log line, at most. */
const ANSWER_TEXT_CHARS = 1024;

/**
 * An answer's error code or message as text for an error: a string as it is, anything else as its
 * JSON (jsonText: a template string recursed into an array nested 100,000 deep and overflowed the
 * stack, which read as a network failure), its head when long; undefined when absent or empty.
 */
export function answerText(value: unknown): string | undefined {
  if (value === undefined || value === null || value === '') return undefined;
  const text = typeof value === 'string' ? value : jsonText(value) ?? String(value);
  return text.length > ANSWER_TEXT_CHARS ? `${text.slice(0, ANSWER_TEXT_CHARS)}… (${text.length} characters)` : text;
}

/**
 * The first error of a Mimecast answer's `fail[].errors[]` (API 1.0 and 2.0 alike), undefined when
 * `fail` is absent or an empty list. A `fail` of another shape (an object, a list holding no error
 * object) is an error too, said with its head: never read as "no error" (the cursor would move past
 * an answer that says it failed), never a TypeError that reads as a network failure.
 */
export function firstFailError(fail: unknown): { readonly code?: unknown; readonly message?: unknown; readonly retryable?: unknown } | undefined {
  if (fail === undefined || fail === null || (Array.isArray(fail) && fail.length === 0)) return undefined;
  if (Array.isArray(fail)) {
    for (const f of fail) {
      const errors = (f as { errors?: unknown } | null)?.errors;
      if (!Array.isArray(errors)) continue;
      for (const e of errors) if (e !== null && typeof e === 'object' && !Array.isArray(e)) return e as { code?: unknown };
    }
  }
  return { message: `the answer's fail is not a list of errors: ${answerText(fail)}` };
}
