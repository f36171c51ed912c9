/**
 * `kind: sentinel`: Microsoft Sentinel through the Azure Monitor Logs Ingestion API (the HTTP Data
 * Collector API was retired on 2026-09-14 and is not used). Keys, what a 204 means and the limits:
 * README.md in this folder.
 */
import { z } from 'zod';
import { ENV } from '../../config/env.js';
import { numberKeys } from '../../config/zod-keys.js';
import { isLoopback } from '../../util/listen.js';
import type { DestinationKind } from '../destination.js';
import { SentinelDestination, sentinelError } from './destination.js';
import { EntraToken, TokenUnavailable } from './entra-token.js';

export const DEFAULT_AUTHORITY = 'https://login.microsoftonline.com';
export const DEFAULT_SCOPE = 'https://monitor.azure.com//.default';
export const DEFAULT_STREAM = 'Custom-MimecastSIEM';
/** Back-off when Azure names no wait (a 5xx, no answer): as the search destination's. */
const BACKOFF = { baseMs: 250, maxMs: 30_000 } as const;

/** https, or http to this machine only (the emulator): a bearer token never crosses a network in clear. */
const secureUrl = (what: string) => z.url({ protocol: /^https?$/, error: `${what}: an https URL` }).refine((u) => {
  const url = new URL(u);
  return url.username === '' && url.password === '' && (url.protocol === 'https:' || isLoopback(url.hostname.replace(/^\[|\]$/g, '')));
}, `${what}: an https URL without user or password (http only to a loopback address)`);

const keys = {
  /** The DCR's logs ingestion endpoint, or a data collection endpoint (DCE). */
  endpoint: secureUrl('the logs ingestion endpoint'),
  dcr_immutable_id: z.string().regex(/^dcr-[0-9a-f]{32}$/i, 'the DCR immutable id: "dcr-" and 32 hexadecimal digits'),
  stream: z.string().regex(/^Custom-[A-Za-z0-9_]{1,200}$/, 'a custom stream of the DCR: "Custom-" and letters, digits or "_"').default(DEFAULT_STREAM),
  tenant_id: z.string().regex(/^[A-Za-z0-9][A-Za-z0-9.-]{0,252}$/, 'the Entra ID tenant: its id (a GUID) or domain name'),
  client_id: z.string().regex(/^[A-Za-z0-9-]{1,64}$/, "the application's client id (a GUID)"),
  /** Else `client_secret_file`, else MIMELOG_SENTINEL_CLIENT_SECRET. */
  client_secret: z.string().min(1).optional(),
  /** Entra ID's sign-in host (another cloud's, or a test's emulator). */
  authority: secureUrl('authority').default(DEFAULT_AUTHORITY),
  scope: z.string().min(1).default(DEFAULT_SCOPE),
  gzip: z.boolean().default(true),
  ...numberKeys(['maxRequestBytes', 'maxRetryAfter', 'searchTimeout', 'searchGiveUp', 'bulkConcurrency']),
};

export type SentinelConfig = z.infer<z.ZodObject<typeof keys>>;

export const sentinelKind: DestinationKind<typeof keys> = {
  kind: 'sentinel',
  summary: 'Microsoft Sentinel / Azure Monitor Logs Ingestion API (a DCR custom table; Entra ID client credentials)',
  acknowledgement: 'HTTP 204 from the Logs Ingestion API: the rows were accepted by the ingestion pipeline (not yet queryable; Azure removes no duplicates)',
  keys,
  example: { endpoint: 'https://mimelog-mimecast-siem-abcd.eastus-1.ingest.monitor.azure.com', dcr_immutable_id: `dcr-${'0'.repeat(32)}`, tenant_id: 'contoso.onmicrosoft.com', client_id: '00000000-0000-0000-0000-000000000000' },
  async open(c, name, ctx) {
    const clientSecret = c.client_secret ?? ctx.env[ENV.sentinel.clientSecret];
    if (clientSecret === undefined || clientSecret === '') {
      throw sentinelError(`sentinel destination ${name}: no client secret: give client_secret, client_secret_file or ${ENV.sentinel.clientSecret}`);
    }
    const timeoutMs = c.timeout_s * 1000;
    const token = new EntraToken({ authority: c.authority, tenantId: c.tenant_id, clientId: c.client_id, clientSecret, scope: c.scope }, timeoutMs);
    // Wrong credentials (or an authority that does not answer) fail now, not at the first event.
    await token.get().catch((err: unknown) => {
      throw err instanceof TokenUnavailable ? sentinelError(`sentinel destination ${name}: ${err.message}`) : err;
    });
    ctx.log.info('sentinel destination ready', { destination: name, endpoint: new URL(c.endpoint).origin, dcr: c.dcr_immutable_id, stream: c.stream });
    return new SentinelDestination(name, {
      endpoint: c.endpoint, dcrImmutableId: c.dcr_immutable_id, stream: c.stream, gzip: c.gzip, timeoutMs,
      maxRequestBytes: c.max_request_bytes, concurrency: c.bulk_concurrency, maxRetryAfterMs: c.max_retry_after_s * 1000,
      retryBaseMs: BACKOFF.baseMs, retryMaxMs: BACKOFF.maxMs, giveUpMs: c.give_up_s * 1000,
    }, token, ctx.log);
  },
};
