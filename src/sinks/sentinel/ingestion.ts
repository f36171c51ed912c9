/**
 * One call of the Logs Ingestion API and what its answer means for the rows it carried.
 *
 * `POST {endpoint}/dataCollectionRules/{dcr}/streams/{stream}?api-version=2023-01-01`, a JSON
 * array of rows (gzip when asked), `Authorization: Bearer <Entra ID token>`. A 204 is the only
 * acknowledgement. Every other answer is read as one of the verdicts below, from a table (the
 * status decides, not a chain of ifs); Azure's own error code and message are kept as the reason.
 */
import { randomUUID } from 'node:crypto';
import { gzipSync } from 'node:zlib';
import { bodyBytes, describeFetchError, parseObject, readCapped, requestSignal } from '../../sources/http-body.js';
import { printable } from '../../util/terminal-text.js';

export const API_VERSION = '2023-01-01';

/**
 * What to do with the rows of a call:
 * - `accepted`: 204, the ingestion pipeline took them.
 * - `split`: 413 (over the size limit) or 400 (a row it will not take): send each half on its own,
 *   down to one row, which is then a dead letter with Azure's reason.
 * - `wait`: 429 or 503: throttled or busy; wait `Retry-After` (bounded), then send again.
 * - `retry`: no answer, a timeout, or another 5xx: send again after a back-off.
 * - `renew`: 401: the token expired or was revoked: fetch a new one and send again (once).
 * - `stop`: 403, 404 or anything else: a person must act; the run stops, nothing is checkpointed.
 */
export type Verdict = 'accepted' | 'split' | 'wait' | 'retry' | 'renew' | 'stop';

const BY_STATUS: Readonly<Record<number, Verdict>> = {
  204: 'accepted', 400: 'split', 413: 'split', 429: 'wait', 503: 'wait', 401: 'renew', 403: 'stop', 404: 'stop', 408: 'retry',
};

export function verdictOf(status: number): Verdict {
  return BY_STATUS[status] ?? (status >= 500 ? 'retry' : 'stop');
}

export interface Answer {
  readonly verdict: Verdict;
  /** The HTTP status; 0 when no answer came. */
  readonly status: number;
  /** Azure's error code and message (or why no answer came), printable and cut short. */
  readonly reason: string;
  readonly headers?: Headers;
  /** Our x-ms-client-request-id, for Azure support. */
  readonly requestId: string;
}

export interface IngestionTarget {
  readonly endpoint: string;
  readonly dcrImmutableId: string;
  readonly stream: string;
  readonly gzip: boolean;
  readonly timeoutMs: number;
}

/** The URL rows are posted to. */
export function ingestionUrl(t: IngestionTarget): string {
  return `${t.endpoint.replace(/\/+$/, '')}/dataCollectionRules/${encodeURIComponent(t.dcrImmutableId)}/streams/${encodeURIComponent(t.stream)}?api-version=${API_VERSION}`;
}

/** An error answer is a few hundred bytes; more is not read. */
const MAX_ERROR_BYTES = 64 * 1024;
const MAX_REASON_CHARS = 500;

/** Azure's `{"error":{"code","message"}}` (or its x-ms-error-code header) in one line. */
function azureReason(status: number, headers: Headers, body: Record<string, unknown>): string {
  const error = (body.error ?? {}) as { code?: unknown; message?: unknown };
  const code = typeof error.code === 'string' ? error.code : headers.get('x-ms-error-code');
  const message = typeof error.message === 'string' ? error.message : '';
  return printable(`HTTP ${status}${code ? ` ${code}` : ''}${message ? `: ${message}` : ''}`).slice(0, MAX_REASON_CHARS);
}

/** A JSON array of the rows' JSON texts. */
export function arrayBody(rows: readonly { readonly json: string }[]): string {
  return `[${rows.map((r) => r.json).join(',')}]`;
}

/** Sends one call; never throws for what the network or Azure did (that is the answer's verdict). */
export async function post(t: IngestionTarget, token: string, body: string, stop: AbortSignal): Promise<Answer> {
  const requestId = randomUUID();
  const headers: Record<string, string> = { authorization: `Bearer ${token}`, 'content-type': 'application/json', 'x-ms-client-request-id': requestId };
  if (t.gzip) headers['content-encoding'] = 'gzip';
  try {
    const res = await fetch(ingestionUrl(t), { method: 'POST', headers, body: t.gzip ? gzipSync(body) : body, signal: requestSignal(t.timeoutMs, stop) });
    const read = await readCapped(res, MAX_ERROR_BYTES);
    const reason = res.status === 204 ? '' : azureReason(res.status, res.headers, read.overLimit ? {} : parseObject(bodyBytes(read)));
    return { verdict: verdictOf(res.status), status: res.status, reason, headers: res.headers, requestId };
  } catch (err) {
    return { verdict: 'retry', status: 0, reason: `no answer: ${describeFetchError(err).reason}`, requestId };
  }
}
