/**
 * A small HTTP client for the parts of the Elasticsearch/OpenSearch REST API a log shipper
 * needs (`GET /`, index templates, `_bulk`, `_mget`), the same on both engines. Several node
 * URLs: requests rotate over them and move to the next on a connection failure.
 *
 * Credentials go in headers only; error messages name the node's origin, never a credential.
 */
import { Agent, request } from 'undici';
import { MimelogError, SearchUnreachableError } from '../../util/errors.js';
import { UnreadableFile, readCaFile } from '../../config/read-file.js';

export type SearchAuth =
  | { readonly kind: 'none' }
  | { readonly kind: 'basic'; readonly username: string; readonly password: string }
  | { readonly kind: 'api-key'; readonly apiKey: string }
  | { readonly kind: 'bearer'; readonly token: string };

export interface SearchClientOptions {
  readonly urls: readonly string[];
  readonly auth: SearchAuth;
  /** PEM file of the CA that signed the cluster's certificate. */
  readonly caFile?: string;
  /** Skip certificate verification (only when asked for). */
  readonly insecure?: boolean;
  readonly timeoutMs: number;
  /** An end for one request over every node it tries (the state index's: a renewal must end inside the lease); none by default. */
  readonly deadlineMs?: number;
  /** Connecting to a node, TLS handshake included, ends after this (undici's default: 10 s; an abort does not cut it short). */
  readonly connectTimeoutMs?: number;
}

export interface SearchResponse {
  readonly status: number;
  /** The parsed JSON answer (or its text when it is not JSON): read it through a typed parser. */
  readonly body: unknown;
  readonly node: string;
}

export interface TextResponse {
  readonly status: number;
  readonly text: string;
  readonly node: string;
}

export type Distribution = 'opensearch' | 'elasticsearch';

export interface EngineInfo {
  readonly distribution: Distribution;
  readonly version: string;
}

/** The CA file's certificates, or a usage error naming the file and why it cannot be used. */
function caCertificates(file: string): string {
  try {
    return readCaFile(file);
  } catch (err) {
    if (err instanceof UnreadableFile) throw new MimelogError('usage', `CA file ${file}: ${err.message}`);
    throw err;
  }
}

export class SearchClient {
  private readonly agent: Agent;
  private readonly nodes: URL[];
  private readonly authHeader: string | undefined;
  private next = 0;
  private readonly deadlineMs: number | undefined;

  constructor(options: SearchClientOptions) {
    this.deadlineMs = options.deadlineMs;
    if (options.urls.length === 0) throw new MimelogError('usage', 'no search-engine URL given');
    this.nodes = options.urls.map((u) => {
      const url = new URL(u);
      if (url.username || url.password) throw new MimelogError('usage', `put credentials in the environment, not in the URL (${url.origin})`);
      return url;
    });
    this.authHeader = authorization(options.auth);
    this.agent = new Agent({
      connect: { ca: options.caFile === undefined ? undefined : caCertificates(options.caFile), rejectUnauthorized: !options.insecure, timeout: options.connectTimeoutMs },
      headersTimeout: options.timeoutMs,
      bodyTimeout: options.timeoutMs,
    });
  }

  /** Sends to one node after another until one answers; throws SearchUnreachableError when none does. */
  async send(method: 'GET' | 'PUT' | 'POST', path: string, body?: string | Buffer, contentType = 'application/json'): Promise<SearchResponse> {
    const res = await this.sendForText(method, path, body, contentType);
    return { status: res.status, body: jsonOrText(res.text), node: res.node };
  }

  /** The same, with the answer as text: the caller parses it only when it must (a `_bulk` answer without errors is not parsed). */
  async sendForText(method: 'GET' | 'PUT' | 'POST', path: string, body?: string | Buffer, contentType = 'application/json'): Promise<TextResponse> {
    let lastError: unknown;
    const signal = this.deadlineMs === undefined ? undefined : AbortSignal.timeout(this.deadlineMs);
    for (let tried = 0; tried < this.nodes.length && !signal?.aborted; tried++) {
      const node = this.nodes[this.next++ % this.nodes.length]!;
      const headers: Record<string, string> = { accept: 'application/json' };
      if (body !== undefined) headers['content-type'] = contentType;
      if (this.authHeader) headers.authorization = this.authHeader;
      try {
        const res = await request(new URL(path, node), { method, body, headers, dispatcher: this.agent, signal });
        return { status: res.statusCode, text: await res.body.text(), node: node.origin };
      } catch (err) {
        lastError = err;
      }
    }
    const reason = lastError instanceof Error ? `${(lastError as NodeJS.ErrnoException).code ?? lastError.name}: ${lastError.message}` : String(lastError);
    throw new SearchUnreachableError(`no search node answered ${method} ${path} (${this.nodes.map((n) => n.origin).join(', ')}): ${reason}`);
  }

  /** `GET /`: which engine and version, so one code path can pick engine-specific mapping types. */
  async info(): Promise<EngineInfo> {
    const res = await this.send('GET', '/');
    if (res.status === 401 || res.status === 403) throw new MimelogError('search_engine', `search engine ${res.node} refused the credentials (HTTP ${res.status})`);
    const version = (res.body as { version?: { number?: unknown; distribution?: unknown } } | null)?.version;
    if (res.status !== 200 || typeof version?.number !== 'string') throw new MimelogError('search_engine', `search engine ${res.node}: unexpected answer to GET / (HTTP ${res.status})`);
    return { distribution: version.distribution === 'opensearch' ? 'opensearch' : 'elasticsearch', version: version.number };
  }

  async close(): Promise<void> {
    await this.agent.close();
  }
}

/** An answer's JSON, or its text when it is not JSON (a proxy's error page), kept for the message. */
export function jsonOrText(text: string): unknown {
  try {
    return text.length > 0 ? JSON.parse(text) : undefined;
  } catch {
    return text;
  }
}

function authorization(auth: SearchAuth): string | undefined {
  switch (auth.kind) {
    case 'none':
      return undefined;
    case 'basic':
      return `Basic ${Buffer.from(`${auth.username}:${auth.password}`).toString('base64')}`;
    case 'api-key':
      return `ApiKey ${auth.apiKey}`;
    case 'bearer':
      return `Bearer ${auth.token}`;
  }
}
