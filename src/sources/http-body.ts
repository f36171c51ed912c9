/** Reading an HTTP answer's body within a bound: a hostile or broken endpoint cannot fill memory. */

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
      await res.body.cancel().catch(() => undefined);
      return { bytes: Buffer.concat(parts), overLimit: true };
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
    throw new Error(`${flag} is not a URL`);
  }
  if (parsed.username || parsed.password) throw new Error(`${flag} must not carry a user name or password; credentials come from the environment`);
}
