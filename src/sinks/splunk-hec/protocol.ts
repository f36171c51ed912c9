/**
 * Splunk HTTP Event Collector's wire format and the meaning of its answers. Pure: no I/O.
 *
 * Every answer carries `{"text", "code"}`; the code says more than the HTTP status, so what
 * mimelog does is decided by the code (Splunk's documented table below) and, for an answer
 * without a known code (a proxy's page), by the HTTP status.
 */
import type { ProcessedEvent } from '../../core/unit.js';
import { documentJson } from '../../core/unit.js';

export const EVENT_PATH = '/services/collector/event';
export const ACK_PATH = '/services/collector/ack';
export const CHANNEL_HEADER = 'x-splunk-request-channel';

/**
 * What to do with an answer:
 * - `ok`: accepted;
 * - `retry`: the server is busy or failing: wait and send again;
 * - `refused`: the request's data was refused: find the event (split) and dead-letter it;
 * - `stop`: a person must act (token, channel, index, URL): the run stops, nothing checkpointed.
 */
export type HecAction = 'ok' | 'retry' | 'refused' | 'stop';

interface CodeMeaning {
  readonly meaning: string;
  readonly action: HecAction;
  /** What the person should do, for `stop`. */
  readonly fix?: string;
}

/** Splunk's HEC status codes (Troubleshoot HTTP Event Collector), and mimelog's answer to each. */
export const HEC_CODES: Readonly<Record<number, CodeMeaning>> = {
  0: { meaning: 'success', action: 'ok' },
  1: { meaning: 'token disabled', action: 'stop', fix: 'enable the token in Splunk (Settings > Data inputs > HTTP Event Collector)' },
  2: { meaning: 'token is required', action: 'stop', fix: 'give token, token_file or MIMELOG_HEC_TOKEN' },
  3: { meaning: 'invalid authorization', action: 'stop', fix: 'check the token' },
  4: { meaning: 'invalid token', action: 'stop', fix: 'check the token (token, token_file or MIMELOG_HEC_TOKEN)' },
  5: { meaning: 'no data', action: 'refused' },
  6: { meaning: 'invalid data format', action: 'refused' },
  7: { meaning: 'incorrect index', action: 'stop', fix: 'the index does not exist or the token may not write to it: create it, allow it on the token, or set index:' },
  8: { meaning: 'internal server error', action: 'retry' },
  9: { meaning: 'server is busy', action: 'retry' },
  10: { meaning: 'data channel is missing', action: 'stop', fix: 'the token has indexer acknowledgement on, which needs a channel: remove ack: false (mimelog then sends one)' },
  11: { meaning: 'invalid data channel', action: 'stop', fix: 'a proxy between mimelog and Splunk may rewrite the X-Splunk-Request-Channel header' },
  12: { meaning: 'event field is required', action: 'refused' },
  13: { meaning: 'event field cannot be blank', action: 'refused' },
  14: { meaning: 'ACK is disabled', action: 'stop', fix: 'enable indexer acknowledgement on the token, or set ack: false (delivery then rests on HTTP 200 only)' },
  15: { meaning: 'error in handling indexed fields', action: 'refused' },
  16: { meaning: 'query string authorization is not enabled', action: 'stop', fix: 'check the url' },
  17: { meaning: 'HEC is healthy', action: 'ok' },
  18: { meaning: 'HEC is unhealthy, queues are full', action: 'retry' },
  19: { meaning: 'HEC is unhealthy, ack service unavailable', action: 'retry' },
  20: { meaning: 'HEC is unhealthy, queues are full, ack service unavailable', action: 'retry' },
};

/** An HEC answer, read without trusting its shape. */
export interface HecAnswer {
  readonly status: number;
  readonly code?: number;
  readonly text?: string;
  readonly ackId?: number;
  /** Splunk's index of the first bad event of a refused batch, when it says it. */
  readonly invalidEvent?: number;
  /** The ack endpoint's answer: which of the ids asked are indexed. */
  readonly acks?: ReadonlyMap<number, boolean>;
  /** The body when it is not HEC's JSON (a proxy's page), cut short. */
  readonly raw?: string;
}

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
const wholeNumber = (v: unknown): number | undefined => (typeof v === 'number' && Number.isSafeInteger(v) && v >= 0 ? v : undefined);

export function parseAnswer(status: number, body: string): HecAnswer {
  let parsed: unknown;
  try {
    parsed = JSON.parse(body);
  } catch {
    return { status, raw: body.slice(0, 300) };
  }
  if (!isObject(parsed)) return { status, raw: body.slice(0, 300) };
  return {
    status,
    code: wholeNumber(parsed.code),
    text: typeof parsed.text === 'string' ? parsed.text.slice(0, 300) : undefined,
    ackId: wholeNumber(parsed.ackId),
    invalidEvent: wholeNumber(parsed['invalid-event-number']),
    acks: isObject(parsed.acks) ? ackMap(parsed.acks) : undefined,
  };
}

/** `{"acks": {"1": true, "2": false}}`'s map; anything but `true` is not indexed. */
function ackMap(acks: Record<string, unknown>): Map<number, boolean> {
  const out = new Map<number, boolean>();
  for (const [id, done] of Object.entries(acks)) if (/^\d+$/.test(id)) out.set(Number(id), done === true);
  return out;
}

/** What mimelog does with an answer: by its code when HEC gave a known one, else by the HTTP status. */
export function actionOf(a: HecAnswer): HecAction {
  const known = a.code === undefined ? undefined : HEC_CODES[a.code];
  if (known && !(known.action === 'ok' && a.status !== 200)) return known.action;
  if (a.status === 200) return 'ok';
  if (a.status === 429 || a.status >= 500) return 'retry';
  if (a.status === 413) return 'refused'; // too large: the batch is split, an event alone is dead-lettered
  return 'stop';
}

/** "HTTP 403 code 4 (invalid token: check the token ...)": an answer as an error or a dead letter says it; never the token. */
export function describeAnswer(a: HecAnswer): string {
  const known = a.code === undefined ? undefined : HEC_CODES[a.code];
  const code = a.code === undefined ? '' : ` code ${a.code}`;
  const meaning = known ? ` (${known.meaning}${known.fix ? `: ${known.fix}` : ''})` : a.text ? ` (${a.text})` : '';
  const page = a.raw !== undefined && a.raw.trim() !== '' ? `: ${JSON.stringify(a.raw.slice(0, 200))}` : '';
  return `HTTP ${a.status}${code}${meaning}${page}`;
}

/** Where events go in Splunk: the metadata every event carries. */
export interface HecMetadata {
  readonly host: string;
  readonly source?: string;
  /** May hold `{log_type}`, replaced by each event's log type. */
  readonly sourcetype: string;
  /** Empty: the token's default index. */
  readonly index: string;
}

/** Epoch seconds with the milliseconds as a fraction: `1796571860.650`. */
export function hecTime(timeMs: number): string | undefined {
  return Number.isFinite(timeMs) ? (timeMs / 1000).toFixed(3) : undefined;
}

/**
 * One event in HEC's JSON event format: its time, the metadata, the ECS document as `event`, and
 * `fields` (indexed fields) holding its id and hash, so a copy sent twice is recognisable in Splunk.
 */
export function eventLine(e: ProcessedEvent, m: HecMetadata, source: string): string {
  const time = hecTime(e.timeMs);
  const parts = [
    time === undefined ? undefined : `"time":${time}`,
    `"host":${JSON.stringify(m.host)}`,
    `"source":${JSON.stringify(m.source ?? source)}`,
    `"sourcetype":${JSON.stringify(m.sourcetype.replaceAll('{log_type}', e.classification.logType))}`,
    m.index === '' ? undefined : `"index":${JSON.stringify(m.index)}`,
    `"event":${documentJson(e)}`,
    `"fields":${JSON.stringify({ 'event.id': e.id, 'event.hash': e.hash })}`,
  ];
  return `{${parts.filter((p) => p !== undefined).join(',')}}`;
}

/** What an acknowledgement means, with indexer acknowledgement and without. */
export const ACKNOWLEDGEMENT = {
  on: "Splunk's ack endpoint answered true for the request's ackId: the events are indexed (and replicated, where the indexer cluster is set to)",
  off: 'HTTP 200 from HEC: Splunk received the events and they looked valid; not that they were indexed (ack: false)',
} as const;
