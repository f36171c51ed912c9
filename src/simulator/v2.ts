/**
 * API 2.0 in the simulator (docs/mimecast.md §5): OAuth2 client credentials with expiring tokens,
 * the batch listing (one type per call, pages with `@nextPage` even when empty, `isCaughtUp`),
 * pre-signed file URLs served here that expire and refuse an Authorization header, holding
 * gzip NDJSON in the live shape (`type`/`subtype`, `_partition`/`_offset`, string values), and
 * the stream (`/siem/v1/events/cg`: events inline, `eventType`/`subType`, every type in time
 * order), and Cloud Integrated's batch files under its own path (cloud-integrated.ts). Faults on
 * demand (faults.ts `V2_FAULTS`) and `X-RateLimit-*` headers on API calls.
 */
import { createHmac } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { logTypeForV2 } from '../mimecast/products.js';
import { BATCH_TOKEN_EXPIRED_CODES, STREAM_TOKEN_EXPIRED_CODES } from '../mimecast/horizons.js';
import { LOG_TYPES } from '../mimecast/log-types.js';
import type { SiemFile } from './catalog.js';
import type { FaultPlan, V2Fault } from './faults.js';
import { Rng, type V2Record, toV2Record } from './generate.js';
import { FeedApi, type FeedSimOptions } from './feeds.js';

import { OAUTH_PATH_V2 as OAUTH_PATH, STREAM_PATH_V2 as STREAM_PATH } from '../mimecast/endpoints.js';
import { type ProductName, SIEM_PRODUCTS } from '../mimecast/products.js';
import { type CiFile, type CloudIntegratedOptions, buildCiCatalog, ciFileBody } from './cloud-integrated.js';

/** The product whose batch listing a path is. */
const PRODUCT_AT = new Map(Object.values(SIEM_PRODUCTS).map((p) => [p.batchPath, p.name]));
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
  /** Files (catalog index) always served as a truncated gzip, every byte delivered. */
  readonly corruptFiles?: readonly number[];
  /**
   * The stream's window (Mimecast: about 24 h). When set, the stream serves events in time order,
   * only those with `clock − window ≤ time ≤ clock`, where the clock is the simulator's (moved on
   * by `advanceClock`); a page token that points at an event that has left the window is refused
   * (HTTP 400, code STREAM_TOKEN_EXPIRED), and `dateRangeStartsAt` starts at a time.
   */
  readonly streamWindowMs?: number;
  /** The other API 2.0 feeds: how many records, when, and which are not licensed. */
  readonly feeds?: FeedSimOptions;
  /** Cloud Integrated batch files (`/siem/v1/batch/events/ci`); none unless set. */
  readonly cloudIntegrated?: CloudIntegratedOptions;
  /**
   * What the application may not read (`cg`, `ci`, `stream`, or a feed's name): a valid token
   * gets HTTP 403 with `fail[]` code `err_insufficient_permissions` there, as for an application
   * created without that product.
   */
  readonly refused?: readonly string[];
  /** The application belongs to another region's gateway: the token call answers 401. */
  readonly otherRegion?: boolean;
}

/** The name `V2Options.refused` uses for what a path reads. */
function readNameAt(path: string, feedName: string | undefined): string | undefined {
  return path === STREAM_PATH ? 'stream' : (PRODUCT_AT.get(path) ?? feedName);
}

/** The simulator's answer to a stream page token that points before the window (Mimecast's own is not documented). */
const STREAM_TOKEN_EXPIRED = STREAM_TOKEN_EXPIRED_CODES[0]!;
/** The simulator's answer to a batch page token whose files aged out (Mimecast's own is not documented). */
const BATCH_TOKEN_EXPIRED = BATCH_TOKEN_EXPIRED_CODES[0]!;

/** A token this young is never expired by the `token-expiry` fault. */
const FRESH_TOKEN_MS = 1000;

export function v2CredentialsFor(seed: number): V2Credentials {
  const rng = new Rng(seed ^ 0x0a2);
  return { clientId: rng.token(32, 'abcdefghijklmnopqrstuvwxyz0123456789'), clientSecret: rng.token(40) };
}

/** Content faults are permanent and deterministic: these files always carry them. */
const LONG_LINE_EVERY = 13;
const MALFORMED_LINE_EVERY = 11;
/** A subject a little over 1 MiB: longer than any line cap an integration might have. */
const LONG_SUBJECT_BYTES = (1 << 20) + 4096;

export interface ContentFaults {
  readonly longLine: boolean;
  readonly malformedLine: boolean;
}

/** The events of a catalog file as API 2.0 records (batch or stream shape), content faults applied. */
export function v2Records(file: SiemFile, shape: 'batch' | 'stream', faults: ContentFaults): V2Record[] {
  const partition = LOG_TYPES.findIndex((t) => t.name === file.logType);
  return file.events.map((e, i) => {
    const record = toV2Record(e, { shape, partition, offset: file.index * 100_000 + i });
    if (faults.longLine && i === 0 && file.index % LONG_LINE_EVERY === 1) record.subject = `long ${'x'.repeat(LONG_SUBJECT_BYTES)}`;
    return record;
  });
}

/** The batch file of a catalog file: NDJSON in the batch shape, one line per event (plus a broken line for `malformed-line`). */
export function v2FileBody(file: SiemFile, faults: ContentFaults = { longLine: false, malformedLine: false }): string {
  const lines = v2Records(file, 'batch', faults).map((r) => JSON.stringify(r));
  if (faults.malformedLine && file.index % MALFORMED_LINE_EVERY === 2) lines.splice(1, 0, '{"type":"receipt","timestamp":"17000000'); // cut mid-record
  return `${lines.join('\n')}\n`;
}

type Json = (status: number, value: unknown, headers?: Record<string, string>) => void;

export class V2Api {
  readonly credentials: V2Credentials;
  private readonly tokens = new Map<string, number>();
  private readonly signKey: Buffer;
  private readonly gz = new Map<string, Buffer>();
  private readonly content: ContentFaults;
  private issued = 0;
  private justExpired = false;
  private readonly issuedAt = new Map<string, number>();
  /** Injected 429s of the POST feeds: every other one comes without X-RateLimit-Reset. */
  private feed429s = 0;
  /** The other API 2.0 feeds (audit, TTP, DLP). */
  readonly feeds: FeedApi;
  /** Cloud Integrated's files, over the same time as the catalog's. */
  readonly ciFiles: readonly CiFile[];
  /** The stream in time order (windowed mode): catalog index and position in its file. */
  private timeline: { file: number; at: number; timeMs: number }[] | undefined;

  constructor(
    private readonly catalog: readonly SiemFile[],
    seed: number,
    private readonly options: V2Options,
    /** The catalog files that exist now, as [first, end) (the simulator's file retention and clock). */
    private readonly held: () => { first: number; end: number },
    private readonly faults: FaultPlan,
    /** Counts an API call against the shared rate limit and sets X-RateLimit-*; false when over it. */
    private readonly rateLimit: (res: ServerResponse) => boolean,
    private readonly clock: () => number,
  ) {
    this.credentials = v2CredentialsFor(seed);
    this.signKey = createHmac('sha256', String(seed)).update('v2-urls').digest();
    this.content = { longLine: faults.isEnabled('long-line'), malformedLine: faults.isEnabled('malformed-line') };
    this.feeds = new FeedApi(seed, options.feeds);
    const first = catalog[0]?.events[0]?.timeMs ?? 0;
    const last = catalog.at(-1)?.events.at(-1)?.timeMs ?? 0;
    this.ciFiles = options.cloudIntegrated ? buildCiCatalog(seed, options.cloudIntegrated, first, last) : [];
  }

  /** Writes every batch file as served (NDJSON, content faults included): `mimelog ingest DIR` yields the expected v2 set. */
  writeExpected(dir: string): void {
    mkdirSync(dir, { recursive: true });
    for (const f of this.catalog) writeFileSync(join(dir, `${f.name}.ndjson`), v2FileBody(f, this.content));
  }

  /** Writes every Cloud Integrated file as served: `mimelog ingest DIR` yields the expected set. */
  writeExpectedCloudIntegrated(dir: string): void {
    mkdirSync(dir, { recursive: true });
    for (const f of this.ciFiles) writeFileSync(join(dir, `ci_${f.logType}_${f.index}.ndjson`), ciFileBody(f));
  }

  /** Handles an API 2.0 route; false when the path is not one. */
  handle(req: IncomingMessage, res: ServerResponse, body: Buffer, origin: string): boolean {
    const url = new URL(req.url ?? '/', origin);
    const json: Json = (status, value, headers = {}) => res.writeHead(status, { 'content-type': 'application/json', ...headers }).end(JSON.stringify(value));
    if (url.pathname === OAUTH_PATH && req.method === 'POST') return this.token(body, json), true;
    const feed = req.method === 'POST' ? this.feeds.feedAt(url.pathname) : undefined;
    const read = readNameAt(url.pathname, feed?.name);
    if (read !== undefined && this.options.refused?.includes(read) && this.authorized(req)) {
      return json(403, { meta: { status: 403 }, data: [], fail: [{ errors: [{ code: 'err_insufficient_permissions', message: `the application has no product or role that reads ${read}`, retryable: false }] }] }), true;
    }
    const product = PRODUCT_AT.get(url.pathname);
    if ((product !== undefined || url.pathname === STREAM_PATH) && req.method === 'GET') {
      if (!this.authorized(req)) return json(401, { error: { code: 'unauthorized', message: 'access token missing or expired' } }), true;
      if (!this.rateLimit(res)) return json(429, { error: { code: 'too_many_requests', message: 'rate limit exceeded' } }), true;
      // A token expires at most once in a row, and never in its first second: a token refused
      // right after it was issued would mean revoked credentials, not expiry (with types listed
      // concurrently, one caller's fresh token could otherwise meet the next caller's fault).
      const expirable = !this.justExpired && Date.now() - (this.issuedAt.get(this.bearer(req) ?? '') ?? 0) > FRESH_TOKEN_MS;
      const fault = this.faults.next((f) => f === '429' || f === '5xx' || f === 'empty-page' || (f === 'token-expiry' && expirable));
      this.justExpired = fault === 'token-expiry';
      if (fault === '429') return json(429, { error: { code: 'too_many_requests', message: 'rate limit exceeded' } }, { 'X-RateLimit-Reset': '200' }), true;
      if (fault === '5xx') return json(503, { error: { code: 'service_unavailable', message: 'try again' } }), true;
      if (fault === 'token-expiry') {
        this.tokens.clear(); // every token expires at once, as after a long pause
        this.issuedAt.clear();
        return json(401, { error: { code: 'unauthorized', message: 'access token expired' } }), true;
      }
      if (product !== undefined) this.listBatch(product, url, origin, json, fault === 'empty-page');
      else this.streamPage(url, json, fault === 'empty-page');
      return true;
    }
    if (feed) {
      if (!this.authorized(req)) return json(401, { fail: [{ errors: [{ code: 'err_unauthorized', message: 'access token missing or expired', retryable: false }] }] }), true;
      if (!this.rateLimit(res)) return json(429, { fail: [{ errors: [{ code: 'err_rate_limit', message: 'rate limit exceeded', retryable: true }] }] }), true;
      const fault = this.faults.next((f) => f === '429' || f === '5xx' || f === 'fail200');
      if (fault === '429') {
        // Some endpoints send X-RateLimit-* only once the limit is exceeded, some not even then.
        if (this.feed429s++ % 2) res.setHeader('X-RateLimit-Reset', '150');
        else for (const h of ['X-RateLimit-Limit', 'X-RateLimit-Remaining', 'X-RateLimit-Reset']) res.removeHeader(h);
        return json(429, { fail: [{ errors: [{ code: 'err_rate_limit', message: 'rate limit exceeded', retryable: true }] }] }), true;
      }
      if (fault === '5xx') return json(503, { fail: [] }), true;
      this.feeds.answer(feed, body, json, fault === 'fail200');
      return true;
    }
    if (url.pathname.startsWith(FILE_PATH) && req.method === 'GET') return this.download(req, res, url), true;
    return false;
  }

  private token(body: Buffer, json: Json): void {
    const form = new URLSearchParams(body.toString());
    const ok = !this.options.otherRegion && form.get('grant_type') === 'client_credentials' && form.get('client_id') === this.credentials.clientId && form.get('client_secret') === this.credentials.clientSecret;
    if (!ok) return json(401, { error: 'invalid_client', error_description: 'client authentication failed' });
    const token = `sim-${++this.issued}-${createHmac('sha256', this.signKey).update(String(this.issued)).digest('hex').slice(0, 24)}`;
    const ttl = this.options.tokenTtlMs ?? 1_800_000;
    this.tokens.set(token, Date.now() + ttl);
    this.issuedAt.set(token, Date.now());
    json(200, { access_token: token, token_type: 'Bearer', expires_in: Math.floor(ttl / 1000) });
  }

  private bearer(req: IncomingMessage): string | undefined {
    return /^Bearer (.+)$/.exec(req.headers.authorization ?? '')?.[1];
  }

  private authorized(req: IncomingMessage): boolean {
    const bearer = this.bearer(req);
    const expiry = bearer ? this.tokens.get(bearer) : undefined;
    return expiry !== undefined && expiry >= Date.now();
  }

  /**
   * A product's files that exist now, in publication order, with the range [first, end) held:
   * Cloud Gateway's follow the simulator's retention and clock; Cloud Integrated's the clock only.
   */
  private published(product: ProductName): { files: readonly { index: number; logType: string }[]; first: number; end: number } {
    if (product === 'cg') return { files: this.catalog, ...this.held() };
    const end = this.ciFiles.findIndex((f) => f.lastMs > this.clock());
    return { files: this.ciFiles, first: 0, end: end === -1 ? this.ciFiles.length : end };
  }

  /** One page of one type's file list; `empty` answers a page with no files that still carries `@nextPage`. */
  private listBatch(product: ProductName, url: URL, origin: string, json: Json, empty: boolean): void {
    const type = url.searchParams.get('type') ?? '';
    const logType = logTypeForV2(type);
    if (!logType || !SIEM_PRODUCTS[product].types.some((t) => t.name === logType)) return json(400, { error: { code: 'validation_error', message: `unknown type ${type}` } });
    const pageSize = Math.max(1, Math.min(100, Number(url.searchParams.get('pageSize') ?? 10)));
    const token = url.searchParams.get('nextPage');
    const held = this.published(product);
    // The page token is a position among every file of the type ever published, so aged-out files keep their places.
    const files = held.files.slice(0, held.end).filter((f) => f.logType === logType);
    const oldestHeld = files.findIndex((f) => f.index >= held.first);
    const firstHeld = oldestHeld === -1 ? files.length : oldestHeld;
    const scope = `${product}:${logType}`;
    const offset = token ? this.parsePage(token, scope) : firstHeld;
    if (offset === undefined) return json(400, { error: { code: 'validation_error', message: 'invalid nextPage' } });
    if (offset < firstHeld) return json(400, { error: { code: BATCH_TOKEN_EXPIRED, message: 'nextPage points at files that are no longer kept: list again without it' } });
    const page = empty ? [] : files.slice(offset, offset + pageSize);
    const urlExpiry = Date.now() + (this.options.urlTtlMs ?? 15 * 60_000);
    json(200, {
      value: page.map((f) => ({ url: this.signedUrl(origin, product, f.index, urlExpiry), size: this.gzipped(product, f.index).length, expiry: new Date(urlExpiry).toISOString() })),
      '@nextPage': this.page(scope, offset + page.length),
      isCaughtUp: offset + page.length >= files.length,
    });
  }

  /**
   * One stream page: up to `pageSize` events of every type, in file order (the order files were
   * published), inline in the stream shape. The page token is the position in that sequence.
   */
  private streamPage(url: URL, json: Json, empty: boolean): void {
    if (this.options.streamWindowMs !== undefined) return this.windowedStreamPage(url, json, empty);
    const pageSize = Math.max(1, Math.min(1000, Number(url.searchParams.get('pageSize') ?? 100)));
    const offset = this.parsePage(url.searchParams.get('nextPage'), 'stream');
    if (offset === undefined) return json(400, { error: { code: 'validation_error', message: 'invalid nextPage' } });
    const value: V2Record[] = [];
    let position = 0;
    let total = 0;
    // Without a window the stream keeps everything published (its positions never shift).
    for (const f of this.catalog.slice(0, this.held().end)) {
      total += f.events.length;
      if (empty || position + f.events.length <= offset || value.length >= pageSize) {
        position += f.events.length;
        continue;
      }
      const records = v2Records(f, 'stream', this.content);
      for (let i = Math.max(0, offset - position); i < records.length && value.length < pageSize; i++) value.push(records[i]!);
      position += f.events.length;
    }
    const next = offset + value.length;
    json(200, { value, '@nextPage': this.page('stream', next), isCaughtUp: next >= total });
  }

  /**
   * The stream with a window: events in time order, only those inside [clock − window, clock].
   * The page token is a position in that order; one at an event that left the window is refused.
   */
  private windowedStreamPage(url: URL, json: Json, empty: boolean): void {
    const pageSize = Math.max(1, Math.min(1000, Number(url.searchParams.get('pageSize') ?? 100)));
    this.timeline ??= this.catalog
      .flatMap((f) => f.events.map((e, at) => ({ file: f.index, at, timeMs: e.preciseMs ?? e.timeMs })))
      .sort((a, b) => a.timeMs - b.timeMs || a.file - b.file || a.at - b.at);
    const timeline = this.timeline;
    const windowStart = this.clock() - this.options.streamWindowMs!;
    const firstAtOrAfter = (ms: number) => {
      let lo = 0;
      let hi = timeline.length;
      while (lo < hi) {
        const mid = (lo + hi) >> 1;
        if (timeline[mid]!.timeMs < ms) lo = mid + 1;
        else hi = mid;
      }
      return lo;
    };
    let position: number;
    const token = url.searchParams.get('nextPage');
    if (token) {
      const p = this.parsePage(token, 'stream');
      if (p === undefined) return json(400, { error: { code: 'validation_error', message: 'invalid nextPage' } });
      if (p < timeline.length && timeline[p]!.timeMs < windowStart) {
        return json(400, { error: { code: STREAM_TOKEN_EXPIRED, message: 'nextPage points before the stream window: start again with dateRangeStartsAt' } });
      }
      position = p;
    } else {
      const from = url.searchParams.get('dateRangeStartsAt');
      const fromMs = from ? Date.parse(from) : windowStart;
      if (Number.isNaN(fromMs)) return json(400, { error: { code: 'validation_error', message: 'invalid dateRangeStartsAt' } });
      position = firstAtOrAfter(Math.max(fromMs, windowStart));
    }
    const end = firstAtOrAfter(this.clock() + 1); // nothing newer than the clock exists yet
    const value: V2Record[] = [];
    const records = new Map<number, V2Record[]>();
    let next = position;
    for (; !empty && next < end && value.length < pageSize; next++) {
      const { file, at } = timeline[next]!;
      if (!records.has(file)) records.set(file, v2Records(this.catalog[file]!, 'stream', this.content));
      value.push(records.get(file)![at]!);
    }
    json(200, { value, '@nextPage': this.page('stream', Math.max(next, position)), isCaughtUp: next >= end });
  }

  private download(req: IncomingMessage, res: ServerResponse, url: URL): void {
    if (req.headers.authorization) {
      res.writeHead(400, { 'content-type': 'application/xml' }).end('<Error><Code>InvalidArgument</Code><Message>Only one auth mechanism allowed</Message></Error>');
      return;
    }
    const [productPart, indexPart] = url.pathname.slice(FILE_PATH.length).split('/');
    const product = productPart === 'cg' || productPart === 'ci' ? productPart : undefined;
    const index = Number(indexPart);
    const exp = Number(url.searchParams.get('exp'));
    const exists = product === 'cg' ? this.catalog[index] !== undefined : product === 'ci' && this.ciFiles[index] !== undefined;
    if (!product || !exists || url.searchParams.get('sig') !== this.sign(product, index, exp)) return void res.writeHead(403).end('<Error><Code>SignatureDoesNotMatch</Code></Error>');
    const fault: V2Fault | undefined = this.faults.next((f) => f === '5xx' || f === 'expired-url' || f === 'truncated-gzip') as V2Fault | undefined;
    if (exp < Date.now() || fault === 'expired-url') return void res.writeHead(403).end('<Error><Code>AccessDenied</Code><Message>Request has expired</Message></Error>');
    if (fault === '5xx') return void res.writeHead(503).end('<Error><Code>SlowDown</Code><Message>Please reduce your request rate.</Message></Error>');
    const gz = this.gzipped(product, index);
    if (product === 'cg' && this.options.corruptFiles?.includes(index)) {
      // A broken object in the store: every byte of it arrives, and it is not a whole gzip.
      const cut = gz.subarray(0, Math.floor(gz.length / 2));
      return void res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': String(cut.length) }).end(cut);
    }
    if (fault === 'truncated-gzip') {
      // The connection drops part-way through the body: the client sees a short, broken gzip stream.
      res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': String(gz.length) });
      res.write(gz.subarray(0, Math.floor(gz.length / 2)), () => res.destroy());
      return;
    }
    res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': String(gz.length) }).end(gz);
  }

  private gzipped(product: ProductName, index: number): Buffer {
    const key = `${product}/${index}`;
    let gz = this.gz.get(key);
    if (!gz) {
      gz = gzipSync(product === 'cg' ? v2FileBody(this.catalog[index]!, this.content) : ciFileBody(this.ciFiles[index]!));
      this.gz.set(key, gz);
    }
    return gz;
  }

  private sign(product: ProductName, index: number, exp: number): string {
    return createHmac('sha256', this.signKey).update(`${product}:${index}:${exp}`).digest('hex').slice(0, 32);
  }

  private signedUrl(origin: string, product: ProductName, index: number, exp: number): string {
    return `${origin}${FILE_PATH}${product}/${index}?exp=${exp}&sig=${this.sign(product, index, exp)}`;
  }

  private page(scope: string, offset: number): string {
    return Buffer.from(`${scope}:${offset}`).toString('base64url');
  }

  private parsePage(token: string | null, scope: string): number | undefined {
    if (!token) return 0;
    const m = /^(.+):(\d+)$/.exec(Buffer.from(token, 'base64url').toString());
    return m && m[1] === scope ? Number(m[2]) : undefined;
  }
}
