/**
 * API 2.0 in the simulator (docs/mimecast.md §5): OAuth2 client credentials with expiring tokens,
 * the batch listing (one type per call, pages with `@nextPage` even when empty, `isCaughtUp`),
 * and pre-signed file URLs served here that expire and refuse an Authorization header, holding
 * gzip NDJSON in the live shape (`type`/`subtype`, `_partition`/`_offset`, string values).
 */
import { createHmac } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { DEFAULT_TABLES, normalizeV2Type } from '../classify/type-tables.js';
import { LOG_TYPES } from '../mimecast/log-types.js';
import type { SiemFile } from './catalog.js';
import { Rng, toV2Record } from './generate.js';

export const OAUTH_PATH = '/oauth/token';
export const BATCH_PATH = '/siem/v1/batch/events/cg';
const FILE_PATH = '/v2files/';

export interface V2Credentials {
  readonly clientId: string;
  readonly clientSecret: string;
}

export interface V2Options {
  /** Lifetime of an access token (Mimecast: about 1800 s). */
  readonly tokenTtlMs?: number;
  /** Lifetime of a pre-signed file URL. */
  readonly urlTtlMs?: number;
}

export function v2CredentialsFor(seed: number): V2Credentials {
  const rng = new Rng(seed ^ 0x0a2);
  return { clientId: rng.token(32, 'abcdefghijklmnopqrstuvwxyz0123456789'), clientSecret: rng.token(40) };
}

/** The batch file of a catalog file: NDJSON in the batch shape, one line per event. */
export function v2FileBody(file: SiemFile): string {
  const partition = LOG_TYPES.findIndex((t) => t.name === file.logType);
  return `${file.events.map((e, i) => JSON.stringify(toV2Record(e, { shape: 'batch', partition, offset: file.index * 100_000 + i }))).join('\n')}\n`;
}

export class V2Api {
  readonly credentials: V2Credentials;
  private readonly tokens = new Map<string, number>();
  private readonly signKey: Buffer;
  private readonly gz = new Map<number, Buffer>();
  private issued = 0;

  constructor(
    private readonly catalog: readonly SiemFile[],
    seed: number,
    private readonly options: V2Options,
    private readonly available: () => number,
  ) {
    this.credentials = v2CredentialsFor(seed);
    this.signKey = createHmac('sha256', String(seed)).update('v2-urls').digest();
  }

  /** Writes every batch file as NDJSON, so `mimelog ingest DIR` yields the expected v2 event set. */
  writeExpected(dir: string): void {
    mkdirSync(dir, { recursive: true });
    for (const f of this.catalog) writeFileSync(join(dir, `${f.name}.ndjson`), v2FileBody(f));
  }

  /** Handles an API 2.0 route; false when the path is not one. */
  handle(req: IncomingMessage, res: ServerResponse, body: Buffer, origin: string): boolean {
    const url = new URL(req.url ?? '/', origin);
    const json = (status: number, value: unknown) => res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(value));
    if (url.pathname === OAUTH_PATH && req.method === 'POST') {
      const form = new URLSearchParams(body.toString());
      const ok = form.get('grant_type') === 'client_credentials' && form.get('client_id') === this.credentials.clientId && form.get('client_secret') === this.credentials.clientSecret;
      if (!ok) return json(401, { error: 'invalid_client', error_description: 'client authentication failed' }), true;
      const token = `sim-${++this.issued}-${createHmac('sha256', this.signKey).update(String(this.issued)).digest('hex').slice(0, 24)}`;
      const ttl = this.options.tokenTtlMs ?? 1_800_000;
      this.tokens.set(token, Date.now() + ttl);
      return json(200, { access_token: token, token_type: 'Bearer', expires_in: Math.floor(ttl / 1000) }), true;
    }
    if (url.pathname === BATCH_PATH && req.method === 'GET') {
      const bearer = /^Bearer (.+)$/.exec(req.headers.authorization ?? '')?.[1];
      const expiry = bearer ? this.tokens.get(bearer) : undefined;
      if (!expiry || expiry < Date.now()) return json(401, { error: { code: 'unauthorized', message: 'access token missing or expired' } }), true;
      const logType = DEFAULT_TABLES.v2Types.get(normalizeV2Type(url.searchParams.get('type') ?? ''));
      if (!logType) return json(400, { error: { code: 'validation_error', message: `unknown type ${url.searchParams.get('type')}` } }), true;
      const pageSize = Math.max(1, Math.min(100, Number(url.searchParams.get('pageSize') ?? 10)));
      const offset = this.parsePage(url.searchParams.get('nextPage'), logType);
      if (offset === undefined) return json(400, { error: { code: 'validation_error', message: 'invalid nextPage' } }), true;
      const files = this.catalog.slice(0, this.available()).filter((f) => f.logType === logType);
      const page = files.slice(offset, offset + pageSize);
      const urlExpiry = Date.now() + (this.options.urlTtlMs ?? 15 * 60_000);
      return json(200, {
        value: page.map((f) => ({ url: this.signedUrl(origin, f.index, urlExpiry), size: this.gzipped(f).length, expiry: new Date(urlExpiry).toISOString() })),
        '@nextPage': this.page(logType, offset + page.length),
        isCaughtUp: offset + page.length >= files.length,
      }), true;
    }
    if (url.pathname.startsWith(FILE_PATH) && req.method === 'GET') {
      if (req.headers.authorization) return res.writeHead(400, { 'content-type': 'application/xml' }).end('<Error><Code>InvalidArgument</Code><Message>Only one auth mechanism allowed</Message></Error>'), true;
      const index = Number(url.pathname.slice(FILE_PATH.length));
      const exp = Number(url.searchParams.get('exp'));
      const file = this.catalog[index];
      if (!file || url.searchParams.get('sig') !== this.sign(index, exp)) return res.writeHead(403).end('<Error><Code>SignatureDoesNotMatch</Code></Error>'), true;
      if (exp < Date.now()) return res.writeHead(403).end('<Error><Code>AccessDenied</Code><Message>Request has expired</Message></Error>'), true;
      const gz = this.gzipped(file);
      res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': String(gz.length) }).end(gz);
      return true;
    }
    return false;
  }

  private gzipped(file: SiemFile): Buffer {
    let gz = this.gz.get(file.index);
    if (!gz) {
      gz = gzipSync(v2FileBody(file));
      this.gz.set(file.index, gz);
    }
    return gz;
  }

  private sign(index: number, exp: number): string {
    return createHmac('sha256', this.signKey).update(`${index}:${exp}`).digest('hex').slice(0, 32);
  }

  private signedUrl(origin: string, index: number, exp: number): string {
    return `${origin}${FILE_PATH}${index}?exp=${exp}&sig=${this.sign(index, exp)}`;
  }

  private page(logType: string, offset: number): string {
    return Buffer.from(`${logType}:${offset}`).toString('base64url');
  }

  private parsePage(token: string | null, logType: string): number | undefined {
    if (!token) return 0;
    const m = /^(.+):(\d+)$/.exec(Buffer.from(token, 'base64url').toString());
    return m && m[1] === logType ? Number(m[2]) : undefined;
  }
}
