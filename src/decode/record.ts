/**
 * The one decoded record every input format turns into.
 * Mimecast's own key names; scalar values as text (numbers and booleans from typed JSON are
 * written as their JSON text, so `1` and `"1"` decode alike); embedded JSON parsed.
 */
import { parseJson } from './json.js';
import { DEFAULT_LIMITS } from './limits.js';
import { stableJson } from '../util/stable-json.js';

export type JsonValue = string | number | boolean | null | JsonValue[] | { [key: string]: JsonValue };
export type FieldValue = string | JsonValue[] | { [key: string]: JsonValue };

export interface DecodedRecord {
  /** Fields in input order (order is irrelevant to identity). */
  readonly fields: Map<string, FieldValue>;
  /** The event time as milliseconds since the epoch, UTC. */
  readonly timeMs: number;
  /** The field the time was read from (`datetime` or `timestamp`). */
  readonly timeKey: string;
  /** The record exactly as read (one line, or the JSON text of one array element). */
  readonly raw: string;
  /** API generation the record's shape says it came from. */
  readonly api: 'v1' | 'v2';
  /** How `raw` is written: the store decodes it again the same way to rebuild the document. */
  readonly format: RecordFormat;
}

/** A key_value line (`key=value|…`) or one JSON object. */
export type RecordFormat = 'key_value' | 'json';

/** Where a record came from, for dead letters and for type signals. */
export interface Origin {
  /** File path, `path!member` for zip members, `-` for stdin, or a collector's unit name. */
  readonly source: string;
  /** 1-based line number (key_value, NDJSON) or 1-based array index (v1 json). */
  readonly position: number;
}

export interface DecodeFailure {
  readonly origin: Origin;
  readonly reason: string;
  readonly raw: string;
}

export type DecodeResult = { ok: true; record: DecodedRecord } | { ok: false; reason: string };

/** Converts a value parsed from typed JSON to the decoded form. */
export function fromJsonValue(value: JsonValue): FieldValue {
  if (value === null) return 'null';
  switch (typeof value) {
    case 'string':
      return parseEmbeddedJson(value);
    case 'number':
    case 'boolean':
      return String(value);
    default:
      return value;
  }
}

/**
 * A text value that holds a JSON object or array (`SpamProcessingDetail={...}`, `SpamInfo=[]`,
 * v2's JSON-in-string fields) is parsed, so it decodes the same as the typed JSON would.
 */
export function parseEmbeddedJson(text: string): FieldValue {
  const first = text.charCodeAt(0);
  if (first !== 0x7b /* { */ && first !== 0x5b /* [ */) return text;
  const memo = text.length <= MAX_REMEMBERED_TEXT ? embedded.get(text) : undefined;
  if (memo !== undefined) return memo;
  // Not JSON after all (a subject "[EXTERNAL] ..."), or JSON we will not hold (too deep, a
  // duplicate key): the text is kept as it is, so nothing is lost.
  const parsed = parseJson(text, DEFAULT_LIMITS.maxJsonDepth);
  const value = parsed.ok && parsed.value !== null && typeof parsed.value === 'object' ? (parsed.value as FieldValue) : text;
  if (text.length <= MAX_REMEMBERED_TEXT) {
    if (embedded.size >= MAX_REMEMBERED) embedded.clear();
    embedded.set(text, value);
  }
  return value;
}

/**
 * Embedded JSON texts parsed lately, and what they gave. Most records of a log carry the same few
 * (`SpamInfo=[]`, a handful of `SpamProcessingDetail` verdicts), so each is parsed once and its
 * sorted text (`fieldText`) made once, not once per record. Records then share the value: values
 * are never changed once decoded. Bounded: short texts only, and it starts again when full.
 */
const embedded = new Map<string, FieldValue>();
const MAX_REMEMBERED = 1024;
const MAX_REMEMBERED_TEXT = 4096;

/**
 * Texts of embedded JSON values already written. The fingerprint, the cross-version key and the
 * document each write a record's objects as sorted JSON: once per object is enough (values are
 * never changed once decoded).
 */
const texts = new WeakMap<object, string>();

/** A field's value as text: itself, or for an object or array (embedded JSON) its JSON with keys sorted at every depth. */
export function fieldText(value: FieldValue): string {
  if (typeof value === 'string') return value;
  let t = texts.get(value);
  if (t === undefined) texts.set(value, (t = stableJson(value)));
  return t;
}
