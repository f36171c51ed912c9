/**
 * API 2.0 OAuth2 client credentials: one cached access token, refreshed before it expires.
 *
 * The token endpoint is treated as hostile like any other: its answer is read within a small
 * bound, `expires_in` is held to a sane range (no hot loop of token requests, no token kept for
 * years), an access token that cannot be sent as a header value is refused without printing it,
 * and an error answer is named by its error code only (a body echoing the request form would
 * print the client secret).
 */
import { OAUTH_PATH_V2 } from '../../mimecast/endpoints.js';
import type { ApiObserver } from '../../util/backoff.js';
import { OAuthError } from '../../util/errors.js';
import { SECRETS } from '../../util/secrets.js';
import { bodyBytes, parseObject, readCapped, requestSignal, tooLargeReason } from '../http-body.js';

export interface V2ClientCredentials {
  readonly clientId: string;
  readonly clientSecret: string;
}

/** Refresh this long before the token's stated expiry. */
const EARLY_MS = 60_000;
/** A token answer is a few hundred bytes. */
const MAX_TOKEN_ANSWER_BYTES = 64 * 1024;
/** `expires_in` (seconds) is held to this range; none stated: the default. */
export const TOKEN_LIFETIME_S = { min: 60, max: 86_400, default: 1800 } as const;
/** What a bearer token may hold: visible ASCII, no space (RFC 6750 b64token is a subset). No CR/LF, no quote games in a header. */
const BEARER_TOKEN = /^[\x21-\x7e]{1,8192}$/;
/** An OAuth error code (RFC 6749 §5.2): short, printable, no spaces; anything else is not printed. */
const ERROR_CODE = /^[a-z0-9_.-]{1,64}$/i;

/** A token lifetime in seconds, held to TOKEN_LIFETIME_S: 0, negative or not a number is the minimum. */
export function tokenLifetimeS(expiresIn: unknown): number {
  if (expiresIn === undefined || expiresIn === null) return TOKEN_LIFETIME_S.default;
  const n = Number(expiresIn);
  if (!Number.isFinite(n) || n < TOKEN_LIFETIME_S.min) return TOKEN_LIFETIME_S.min;
  return Math.min(n, TOKEN_LIFETIME_S.max);
}

export class TokenSource {
  private token: string | undefined;
  private expiresAt = 0;
  /** The tokens registered as secrets: the newest two (a request sent with the one before may still fail and print). */
  private registered: string[] = [];

  constructor(
    private readonly baseUrl: string,
    private readonly credentials: V2ClientCredentials,
    private readonly timeoutMs: number,
    /** Counts the token calls with the other API calls (endpoint `oauth`). */
    private readonly observe?: ApiObserver,
  ) {
    // Whoever built the credentials may have registered the secret already; an echo of a Basic header of them is masked too.
    SECRETS.addBasicAuth(credentials.clientId, credentials.clientSecret);
  }

  /** The access token; `stop` (SIGTERM) ends a token request in progress. */
  async get(stop?: AbortSignal): Promise<string> {
    if (this.token && Date.now() < this.expiresAt - Math.min(EARLY_MS, (this.expiresAt - Date.now()) / 2)) return this.token;
    const body = new URLSearchParams({ client_id: this.credentials.clientId, client_secret: this.credentials.clientSecret, grant_type: 'client_credentials' });
    const url = new URL(OAUTH_PATH_V2, this.baseUrl);
    let res: Response;
    let answer: Awaited<ReturnType<typeof readCapped>>;
    try {
      res = await fetch(url, {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
        body,
        signal: requestSignal(this.timeoutMs, stop),
      });
      answer = await readCapped(res, MAX_TOKEN_ANSWER_BYTES);
    } catch (err) {
      this.observe?.call('oauth', 'network_error');
      throw err;
    }
    this.observe?.call('oauth', String(res.status));
    if (answer.overLimit) throw new Error(`OAuth token request failed: ${tooLargeReason(url, MAX_TOKEN_ANSWER_BYTES, answer.read, 'the bound of a token answer')}`);
    const json = parseObject(bodyBytes(answer)) as { access_token?: unknown; expires_in?: unknown; error?: unknown };
    if (res.status === 401 || res.status === 400) {
      const code = typeof json.error === 'string' && ERROR_CODE.test(json.error) ? json.error : `HTTP ${res.status}`;
      throw new OAuthError(`OAuth token refused (${code}): check MIMECAST_CLIENT_ID and MIMECAST_CLIENT_SECRET`);
    }
    if (!res.ok || json.access_token === undefined || json.access_token === '') throw new Error(`OAuth token request failed: HTTP ${res.status}`);
    if (typeof json.access_token !== 'string' || !BEARER_TOKEN.test(json.access_token)) {
      // Never printed: it is a credential, and its odd characters (CR/LF) could forge log lines or headers.
      throw new OAuthError('OAuth token answer refused: the access_token is not a string of visible ASCII characters that can be sent as a bearer token (it is not shown)');
    }
    this.token = json.access_token;
    this.register(this.token);
    this.expiresAt = Date.now() + tokenLifetimeS(json.expires_in) * 1000;
    return this.token;
  }

  /** A server echoing the Authorization header must not print the token: masked in every output, like the client secret. */
  private register(token: string): void {
    if (this.registered.includes(token)) return;
    SECRETS.add(token);
    this.registered.push(token);
    if (this.registered.length > 2) SECRETS.remove(this.registered.shift());
  }

  /** After a 401: the next `get` fetches a new token. */
  invalidate(): void {
    this.token = undefined;
  }
}
