/** Reading an HTTP answer's body within a bound: a hostile or broken endpoint cannot fill memory. */
import { MimelogError } from '../util/errors.js';


export interface CappedBody {
  /** The body, or its first `max` bytes when it was longer. */
  readonly bytes: Buffer;
  /** The body was longer than `max`; reading stopped there (the connection is dropped). */
  readonly overLimit: boolean;
}

export async function readCapped(res: Response, max: number): Promise<CappedBody> {
  if (!res.body) return { bytes: Buffer.alloc(0), overLimit: false };
  const parts: Buffer[] = [];
  let total = 0;
  for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) {
    const c = Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength);
    if (total + c.length > max) {
      parts.push(c.subarray(0, max - total));
      return { bytes: Buffer.concat(parts), overLimit: true }; // leaving the loop cancels the body
    }
    parts.push(c);
    total += c.length;
  }
  return { bytes: Buffer.concat(parts), overLimit: false };
}

/** A base URL with a user name or password in it is refused: it would be logged and sent on every retry. */
export function checkNoUrlCredentials(url: string, flag: string): void {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new MimelogError('usage', `${flag} is not a URL`);
  }
  if (parsed.username || parsed.password) throw new MimelogError('usage', `${flag} must not carry a user name or password; credentials come from the environment`);
}

const UNREACHABLE: Readonly<Record<string, string>> = {
  ECONNREFUSED: 'connection refused',
  ENOTFOUND: 'host not found (DNS)',
  EAI_AGAIN: 'DNS lookup failed',
  EHOSTUNREACH: 'host unreachable',
  ENETUNREACH: 'network unreachable',
  DEPTH_ZERO_SELF_SIGNED_CERT: 'TLS: self-signed certificate',
  SELF_SIGNED_CERT_IN_CHAIN: 'TLS: self-signed certificate in the chain',
  UNABLE_TO_VERIFY_LEAF_SIGNATURE: 'TLS: certificate not verifiable',
  CERT_HAS_EXPIRED: 'TLS: certificate expired',
  ERR_TLS_CERT_ALTNAME_INVALID: 'TLS: certificate is for another host name',
};

/** Why a fetch failed, in words, and whether the address itself looks wrong (never reachable). */
export function describeFetchError(err: unknown): { reason: string; unreachable: boolean } {
  const e = err as Error & { cause?: { code?: string; message?: string } };
  if (e.name === 'TimeoutError') return { reason: 'timed out', unreachable: false };
  const code = e.cause?.code;
  const known = code ? UNREACHABLE[code] : undefined;
  if (known) return { reason: `${known} (${code})`, unreachable: true };
  if (e.cause?.message === 'bad port') return { reason: 'a port that fetch refuses to use (bad port)', unreachable: true };
  return { reason: `${e.message}${code ? ` (${code})` : e.cause?.message ? ` (${e.cause.message})` : ''}`, unreachable: false };
}

/**
 * Gives up early on an address that never answered: after `limit` failures in a row that say the
 * address is wrong (refused, DNS, TLS) and no answer ever, instead of retrying for many minutes.
 */
export class FirstContact {
  private answered = false;
  private misses = 0;

  constructor(private readonly limit = 3) {}

  /** An HTTP answer arrived (any status). */
  answer(): void {
    this.answered = true;
  }

  /**
   * A failed attempt, with its cause when the address itself looks wrong (see
   * describeFetchError); returns the message to stop with, or undefined to go on retrying.
   */
  miss(unreachableCause: string | undefined, url: string): string | undefined {
    if (this.answered || unreachableCause === undefined) {
      this.misses = 0;
      return undefined;
    }
    this.misses++;
    return this.misses >= this.limit ? `cannot reach ${url}: ${unreachableCause}, ${this.misses} attempts and no answer yet; check --url or --region` : undefined;
  }
}
