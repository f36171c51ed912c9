/**
 * Opening a Splunk HEC destination: the token, TLS, a channel, and a first request that checks
 * what can be checked before an event is read (reachable, TLS, token, acknowledgement on the
 * token), so a wrong config fails at once with the reason.
 */
import { randomUUID } from 'node:crypto';
import { hostname } from 'node:os';
import { ENV } from '../../config/env.js';
import { UnreadableFile, readCaFile } from '../../config/read-file.js';
import { isLoopback } from '../../util/listen.js';
import type { Destination, DestinationContext } from '../destination.js';
import { AckPoller } from './acks.js';
import { HecClient, HecUnreachable } from './client.js';
import { HecDestination, hecError } from './destination.js';
import type { HecConfig } from './keys.js';
import { ACKNOWLEDGEMENT, ACK_PATH, EVENT_PATH, type HecAnswer, HEC_CODES, describeAnswer } from './protocol.js';

function caText(file: string): string {
  try {
    return readCaFile(file);
  } catch (err) {
    if (err instanceof UnreadableFile) throw hecError(`ca_file ${file}: ${err.message}`);
    throw err;
  }
}

/**
 * The check at open. With acknowledgement: an ack query for id 0 on the channel (a token without
 * ack answers code 14). Without: an empty event request (a valid token answers code 5, "no data").
 * Either way a bad token answers 401/403.
 */
/** Back-off while Splunk is busy or away: soon at first, then every 15 s at most. */
const RETRY = { retryBaseMs: 250, retryMaxMs: 15_000 } as const;

async function probe(client: HecClient, ack: boolean): Promise<HecAnswer> {
  try {
    return ack ? await client.post(ACK_PATH, '{"acks":[0]}', false) : await client.post(EVENT_PATH, '', false);
  } catch (err) {
    if (!(err instanceof HecUnreachable)) throw err;
    throw hecError(err.tls ? `TLS with ${client.origin} failed: ${err.message} (check ca_file, or the collector's certificate)` : `cannot reach ${err.message}`);
  }
}

/**
 * Codes that fail the check at open: the token, acknowledgement on the token, the channel. Any
 * other answer lets delivery start and judge its own requests (how Splunk answers an ack query
 * on a channel with no events yet is not documented, so only these are trusted here).
 */
const REFUSED_AT_OPEN = new Set([1, 2, 3, 4, 10, 14, 16]);

function probeAccepts(a: HecAnswer): boolean {
  if (a.code !== undefined && HEC_CODES[a.code] !== undefined) return !REFUSED_AT_OPEN.has(a.code);
  return a.status !== 401 && a.status !== 403 && a.status !== 404;
}

export async function openHec(c: HecConfig, name: string, ctx: DestinationContext): Promise<Destination> {
  const log = ctx.log;
  const token = c.token ?? ctx.env[ENV.hec.token];
  if (token === undefined || token === '') throw hecError(`${name}: no HEC token: give token, token_file or ${ENV.hec.token}`);
  log.addSecrets(token);
  const url = new URL(c.url);
  if (url.protocol === 'http:' && !isLoopback(url.hostname.replace(/^\[|\]$/g, ''))) {
    log.warn(`splunk-hec ${name}: ${url.origin} is plain http: the HEC token and the events cross the network unencrypted`);
  }
  if (c.insecure) log.warn(`splunk-hec ${name}: insecure: true, the collector's certificate is not checked (for tests only)`);
  if (!c.ack) {
    log.warn(`splunk-hec ${name}: ack: false, so delivery rests on HTTP 200 only: ${ACKNOWLEDGEMENT.off}. Events in Splunk's queues when it fails are lost; enable indexer acknowledgement on the token and remove ack: false to lose nothing`);
  }
  // One channel per destination and process: Splunk keeps ack ids per channel.
  const channel = c.ack ? randomUUID() : undefined;
  const client = new HecClient({ url: c.url, token, channel, ca: c.ca_file === undefined ? undefined : caText(c.ca_file), insecure: c.insecure, timeoutMs: c.timeout_s * 1000 });
  try {
    const answer = await probe(client, c.ack);
    if (!probeAccepts(answer)) throw hecError(`${client.origin} refused the check at open: ${describeAnswer(answer)}`);
  } catch (err) {
    await client.close();
    throw err;
  }
  const acks = c.ack ? new AckPoller(client, c.ack_poll_ms, (message) => hecError(message), log) : undefined;
  log.info('splunk-hec destination ready', { destination: name, url: client.origin, ack: c.ack, index: c.index || '(token default)', sourcetype: c.sourcetype });
  return new HecDestination(name, client, acks, {
    metadata: { host: c.host ?? hostname(), source: c.source, sourcetype: c.sourcetype, index: c.index },
    maxEvents: c.batch_events, maxBytes: c.batch_bytes, inFlight: c.requests_in_flight, ackTimeoutMs: c.ack_timeout_s * 1000,
    ...RETRY, giveUpMs: c.give_up_s * 1000,
  }, log);
}
