/**
 * The Mimecast API simulator: API 1.0 `get-siem-logs` over HTTP on loopback, following the
 * documented protocol (docs/mimecast.md §4): HMAC-signed requests, a token chain with one file
 * per call, key_value or json, zip with members named by type, `isLastToken` when caught up,
 * rate-limit headers and 429, and seeded faults on demand.
 */
import { createHmac, randomBytes } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import { type IncomingMessage, type Server, type ServerResponse, createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { type V1Credentials, sameSignature, signature } from '../mimecast/v1-auth.js';
import { type FileFormat, type SiemFile, buildCatalog, fileBody, fileName } from './catalog.js';
import { FaultPlan, type FaultOptions, V1_FAULTS } from './faults.js';
import { type GeneratedEvent, Rng, misdated } from './generate.js';
import { V2Api, type V2Credentials, type V2Options } from './v2.js';
import { zipMembers } from './zip.js';

export { SIEM_PATH_V1 as SIEM_PATH } from '../mimecast/endpoints.js';
import { SIEM_PATH_V1 as SIEM_PATH } from '../mimecast/endpoints.js';

export interface SimulatorOptions {
  readonly port?: number;
  readonly seed: number;
  readonly events: number;
  readonly eventsPerFile?: number;
  readonly startMs?: number;
  /** Average time between generated emails (default 700 ms); larger spreads the data over more time. */
  readonly spacingMs?: number;
  /** Events served besides the generated ones (a phishing campaign, generateCampaign), mixed in by time. */
  readonly extra?: readonly GeneratedEvent[];
  /** Files published at start; the rest appear one per `growEveryMs` (default: all at once). */
  readonly initialFiles?: number;
  readonly growEveryMs?: number;
  readonly faults?: FaultOptions;
  /** Files (by index) always served corrupt: a truncated zip or json. */
  readonly corruptFiles?: readonly number[];
  /** After this many requests the keys' binding expires: every request gets 418. */
  readonly expireBindingAfter?: number;
  /** Calls allowed per window (X-RateLimit-*); default 10000 per hour as Mimecast documents. */
  readonly rateLimit?: { readonly limit: number; readonly windowMs: number };
  readonly slowMs?: number;
  /** API 2.0: access-token and pre-signed URL lifetimes. */
  readonly v2?: V2Options;
  /**
   * How long Mimecast keeps a published file (about 7 days, API 1.0 and API 2.0 batch alike).
   * When set, files follow the simulator's clock: a file exists from its last event's time until
   * that time plus the retention. A token that points at a file gone that way is refused (API 1.0:
   * `err_audit_siem_invalid_token`; API 2.0 batch: BATCH_TOKEN_EXPIRED), and a call without one
   * starts at the oldest file still kept.
   */
  readonly fileRetentionMs?: number;
  /** The clock at start (default: the newest event's time); tests move it with `advanceClock`. */
  readonly clockMs?: number;
  /** Events whose served time lies (event `at` of catalog file `file` says `timeMs`), left where their true time puts them. */
  readonly misdated?: readonly { readonly file: number; readonly at: number; readonly timeMs: number }[];
  /** Every answer's `Date` header is this far off the true time (a gateway with a wrong clock, for `mimelog doctor`). */
  readonly dateSkewMs?: number;
  /**
   * The account lives in another region than this gateway: API 1.0 calls, once authenticated,
   * answer `err_audit_log_incorrect_region`; the API 2.0 token call answers 401 (its client is unknown here).
   */
  readonly otherRegion?: boolean;
}

export interface SimulatorInfo {
  readonly url: string;
  readonly credentials: V1Credentials;
  readonly v2Credentials: V2Credentials;
  readonly files: number;
  readonly events: number;
}

function credentialsFor(seed: number): V1Credentials {
  const rng = new Rng(seed ^ 0x5eed);
  const hex = (n: number) => rng.hex(n);
  return {
    appId: `${hex(8)}-${hex(4)}-${hex(4)}-${hex(4)}-${hex(12)}`,
    appKey: `${hex(8)}-${hex(4)}-${hex(4)}-${hex(4)}-${hex(12)}`,
    accessKey: `mYtOL3XZCOwG96BOiFTZRm${rng.token(40, 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789')}`,
    secretKey: Buffer.from(hex(64), 'hex').toString('base64'),
  };
}

/** A catalog file with the lies of `SimulatorOptions.misdated` that fall in it. */
function withLies(file: SiemFile, lies: NonNullable<SimulatorOptions['misdated']>): SiemFile {
  const served = new Map(lies.filter((m) => m.file === file.index).map((m) => [m.at, m.timeMs]));
  return served.size === 0 ? file : { ...file, events: file.events.map((e, at) => (served.has(at) ? misdated(e, served.get(at)!) : e)) };
}

function failBody(code: string, message: string, retryable: boolean): string {
  return JSON.stringify({ meta: { status: 200 }, data: [], fail: [{ errors: [{ code, message, retryable }] }] });
}

export class MimecastSimulator {
  readonly credentials: V1Credentials;
  readonly catalog: SiemFile[];
  private readonly tokenKey: Buffer;
  private readonly faults: FaultPlan;
  private server: Server | undefined;
  private started = Date.now();
  private requests = 0;
  private clockMs: number;
  private window: { start: number; used: number } = { start: Date.now(), used: 0 };
  /** Calls refused because the rate limit was used up (not injected 429 faults). */
  rateLimited = 0;
  readonly served = new Map<number, number>();
  readonly v2: V2Api;
  private origin = '';

  constructor(private readonly options: SimulatorOptions) {
    this.credentials = credentialsFor(options.seed);
    this.catalog = buildCatalog({
      seed: options.seed,
      events: options.events,
      eventsPerFile: options.eventsPerFile ?? 500,
      startMs: options.startMs ?? Date.UTC(2026, 10, 1),
      spacingMs: options.spacingMs,
      extra: options.extra,
    }).map((f) => withLies(f, options.misdated ?? []));
    this.tokenKey = createHmac('sha256', String(options.seed)).update('tokens').digest();
    this.faults = new FaultPlan(options.faults ?? { enabled: [], rate: 0, seed: 0 });
    this.clockMs = options.clockMs ?? Math.max(...this.catalog.map((f) => f.events.at(-1)?.timeMs ?? 0));
    this.v2 = new V2Api(this.catalog, options.seed, { ...options.v2, otherRegion: options.otherRegion }, () => this.held(), this.faults, (res) => this.rateHeaders(res), () => this.clockMs);
  }

  /** Moves the clock on (tests: a collector that was down for a while). Files and the stream's window follow it. */
  advanceClock(ms: number): void {
    this.clockMs += ms;
  }

  get clock(): number {
    return this.clockMs;
  }

  get injectedFaults(): Record<string, number> {
    return Object.fromEntries(this.faults.injected);
  }

  /** Writes every file as it is served (names and format), so `mimelog ingest DIR` yields the expected set. */
  writeExpected(dir: string, format: FileFormat): void {
    mkdirSync(dir, { recursive: true });
    for (const f of this.catalog) writeFileSync(join(dir, fileName(f, format)), fileBody(f, format));
  }

  async start(): Promise<SimulatorInfo> {
    this.started = Date.now();
    this.server = createServer((req, res) => {
      this.handle(req, res).catch((err: Error) => {
        if (!res.headersSent) res.writeHead(500).end(JSON.stringify({ error: err.message }));
      });
    });
    this.server.keepAliveTimeout = 1000;
    const server = this.server;
    const wanted = this.options.port ?? 0;
    await new Promise<void>((resolve, reject) => {
      server.once('error', (err: NodeJS.ErrnoException) =>
        reject(new Error(err.code === 'EADDRINUSE' ? `port ${wanted} on 127.0.0.1 is in use (--port 0 picks a free one)` : `cannot listen on 127.0.0.1:${wanted}: ${err.message}`)),
      );
      server.listen(wanted, '127.0.0.1', resolve);
    });
    const { port } = this.server.address() as AddressInfo;
    this.origin = `http://127.0.0.1:${port}`;
    return { url: this.origin, credentials: this.credentials, v2Credentials: this.v2.credentials, files: this.catalog.length, events: this.catalog.reduce((a, f) => a + f.events.length, 0) };
  }

  async stop(): Promise<void> {
    const s = this.server;
    if (!s) return;
    s.closeAllConnections();
    await new Promise<void>((resolve) => s.close(() => resolve()));
  }

  /**
   * The catalog files that exist now, as [first, end): with a file retention, those published (last
   * event at or before the clock) and not yet aged out; otherwise every file published so far.
   */
  private held(): { first: number; end: number } {
    const retention = this.options.fileRetentionMs;
    if (retention === undefined) return { first: 0, end: this.available() };
    const lastEvent = (f: SiemFile) => f.events.at(-1)!.timeMs;
    const first = this.catalog.findIndex((f) => lastEvent(f) >= this.clockMs - retention);
    const end = this.catalog.findIndex((f) => lastEvent(f) > this.clockMs);
    const stop = end === -1 ? this.catalog.length : end;
    return { first: first === -1 ? stop : Math.min(first, stop), end: stop };
  }

  private available(): number {
    const { initialFiles, growEveryMs } = this.options;
    if (initialFiles === undefined) return this.catalog.length;
    const grown = growEveryMs ? Math.floor((Date.now() - this.started) / growEveryMs) : 0;
    return Math.min(this.catalog.length, initialFiles + grown);
  }

  token(index: number): string {
    const mac = createHmac('sha256', this.tokenKey).update(String(index)).digest('hex').slice(0, 16);
    return Buffer.from(`siem:${index}:${mac}`).toString('base64url');
  }

  private parseToken(token: string): number | undefined {
    const m = /^siem:(\d+):([0-9a-f]{16})$/.exec(Buffer.from(token, 'base64url').toString());
    if (!m) return undefined;
    const index = Number(m[1]);
    return this.token(index) === token ? index : undefined;
  }

  private rateHeaders(res: ServerResponse): boolean {
    const { limit, windowMs } = this.options.rateLimit ?? { limit: 10_000, windowMs: 3_600_000 };
    const now = Date.now();
    if (now - this.window.start >= windowMs) this.window = { start: now, used: 0 };
    const reset = windowMs - (now - this.window.start);
    const allowed = this.window.used < limit;
    if (allowed) this.window.used++;
    else this.rateLimited++;
    res.setHeader('X-RateLimit-Limit', String(limit));
    res.setHeader('X-RateLimit-Remaining', String(Math.max(0, limit - this.window.used)));
    res.setHeader('X-RateLimit-Reset', String(reset));
    return allowed;
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    const path = (req.url ?? '').split('?')[0];
    if (this.options.dateSkewMs) res.setHeader('Date', new Date(Date.now() + this.options.dateSkewMs).toUTCString());
    if (this.v2.handle(req, res, Buffer.concat(chunks), this.origin)) return;
    if (req.method !== 'POST' || path !== SIEM_PATH) {
      res.writeHead(404, { 'content-type': 'application/json' }).end(failBody('err_not_found', `no route ${req.method} ${path}`, false));
      return;
    }
    this.requests++;
    const json = (status: number, body: string): void => {
      res.writeHead(status, { 'content-type': 'application/json' }).end(body);
    };
    const auth = this.authenticate(req);
    if (auth) return json(auth.status, failBody(auth.code, auth.message, false));
    if (this.options.otherRegion) return json(200, failBody('err_audit_log_incorrect_region', 'The account is not hosted in this region', false));
    if (this.options.expireBindingAfter !== undefined && this.requests > this.options.expireBindingAfter) {
      return json(418, failBody('err_xdk_binding_expired', 'The binding for these access and secret keys has expired', false));
    }
    let body: { data?: { type?: string; fileFormat?: string; compress?: boolean; token?: string }[] };
    try {
      body = JSON.parse(Buffer.concat(chunks).toString() || '{}');
    } catch {
      return json(400, failBody('err_validation_bad_json', 'request body is not JSON', false));
    }
    const request = body.data?.[0] ?? {};
    const format: FileFormat = request.fileFormat === 'json' ? 'json' : 'key_value';
    const compress = request.compress === true;
    if (!this.rateHeaders(res)) {
      res.writeHead(429, { 'content-type': 'application/json' }).end(failBody('err_rate_limit', 'Over throttling limit', true));
      return;
    }
    const fault = this.faults.next((f) => {
      if (!(V1_FAULTS as readonly string[]).includes(f)) return false;
      return f === 'truncated-zip' ? compress : f === 'truncated-json' ? format === 'json' : f === 'invalid-token' ? !!request.token : true;
    });
    if (fault === '429') {
      res.setHeader('X-RateLimit-Remaining', '0');
      res.setHeader('X-RateLimit-Reset', '200');
      return json(429, failBody('err_rate_limit', 'Over throttling limit (10000/hour)', true));
    }
    if (fault === '5xx') return json(this.requests % 2 ? 500 : 503, JSON.stringify({ error: 'internal error' }));
    if (fault === 'fail200') return json(200, failBody('err_internal_server_error', 'temporary failure', true));
    if (fault === 'slow') await new Promise((r) => setTimeout(r, this.options.slowMs ?? 2000));
    const held = this.held();
    let index = held.first; // no token: the oldest file still kept
    if (request.token) {
      const parsed = this.parseToken(request.token);
      // A token of a file that aged out is as invalid as a forged one (Mimecast: restart without a token).
      if (parsed === undefined || parsed < held.first || fault === 'invalid-token') {
        return json(200, failBody('err_audit_siem_invalid_token', 'The token provided is not valid', false));
      }
      index = parsed;
    }
    if (index >= held.end) {
      return json(200, JSON.stringify({ meta: { status: 200, isLastToken: true }, data: [{ token: request.token ?? '' }], fail: [] }));
    }
    const file = this.catalog[index]!;
    this.served.set(index, (this.served.get(index) ?? 0) + 1);
    const name = fileName(file, format);
    let payload: Buffer = Buffer.from(fileBody(file, format));
    let outer = name;
    if (compress) {
      payload = await zipMembers({ [name]: payload });
      outer = `${Buffer.from(this.token(index + 1000003)).toString('hex').slice(0, 32).replace(/(.{8})(.{4})(.{4})(.{4})(.{12})/, '$1-$2-$3-$4-$5')}.zip`;
    }
    const corrupt = this.options.corruptFiles?.includes(index) || fault === 'truncated-zip' || fault === 'truncated-json';
    if (corrupt && (compress || format === 'json')) payload = payload.subarray(0, Math.floor(payload.length * 0.6));
    const headers = {
      'content-type': 'application/octet-stream',
      'content-disposition': `attachment; filename="${outer}"`,
      'mc-siem-token': this.token(index + 1),
      'content-length': String(payload.length),
    };
    if (fault === 'empty') {
      res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': '0' }).end();
      return;
    }
    res.writeHead(200, headers);
    if (fault === 'reset') {
      res.write(payload.subarray(0, Math.floor(payload.length / 2)));
      await new Promise((r) => setTimeout(r, 5));
      res.socket?.destroy();
      return;
    }
    res.end(payload);
  }

  private authenticate(req: IncomingMessage): { status: number; code: string; message: string } | undefined {
    const h = (name: string) => {
      const v = req.headers[name];
      return Array.isArray(v) ? v[0] : v;
    };
    const date = h('x-mc-date');
    const reqId = h('x-mc-req-id');
    const appId = h('x-mc-app-id');
    const authz = h('authorization');
    if (!date || !reqId || !appId || !authz) return { status: 401, code: 'err_xdk_missing_headers', message: 'Authorization, x-mc-date, x-mc-req-id and x-mc-app-id are required' };
    if (appId !== this.credentials.appId) return { status: 401, code: 'err_developer_key', message: 'Unknown application id' };
    const sent = Date.parse(date.replace(' UTC', ' GMT'));
    if (Number.isNaN(sent) || Math.abs(Date.now() - sent) > 15 * 60_000) return { status: 401, code: 'err_xdk_request_date_invalid', message: 'x-mc-date is missing, malformed or more than 15 minutes off' };
    const m = /^MC ([^:]+):(.+)$/.exec(authz);
    if (!m || m[1] !== this.credentials.accessKey) return { status: 401, code: 'err_xdk_invalid_access_key', message: 'Unknown access key' };
    const expected = signature(this.credentials, date, reqId, SIEM_PATH);
    if (!sameSignature(m[2]!, expected)) return { status: 401, code: 'err_xdk_signature_mismatch', message: 'The request signature does not match' };
    return undefined;
  }
}

/** A fresh random seed for `simulate` without --seed. */
export function randomSeed(): number {
  return randomBytes(4).readUInt32LE(0);
}
