/**
 * Turns one raw record (a key_value line, a v1 json element, a v2 NDJSON line) into the
 * decoded record, or says why it cannot.
 */
import { parseJson, tooManyKeys } from './json.js';
import { DEFAULT_LIMITS } from './limits.js';
import { parseKeyValueLine } from './keyvalue.js';
import { type DecodeResult, type FieldValue, type JsonValue, type RecordFormat, fromJsonValue } from './record.js';
import { isRepresentableTime, parseEpochMs, parseIsoTime } from './time.js';
import { FEEDS } from '../mimecast/feeds.js';

const isoOrEpoch = (v: string) => (/^\d+(\.\d+)?$/.test(v) ? parseEpochMs(v) : parseIsoTime(v));

interface TimeField {
  readonly key: string;
  readonly api: 'v1' | 'v2';
  readonly parse: (value: string) => number;
}

/**
 * How each API generation names its event time, and how to read it, first match wins: the SIEM
 * logs' `datetime` (API 1.0) and `timestamp` (API 2.0), then the time fields of the other API 2.0
 * feeds (mimecast/feeds.ts), which carry neither.
 */
const SIEM_TIME_FIELDS: readonly TimeField[] = [
  { key: 'datetime', api: 'v1', parse: parseIsoTime },
  { key: 'timestamp', api: 'v2', parse: isoOrEpoch },
];
/** JSON records only (a key_value line is API 1.0, never one of these feeds): the feeds' time fields. */
const JSON_TIME_FIELDS: readonly TimeField[] = [
  ...SIEM_TIME_FIELDS,
  ...[...new Set(FEEDS.map((f) => f.timeField))].map((key) => ({ key, api: 'v2', parse: isoOrEpoch }) as const),
];

function withTime(fields: Map<string, FieldValue>, raw: string, format: RecordFormat, timeFields: readonly TimeField[]): DecodeResult {
  for (const { key, api, parse } of timeFields) {
    const value = fields.get(key);
    if (value === undefined) continue;
    const timeMs = typeof value === 'string' ? parse(value) : NaN;
    if (!isRepresentableTime(timeMs)) {
      return { ok: false, reason: `invalid ${key} ${JSON.stringify(value).slice(0, 80)}` };
    }
    return { ok: true, record: { fields, timeMs, timeKey: key, raw, api, format } };
  }
  return { ok: false, reason: timeFields === SIEM_TIME_FIELDS ? 'no event time (neither datetime nor timestamp)' : `no event time (none of ${timeFields.map((f) => f.key).join(', ')})` };
}

export function decodeKeyValueLine(line: string, maxKeys: number = DEFAULT_LIMITS.maxRecordKeys): DecodeResult {
  const parsed = parseKeyValueLine(line);
  if (!parsed.ok) return parsed;
  if (parsed.fields.size > maxKeys) return { ok: false, reason: tooManyKeys(parsed.fields.size, maxKeys) };
  return withTime(parsed.fields, line, 'key_value', SIEM_TIME_FIELDS);
}

/** One JSON object: a v1 json `data` element or a v2 event. */
export function decodeJsonObject(value: unknown, raw: string): DecodeResult {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    return { ok: false, reason: 'record is not a JSON object' };
  }
  const fields = new Map<string, FieldValue>();
  for (const [key, v] of Object.entries(value as Record<string, JsonValue>)) {
    fields.set(key.trim(), fromJsonValue(v));
  }
  return withTime(fields, raw, 'json', JSON_TIME_FIELDS);
}

export function decodeJsonLine(line: string, maxJsonDepth: number = DEFAULT_LIMITS.maxJsonDepth, maxKeys: number = DEFAULT_LIMITS.maxRecordKeys): DecodeResult {
  const parsed = parseJson(line, maxJsonDepth, maxKeys);
  return parsed.ok ? decodeJsonObject(parsed.value, line) : parsed;
}
