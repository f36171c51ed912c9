/**
 * An emulator of the two Azure endpoints the Sentinel destination talks to, over HTTP on loopback:
 * Entra ID's client-credentials token endpoint and the Azure Monitor Logs Ingestion API. Neither
 * can run here; this follows their documented protocol (src/sinks/sentinel/README.md), faults on
 * demand included, and keeps every row it accepted so that a test can read them back (it lives in
 * the test's process, so it outlives collectors killed with kill -9).
 *
 * Token: `POST /{tenant}/oauth2/v2.0/token`, a form with grant_type=client_credentials,
 * client_id, client_secret and scope; it answers `{token_type, expires_in, access_token}`, or
 * Entra's error shape (`error`, `error_description`, `error_codes`).
 *
 * Ingestion: `POST /dataCollectionRules/{dcr}/streams/{stream}?api-version=2023-01-01` with a
 * bearer token; checks, in order: the path and DCR (404), the api-version (400), the token (401),
 * the role (403), the size, sent and unzipped (413 past 1 MiB), the body: a JSON array of objects
 * whose declared columns have their declared types (400). Success is 204 with no body. Errors
 * carry Azure's shape, `{"error":{"code","message"}}`, and the `x-ms-error-code` header.
 */
import { randomBytes } from 'node:crypto';
import { type IncomingMessage, type Server, type ServerResponse, createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { gunzipSync } from 'node:zlib';
import { Rng } from './generate.js';

export const AZURE_API_VERSION = '2023-01-01';
export const AZURE_SCOPE = 'https://monitor.azure.com//.default';
/** The API's limit on a call, sent and unzipped alike. */
export const AZURE_MAX_CALL_BYTES = 1_048_576;

/** A column of the DCR's stream declaration (`streamDeclarations.<stream>.columns`). */
export interface StreamColumn {
  readonly name: string;
  readonly type: string;
}

export interface AzureLogsOptions {
  readonly tenantId: string;
  readonly clientId: string;
  readonly clientSecret: string;
  readonly dcrImmutableId: string;
  readonly stream: string;
  /** The stream's columns: a row whose declared column has another type is refused (400). None: any object. */
  readonly columns?: readonly StreamColumn[];
  /** Lifetime of an issued token (default 3600 s, as Entra's). */
  readonly tokenLifetimeS?: number;
  readonly maxCallBytes?: number;
  /** The application lacks "Monitoring Metrics Publisher" on the DCR: every call gets 403. */
  readonly withoutRole?: boolean;
  /** Faults drawn at random for a share of ingestion calls (seeded), besides those queued by `inject`. */
  readonly randomFaults?: { readonly rate: number; readonly seed: number; readonly faults: readonly AzureFault[] };
  readonly port?: number;
}

/**
 * A fault for one ingestion call:
 * - `429`, `503`: throttled or busy, with `retryAfter` as the Retry-After header (any text: a lie too).
 * - `500`: an internal error.
 * - `reset`: the connection is dropped before an answer; nothing is stored.
 * - `lost-ack`: the rows are stored, then the connection is dropped: the client cannot know.
 * - `slow`: the answer comes after `ms` (a client timeout shorter than it is a lost answer too).
 * - `expire-tokens`: every token issued so far has expired (the call gets 401).
 */
export type AzureFault =
  | { readonly kind: '429' | '503'; readonly retryAfter?: string }
  | { readonly kind: '500' | 'reset' | 'lost-ack' | 'expire-tokens' }
  | { readonly kind: 'slow'; readonly ms: number };

/** One ingestion call as the emulator saw it. */
export interface CallRecord {
  readonly status: number;
  readonly rows: number;
  readonly bytes: number;
  readonly gzip: boolean;
  readonly fault?: AzureFault['kind'];
  readonly clientRequestId?: string;
}

class Refusal extends Error {
  constructor(readonly status: number, readonly code: string, message: string) {
    super(message);
  }
}

const DATETIME = (v: unknown) => typeof v === 'string' && Number.isFinite(Date.parse(v));
/** How a declared column's value is checked, by type. */
const TYPE_CHECKS: Readonly<Record<string, (v: unknown) => boolean>> = {
  string: (v) => typeof v === 'string',
  datetime: DATETIME,
  dynamic: () => true,
  boolean: (v) => typeof v === 'boolean',
  int: (v) => Number.isInteger(v),
  long: (v) => Number.isInteger(v),
  real: (v) => typeof v === 'number',
};

export class AzureLogsEmulator {
  /** Every row accepted, in order (a row accepted twice is here twice, as in Log Analytics). */
  readonly rows: Record<string, unknown>[] = [];
  readonly calls: CallRecord[] = [];
  /** Every access token issued, in order (tests check that none is ever printed). */
  readonly tokensIssued: string[] = [];
  /** EventIds whose row makes its call 400 (a row Azure will not take). */
  readonly poison = new Set<string>();
  private readonly queued: AzureFault[] = [];
  private readonly tokens = new Map<string, number>();
  private readonly rng: Rng | undefined;
  private server: Server | undefined;
  private origin = '';

  constructor(private readonly options: AzureLogsOptions) {
    this.rng = options.randomFaults ? new Rng(options.randomFaults.seed) : undefined;
  }

  async start(): Promise<string> {
    this.server = createServer((req, res) => void this.handle(req, res));
    await new Promise<void>((resolve) => this.server!.listen(this.options.port ?? 0, '127.0.0.1', resolve));
    this.origin = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
    return this.origin;
  }

  /** The base URL: the authority (tokens) and the logs ingestion endpoint alike. */
  get url(): string {
    return this.origin;
  }

  async stop(): Promise<void> {
    this.server?.closeAllConnections();
    await new Promise<void>((resolve) => (this.server ? this.server.close(() => resolve()) : resolve()));
  }

  /** Queues faults for the next ingestion calls, one each, in order. */
  inject(...faults: AzureFault[]): void {
    this.queued.push(...faults);
  }

  /** The EventId column of every accepted row, in order. */
  eventIds(): string[] {
    return this.rows.map((r) => String(r.EventId));
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    try {
      const body = await readBody(req, (this.options.maxCallBytes ?? AZURE_MAX_CALL_BYTES) + 1);
      const path = new URL(req.url ?? '/', 'http://x').pathname;
      if (req.method === 'POST' && path.endsWith('/oauth2/v2.0/token')) return this.issueToken(path, body, res);
      if (req.method === 'POST' && path.startsWith('/dataCollectionRules/')) return await this.ingest(req, body, res);
      throw new Refusal(404, 'NotFound', `no such resource: ${req.method} ${path}`);
    } catch (err) {
      if (!(err instanceof Refusal)) throw err;
      answer(res, err.status, { error: { code: err.code, message: err.message } }, err.code);
    }
  }

  private issueToken(path: string, body: Buffer, res: ServerResponse): void {
    const form = new URLSearchParams(body.toString('utf8'));
    const o = this.options;
    const fail = (status: number, error: string, aadsts: number, description: string) =>
      answer(res, status, { error, error_description: `AADSTS${aadsts}: ${description}`, error_codes: [aadsts] });
    if (path !== `/${o.tenantId}/oauth2/v2.0/token`) return fail(400, 'invalid_request', 90002, 'Tenant not found.');
    if (form.get('grant_type') !== 'client_credentials') return fail(400, 'unsupported_grant_type', 70003, 'The app requested an unsupported grant type.');
    if (form.get('client_id') !== o.clientId) return fail(400, 'unauthorized_client', 700016, 'Application not found in the directory.');
    if (form.get('client_secret') !== o.clientSecret) return fail(401, 'invalid_client', 7000215, 'Invalid client secret provided.');
    if (form.get('scope') !== AZURE_SCOPE) return fail(400, 'invalid_scope', 1002012, 'The provided value for scope is not valid.');
    const token = randomBytes(48).toString('base64url');
    const lifetimeS = o.tokenLifetimeS ?? 3600;
    this.tokens.set(token, Date.now() + lifetimeS * 1000);
    this.tokensIssued.push(token);
    answer(res, 200, { token_type: 'Bearer', expires_in: lifetimeS, ext_expires_in: lifetimeS, access_token: token });
  }

  private nextFault(): AzureFault | undefined {
    const queued = this.queued.shift();
    if (queued) return queued;
    const r = this.options.randomFaults;
    return r && this.rng!.chance(r.rate) ? this.rng!.pick(r.faults) : undefined;
  }

  private async ingest(req: IncomingMessage, body: Buffer, res: ServerResponse): Promise<void> {
    const fault = this.nextFault();
    const record = (status: number, rows = 0) => this.calls.push({ status, rows, bytes: body.length, gzip: isGzip(req), fault: fault?.kind, clientRequestId: header(req, 'x-ms-client-request-id') });
    try {
      if (fault?.kind === 'expire-tokens') for (const t of this.tokens.keys()) this.tokens.set(t, 0);
      if (fault?.kind === 'slow') await new Promise((r) => setTimeout(r, fault.ms));
      if (fault?.kind === 'reset') return void (record(0), req.socket.destroy());
      this.checkCall(req);
      if (fault?.kind === '429' || fault?.kind === '503' || fault?.kind === '500') {
        const retryAfter = 'retryAfter' in fault ? fault.retryAfter : undefined;
        record(Number(fault.kind));
        return answer(res, Number(fault.kind), { error: { code: fault.kind === '429' ? 'TooManyRequests' : 'ServiceUnavailable', message: 'injected fault' } }, undefined, retryAfter);
      }
      const rows = this.rowsOf(req, body);
      this.rows.push(...rows);
      record(204, rows.length);
      if (fault?.kind === 'lost-ack') return void req.socket.destroy();
      res.writeHead(204).end();
    } catch (err) {
      if (err instanceof Refusal) record(err.status);
      throw err;
    }
  }

  /** The URL, api-version, token and role of a call. */
  private checkCall(req: IncomingMessage): void {
    const url = new URL(req.url ?? '/', 'http://x');
    const m = /^\/dataCollectionRules\/([^/]+)\/streams\/([^/]+)$/.exec(url.pathname);
    if (!m || decodeURIComponent(m[1]!) !== this.options.dcrImmutableId) throw new Refusal(404, 'NotFound', `data collection rule ${m ? decodeURIComponent(m[1]!) : '?'} not found`);
    const version = url.searchParams.get('api-version');
    if (version !== AZURE_API_VERSION) throw new Refusal(400, 'InvalidApiVersion', `api-version ${JSON.stringify(version)} is not supported: use ${AZURE_API_VERSION}`);
    const token = /^Bearer (\S+)$/.exec(header(req, 'authorization') ?? '')?.[1];
    const expiresAt = token === undefined ? undefined : this.tokens.get(token);
    if (expiresAt === undefined) throw new Refusal(401, 'InvalidToken', 'the access token is missing or invalid');
    if (expiresAt <= Date.now()) throw new Refusal(401, 'InvalidToken', 'the access token has expired');
    if (this.options.withoutRole) {
      throw new Refusal(403, 'OperationFailed', `The authentication token provided does not have access to ingest data for the data collection rule with immutable Id '${this.options.dcrImmutableId}'`);
    }
    if (decodeURIComponent(m[2]!) !== this.options.stream) throw new Refusal(400, 'InvalidStream', `stream ${decodeURIComponent(m[2]!)} is not declared in the data collection rule`);
  }

  /** The rows of an accepted body: size, gzip, JSON array of objects with declared types. */
  private rowsOf(req: IncomingMessage, sent: Buffer): Record<string, unknown>[] {
    const max = this.options.maxCallBytes ?? AZURE_MAX_CALL_BYTES;
    const tooLarge = (n: number) => new Refusal(413, 'ContentLengthLimitExceeded', `Maximum allowed content length: ${max} bytes (1 MB). Provided content length: ${n} bytes.`);
    if (sent.length > max) throw tooLarge(Number(header(req, 'content-length') ?? sent.length));
    let text: Buffer = sent;
    if (isGzip(req)) {
      try {
        text = gunzipSync(sent, { maxOutputLength: max + 1 });
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code === 'ERR_BUFFER_TOO_LARGE') throw tooLarge(max + 1);
        throw new Refusal(400, 'InvalidContentEncoding', 'the body is not valid gzip');
      }
      if (text.length > max) throw tooLarge(text.length);
    }
    let parsed: unknown;
    try {
      parsed = JSON.parse(text.toString('utf8'));
    } catch (err) {
      throw new Refusal(400, 'InvalidPayload', `the body is not valid JSON: ${(err as Error).message}`);
    }
    if (!Array.isArray(parsed)) throw new Refusal(400, 'InvalidPayload', 'the body must be a JSON array of records');
    parsed.forEach((row, i) => this.checkRow(row, i));
    return parsed as Record<string, unknown>[];
  }

  private checkRow(row: unknown, i: number): void {
    if (row === null || typeof row !== 'object' || Array.isArray(row)) throw new Refusal(400, 'InvalidPayload', `record ${i} is not a JSON object`);
    const r = row as Record<string, unknown>;
    if (this.poison.has(String(r.EventId))) throw new Refusal(400, 'InvalidPayload', `record ${i} could not be processed by the data collection rule's transformation`);
    for (const c of this.options.columns ?? []) {
      const v = r[c.name];
      const check = TYPE_CHECKS[c.type];
      if (v !== undefined && v !== null && check && !check(v)) throw new Refusal(400, 'InvalidPayload', `record ${i}: column ${c.name} is not a ${c.type}`);
    }
  }
}

function header(req: IncomingMessage, name: string): string | undefined {
  const v = req.headers[name];
  return Array.isArray(v) ? v[0] : v;
}

function isGzip(req: IncomingMessage): boolean {
  return header(req, 'content-encoding')?.toLowerCase() === 'gzip';
}

/** The request body up to `max` bytes (more is read and dropped: the caller sees only that it is larger). */
async function readBody(req: IncomingMessage, max: number): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let kept = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    if (kept < max) chunks.push(chunk.subarray(0, max - kept));
    kept += Math.min(chunk.length, Math.max(0, max - kept));
  }
  return Buffer.concat(chunks);
}

function answer(res: ServerResponse, status: number, body: unknown, errorCode?: string, retryAfter?: string): void {
  const headers: Record<string, string> = { 'content-type': 'application/json' };
  if (errorCode) headers['x-ms-error-code'] = errorCode;
  if (retryAfter !== undefined) headers['retry-after'] = retryAfter;
  res.writeHead(status, headers).end(JSON.stringify(body));
}
