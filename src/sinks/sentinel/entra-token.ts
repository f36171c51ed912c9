/**
 * Microsoft Entra ID client credentials for the Logs Ingestion API: one access token, cached and
 * fetched again before it expires (or at once after Azure said 401), shared by every request in
 * flight (one token request at a time).
 *
 * The token endpoint is `<authority>/<tenant>/oauth2/v2.0/token` (the authority is
 * https://login.microsoftonline.com unless configured: another cloud, or the tests' emulator).
 * The secret and every token are registered with util/secrets.ts: no log line or error shows them.
 * A refusal is named by its OAuth error code and AADSTS numbers only: a description could echo
 * what was sent.
 */
import { MimelogError } from '../../util/errors.js';
import { SECRETS } from '../../util/secrets.js';
import { bodyBytes, describeFetchError, parseObject, readCapped, requestSignal } from '../../sources/http-body.js';

export interface EntraCredentials {
  readonly authority: string;
  readonly tenantId: string;
  readonly clientId: string;
  readonly clientSecret: string;
  readonly scope: string;
}

/** Fetched again this long before the stated expiry (at most half the token's life). */
const RENEW_EARLY_MS = 5 * 60_000;
/** `expires_in` held to this range (seconds): a broken answer neither loops nor keeps a token for days. */
const LIFETIME_S = { min: 60, max: 86_400, fallback: 3_600 } as const;
const MAX_ANSWER_BYTES = 64 * 1024;
/** A token sendable as a header value: visible ASCII, no space. Anything else is refused unseen. */
const BEARER = /^[\x21-\x7e]{1,16384}$/;
const OAUTH_CODE = /^[a-z0-9_.-]{1,64}$/i;

/** Why a token was refused, in words a person can act on (never the secret, never Azure's description). */
function refusal(status: number, answer: Record<string, unknown>, c: EntraCredentials): string {
  const code = typeof answer.error === 'string' && OAUTH_CODE.test(answer.error) ? answer.error : `HTTP ${status}`;
  const aadsts = Array.isArray(answer.error_codes) ? answer.error_codes.filter((n) => Number.isInteger(n)).map((n) => `AADSTS${n}`).join(', ') : '';
  return `Entra ID refused the client credentials of application ${c.clientId} in tenant ${c.tenantId} (${code}${aadsts ? `, ${aadsts}` : ''}): check tenant_id, client_id and client_secret`;
}

export class EntraToken {
  private token: string | undefined;
  /** When the cached token is fetched again: before its expiry by RENEW_EARLY_MS, or by half its life when shorter. */
  private renewAt = 0;
  private pending: Promise<string> | undefined;
  /** The newest two tokens stay registered as secrets (a request sent with the older may still fail and print). */
  private registered: string[] = [];

  constructor(
    private readonly credentials: EntraCredentials,
    private readonly timeoutMs: number,
    /** The clock (tests move it to see a renewal). */
    private readonly now: () => number = Date.now,
  ) {
    SECRETS.add(credentials.clientSecret);
  }

  get url(): string {
    return `${this.credentials.authority.replace(/\/+$/, '')}/${encodeURIComponent(this.credentials.tenantId)}/oauth2/v2.0/token`;
  }

  /** A valid access token: the cached one, or a new one when it is close to expiry or was invalidated. */
  get(stop?: AbortSignal): Promise<string> {
    if (this.token !== undefined && this.now() < this.renewAt) return Promise.resolve(this.token);
    this.pending ??= this.fetch(stop).finally(() => (this.pending = undefined));
    return this.pending;
  }

  /** Azure said 401 to a request carrying `used`: the next `get` fetches a new token (unless one came since). */
  invalidate(used: string): void {
    if (this.token === used) this.token = undefined;
  }

  private async fetch(stop?: AbortSignal): Promise<string> {
    const c = this.credentials;
    const form = new URLSearchParams({ grant_type: 'client_credentials', client_id: c.clientId, client_secret: c.clientSecret, scope: c.scope });
    let res: Response;
    let answer: Record<string, unknown>;
    try {
      res = await fetch(this.url, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: form, signal: requestSignal(this.timeoutMs, stop) });
      const read = await readCapped(res, MAX_ANSWER_BYTES);
      answer = read.overLimit ? {} : parseObject(bodyBytes(read));
    } catch (err) {
      throw new TokenUnavailable(`no access token from ${this.url}: ${describeFetchError(err).reason}`);
    }
    if (res.status === 400 || res.status === 401 || res.status === 403) throw new MimelogError('usage', refusal(res.status, answer, c));
    if (!res.ok) throw new TokenUnavailable(`no access token from ${this.url}: HTTP ${res.status}`);
    const token = answer.access_token;
    if (typeof token !== 'string' || !BEARER.test(token)) {
      throw new MimelogError('usage', `the token answer of ${this.url} holds no access_token that can be sent as a bearer token (not shown)`);
    }
    this.keep(token, answer.expires_in);
    return token;
  }

  private keep(token: string, expiresIn: unknown): void {
    const stated = Number(expiresIn);
    const lifetimeS = expiresIn === undefined || !Number.isFinite(stated) ? LIFETIME_S.fallback : Math.min(Math.max(stated, LIFETIME_S.min), LIFETIME_S.max);
    this.token = token;
    this.renewAt = this.now() + lifetimeS * 1000 - Math.min(RENEW_EARLY_MS, (lifetimeS * 1000) / 2);
    if (this.registered.includes(token)) return;
    SECRETS.add(token);
    this.registered.push(token);
    if (this.registered.length > 2) SECRETS.remove(this.registered.shift());
  }
}

/** The token endpoint did not answer (or answered 5xx): sent again with back-off, like a busy ingestion endpoint. */
export class TokenUnavailable extends Error {}
