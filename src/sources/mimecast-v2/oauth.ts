/** API 2.0 OAuth2 client credentials: one cached access token, refreshed before it expires. */
import { OAUTH_PATH_V2 } from '../../mimecast/endpoints.js';
import type { ApiObserver } from '../../util/backoff.js';
import { OAuthError } from '../../util/errors.js';

export interface V2ClientCredentials {
  readonly clientId: string;
  readonly clientSecret: string;
}


/** Refresh this long before the token's stated expiry. */
const EARLY_MS = 60_000;

export class TokenSource {
  private token: string | undefined;
  private expiresAt = 0;

  constructor(
    private readonly baseUrl: string,
    private readonly credentials: V2ClientCredentials,
    private readonly timeoutMs: number,
    /** Counts the token calls with the other API calls (endpoint `oauth`). */
    private readonly observe?: ApiObserver,
  ) {}

  async get(): Promise<string> {
    if (this.token && Date.now() < this.expiresAt - Math.min(EARLY_MS, (this.expiresAt - Date.now()) / 2)) return this.token;
    const body = new URLSearchParams({ client_id: this.credentials.clientId, client_secret: this.credentials.clientSecret, grant_type: 'client_credentials' });
    let res: Response;
    try {
      res = await fetch(new URL(OAUTH_PATH_V2, this.baseUrl), {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
        body,
        signal: AbortSignal.timeout(this.timeoutMs),
      });
    } catch (err) {
      this.observe?.call('oauth', 'network_error');
      throw err;
    }
    this.observe?.call('oauth', String(res.status));
    const json = (await res.json().catch(() => ({}))) as { access_token?: string; expires_in?: number; error?: string };
    if (res.status === 401 || res.status === 400) {
      throw new OAuthError(`OAuth token refused (${json.error ?? `HTTP ${res.status}`}): check MIMECAST_CLIENT_ID and MIMECAST_CLIENT_SECRET`);
    }
    if (!res.ok || !json.access_token) throw new Error(`OAuth token request failed: HTTP ${res.status}`);
    this.token = json.access_token;
    this.expiresAt = Date.now() + (json.expires_in ?? 1800) * 1000;
    return this.token;
  }

  /** After a 401: the next `get` fetches a new token. */
  invalidate(): void {
    this.token = undefined;
  }
}
