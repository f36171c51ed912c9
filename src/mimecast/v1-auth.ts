/**
 * API 1.0 request signing (docs/mimecast.md §4), shared by the collector (to sign) and the
 * simulator (to verify): HMAC-SHA1 over `date:reqId:path:appKey` with the base64-decoded secret key.
 */
import { createHmac, randomUUID, timingSafeEqual } from 'node:crypto';

export interface V1Credentials {
  readonly appId: string;
  readonly appKey: string;
  readonly accessKey: string;
  /** Base64, as Mimecast issues it. */
  readonly secretKey: string;
}

/** RFC 1123 in UTC, as Mimecast writes it: `Tue, 24 Nov 2015 12:50:11 UTC`. */
export function mcDate(ms: number): string {
  return new Date(ms).toUTCString().replace('GMT', 'UTC');
}

export function signature(creds: Pick<V1Credentials, 'appKey' | 'secretKey'>, date: string, reqId: string, path: string): string {
  const key = Buffer.from(creds.secretKey, 'base64'); // raw bytes, not the base64 text
  return createHmac('sha1', key).update(`${date}:${reqId}:${path}:${creds.appKey}`).digest('base64');
}

export function signedHeaders(creds: V1Credentials, path: string, now = Date.now()): Record<string, string> {
  const date = mcDate(now);
  const reqId = randomUUID();
  return {
    Authorization: `MC ${creds.accessKey}:${signature(creds, date, reqId, path)}`,
    'x-mc-date': date,
    'x-mc-req-id': reqId,
    'x-mc-app-id': creds.appId,
  };
}

export function sameSignature(a: string, b: string): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}
