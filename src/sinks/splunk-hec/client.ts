/**
 * The HTTP side of HEC: one keep-alive connection pool to one collector URL, the token in the
 * `Authorization: Splunk <token>` header only, event bodies gzipped, answers read to a bound.
 * Errors name the collector's origin, never the token.
 */
import { promisify } from 'node:util';
import { gzip } from 'node:zlib';
import { Agent, request } from 'undici';
import { type HecAnswer, CHANNEL_HEADER, parseAnswer } from './protocol.js';

const gzipped = promisify(gzip);

/** An answer larger than this is not HEC's (a proxy's page): the rest is not read. */
const MAX_ANSWER_BYTES = 64 * 1024;

/** The request got no HTTP answer (refused, reset, timed out, TLS failed): it may or may not have arrived. */
export class HecUnreachable extends Error {
  constructor(message: string, readonly tls: boolean) {
    super(message);
    this.name = 'HecUnreachable';
  }
}

export interface HecClientOptions {
  /** The collector's base URL (`https://splunk:8088`); the paths are HEC's. */
  readonly url: string;
  readonly token: string;
  /** Sent on every request when set (indexer acknowledgement needs it). */
  readonly channel?: string;
  /** PEM text of the CA(s) that signed the collector's certificate. */
  readonly ca?: string;
  readonly insecure: boolean;
  readonly timeoutMs: number;
}

/** TLS failures say so: a certificate problem is a person's to fix, not one to wait out. */
const TLS_CODES = /CERT|ERR_SSL|ERR_TLS|SELF_SIGNED|UNABLE_TO_(VERIFY|GET)|HOSTNAME/;

export class HecClient {
  private readonly agent: Agent;
  private readonly base: URL;
  readonly origin: string;

  constructor(private readonly o: HecClientOptions) {
    this.base = new URL(o.url);
    this.origin = this.base.origin;
    this.agent = new Agent({
      connect: { ca: o.ca, rejectUnauthorized: !o.insecure },
      headersTimeout: o.timeoutMs,
      bodyTimeout: o.timeoutMs,
      connectTimeout: o.timeoutMs,
    });
  }

  /** POSTs `body` (gzipped when asked) to an HEC path; the answer, or HecUnreachable. */
  async post(path: string, body: string, compress: boolean): Promise<HecAnswer> {
    const headers: Record<string, string> = { authorization: `Splunk ${this.o.token}`, 'content-type': 'application/json' };
    if (this.o.channel !== undefined) headers[CHANNEL_HEADER] = this.o.channel;
    let payload: Buffer | string = body;
    if (compress) {
      payload = await gzipped(body);
      headers['content-encoding'] = 'gzip';
    }
    try {
      const res = await request(new URL(path, this.base), { method: 'POST', body: payload, headers, dispatcher: this.agent });
      return parseAnswer(res.statusCode, await boundedText(res.body));
    } catch (err) {
      const e = err as NodeJS.ErrnoException;
      const code = e.code ?? e.name;
      const cause = (e.cause as NodeJS.ErrnoException | undefined)?.code;
      // By code only: a reset during a handshake ("... before secure TLS connection ...") is not a certificate problem.
      const tls = TLS_CODES.test(`${code} ${cause ?? ''}`);
      throw new HecUnreachable(`${this.origin}${path}: ${code}: ${e.message}`, tls);
    }
  }

  async close(): Promise<void> {
    await this.agent.destroy();
  }
}

/**
 * The answer's text, at most MAX_ANSWER_BYTES of it. The rest is not read: the connection is
 * dropped instead (an endless or a 2 GB answer would otherwise hold the request for ever).
 */
async function boundedText(body: AsyncIterable<Buffer>): Promise<string> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of body) {
    chunks.push(chunk);
    size += chunk.length;
    if (size >= MAX_ANSWER_BYTES) break; // leaving the loop destroys the body, and its connection
  }
  return Buffer.concat(chunks).subarray(0, MAX_ANSWER_BYTES).toString('utf8');
}
