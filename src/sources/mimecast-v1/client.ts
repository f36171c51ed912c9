/**
 * API 1.0 `get-siem-logs` client: one signed call, one classified answer. Retrying is the
 * collector's job; this module only says what the answer was.
 */
import type { ApiObserver } from '../../util/backoff.js';
import { rateLimitRemaining } from '../../util/rate-budget.js';
import { type CappedBody, answerText, bodyBytes, describeFetchError, firstFailError, readCapped, requestSignal, tooLargeReason } from '../http-body.js';
import { type DecodeLimits, DEFAULT_LIMITS } from '../../decode/limits.js';
import { DEFAULT_MAX_SERVER_WAIT_MS, serverWaitMs } from '../../util/rate-budget.js';
import { SIEM_PATH_V1 } from '../../mimecast/endpoints.js';
import { type V1Credentials, signedHeaders } from '../../mimecast/v1-auth.js';

export type V1Answer =
  | {
    kind: 'file'; name: string; nextToken: string;
    /** The file's bytes as they arrived (never joined: a file near the bound is held once); over the bound, only its head. */
    body: readonly Buffer[];
    /** Bytes received: the file's length, or where reading stopped when it was over the bound. */
    length: number;
    /** body is only the head of a larger answer */ overLimit?: boolean;
  }
  | { kind: 'caught-up' }
  /** Worth retrying after `waitMs` (429: the reset time) or a back-off. */
  | { kind: 'retry'; reason: string; waitMs?: number; /** no HTTP answer, and why the address looks wrong: refused, DNS, TLS */ unreachable?: string }
  | { kind: 'invalid-token'; reason: string }
  /** Needs a person: expired binding, bad keys, wrong region. */
  | { kind: 'fatal'; reason: string };

export interface V1Request {
  readonly baseUrl: string;
  readonly credentials: V1Credentials;
  readonly fileFormat: 'key_value' | 'json';
  readonly compress: boolean;
  readonly token?: string;
  readonly timeoutMs: number;
  /** Larger answers are not read whole: a file is dead-lettered with its head, anything else retried. */
  readonly maxResponseBytes: number;
  /** The longest wait a server may ask for (X-RateLimit-Reset is capped at it; default DEFAULT_MAX_SERVER_WAIT_MS). */
  readonly maxServerWaitMs?: number;
  /** How much of a file over the bound its dead letter keeps (deadLetterHeadBytes). */
  readonly limits?: DecodeLimits;
  readonly observe?: ApiObserver;
  /** Ends a request in progress, its body included (SIGTERM). */
  readonly stop?: AbortSignal;
}

/** A JSON answer (an error, "caught up") is small: a larger one is not parsed. */
const MAX_CONTROL_ANSWER_BYTES = 1024 * 1024;

interface FailBody {
  meta?: { isLastToken?: boolean };
  fail?: unknown;
}

/** What an administrator must do for each fatal error code. */
const FATAL_ADVICE: Readonly<Record<string, string>> = {
  err_xdk_binding_expired: 'the API keys have expired: an administrator must create new access and secret keys for this application in the Mimecast console',
  err_developer_key: 'the application id or key is not valid: check MIMECAST_APP_ID and MIMECAST_APP_KEY',
  err_xdk_invalid_access_key: 'the access key is not known: check MIMECAST_ACCESS_KEY',
  err_xdk_signature_mismatch: 'the request signature was refused: check MIMECAST_SECRET_KEY and MIMECAST_APP_KEY',
  err_xdk_request_date_invalid: "this machine's clock is more than 15 minutes off: fix its time (NTP)",
  err_audit_log_incorrect_region: 'the account lives in another region: set --region or --url to its API host',
};

function fileNameFrom(disposition: string | null): string | undefined {
  const m = /filename\*?=(?:UTF-8'')?"?([^";]+)"?/i.exec(disposition ?? '');
  if (!m) return undefined;
  try {
    return decodeURIComponent(m[1]!);
  } catch {
    return m[1]; // broken percent-encoding: the name as sent (it is only a label and a type signal)
  }
}

function classifyFail(body: FailBody, status: number): V1Answer | undefined {
  const err = firstFailError(body?.fail);
  if (!err) return undefined;
  // Text for an error, whatever the answer put there (a code nested 100,000 deep, a 5 MB message).
  const code = answerText(err.code) ?? 'unknown';
  const message = answerText(err.message);
  if (code === 'err_audit_siem_invalid_token') return { kind: 'invalid-token', reason: `${code}: ${message ?? ''}`.trim() };
  const advice = Object.hasOwn(FATAL_ADVICE, code) ? FATAL_ADVICE[code] : undefined; // "constructor" is no code of ours
  if (advice) return { kind: 'fatal', reason: `${code}: ${advice}` };
  if (err.retryable === true || status === 429 || status >= 500) return { kind: 'retry', reason: `${code}: ${message ?? ''}`.trim() };
  return { kind: 'fatal', reason: `${code}: ${message ?? 'refused by Mimecast'} (HTTP ${status})` };
}

/** The endpoint's name in metrics. */
export const V1_ENDPOINT = 'get-siem-logs';

export async function getSiemLogs(r: V1Request): Promise<V1Answer> {
  const body = JSON.stringify({ data: [{ type: 'MTA', fileFormat: r.fileFormat, compress: r.compress, ...(r.token ? { token: r.token } : {}) }] });
  let res: Response;
  let answer: CappedBody;
  try {
    res = await fetch(new URL(SIEM_PATH_V1, r.baseUrl), {
      method: 'POST',
      headers: { ...signedHeaders(r.credentials, SIEM_PATH_V1), 'content-type': 'application/json', accept: 'application/octet-stream, application/json' },
      body,
      signal: requestSignal(r.timeoutMs, r.stop),
    });
    r.observe?.call(V1_ENDPOINT, String(res.status));
    const remaining = rateLimitRemaining(res.headers);
    if (remaining !== undefined) r.observe?.rateLimitRemaining(remaining);
    // A file over the bound keeps a head no longer than the bound itself (its dead letter's bytes).
    answer = await readCapped(res, isControlAnswer(res) ? MAX_CONTROL_ANSWER_BYTES : r.maxResponseBytes, Math.min(r.maxResponseBytes, (r.limits ?? DEFAULT_LIMITS).deadLetterHeadBytes));
  } catch (err) {
    r.observe?.call(V1_ENDPOINT, 'network_error');
    const { reason, unreachable } = describeFetchError(err);
    return { kind: 'retry', reason: `request failed: ${reason === 'timed out' ? `timed out after ${r.timeoutMs} ms` : reason}`, unreachable: unreachable ? reason : undefined };
  }
  try {
    return interpret(res, answer, r);
  } catch (err) {
    // A hostile or broken answer (odd JSON shapes, headers) is retried, never an exception.
    return { kind: 'retry', reason: `unexpected answer (HTTP ${res.status}): ${(err as Error).message}` };
  }
}

/** An error or "caught up" in JSON, not a file. */
function isControlAnswer(res: Response): boolean {
  return (res.headers.get('content-type') ?? '').includes('json') || res.status !== 200;
}

function interpret(res: Response, answer: CappedBody, r: V1Request): V1Answer {
  if (res.status === 429) {
    const wait = serverWaitMs(res.headers, r.maxServerWaitMs ?? DEFAULT_MAX_SERVER_WAIT_MS);
    return { kind: 'retry', reason: `HTTP 429 rate limited${wait.note}`, waitMs: wait.ms ?? 1000 };
  }
  if (answer.overLimit && isControlAnswer(res)) return { kind: 'retry', reason: `HTTP ${res.status}: ${tooLargeReason(res.url || SIEM_PATH_V1, MAX_CONTROL_ANSWER_BYTES, answer.read, 'the bound of an error answer')}` };
  if (isControlAnswer(res)) {
    let parsed: FailBody = {};
    try {
      parsed = JSON.parse(bodyBytes(answer).toString() || '{}') as FailBody;
    } catch {
      // not JSON: judged by status below
    }
    const failure = classifyFail(parsed, res.status);
    if (failure) return failure;
    if (res.status === 418) return { kind: 'fatal', reason: `HTTP 418: ${FATAL_ADVICE.err_xdk_binding_expired}` };
    if (res.status === 401 || res.status === 403) return { kind: 'fatal', reason: `HTTP ${res.status}: authentication refused; check the four MIMECAST_* credentials` };
    if (res.status >= 500) return { kind: 'retry', reason: `HTTP ${res.status}` };
    if (res.status === 200 && parsed.meta?.isLastToken) return { kind: 'caught-up' };
    if (res.status === 200) return { kind: 'retry', reason: 'HTTP 200 JSON answer that is neither a file nor isLastToken' };
    return { kind: 'fatal', reason: `HTTP ${res.status}: unexpected answer` };
  }
  const nextToken = res.headers.get('mc-siem-token');
  if (answer.read === 0) return { kind: 'retry', reason: 'empty file body' };
  if (!nextToken) return { kind: 'retry', reason: 'file without an mc-siem-token header' };
  const name = fileNameFrom(res.headers.get('content-disposition')) ?? `siem-${Date.now()}.${r.fileFormat === 'json' ? 'json' : 'log'}`;
  return { kind: 'file', name, body: answer.chunks, length: answer.read, nextToken, ...(answer.overLimit ? { overLimit: true } : {}) };
}
