/**
 * The event fingerprint: `event.id` and `event.hash`, from the decoded record only.
 *
 * Canonical form (a change to it is a breaking change; see README "Fingerprint"):
 *   `mimelog-canonical-v1` + "\n" + JSON of the list of [key, text] pairs sorted by key
 *   (UTF-16 code-unit order), e.g. `[["acc","C0A0"],["datetime","2017-05-26T15:47:41.000Z"]]`
 * where
 *   - transport metadata (`_partition`, `_offset`) is left out;
 *   - v2 stream names are folded into batch names (`eventType` → `type`, `subType` → `subtype`);
 *   - the time field (`datetime` or `timestamp`) has the text of the event's UTC instant
 *     (ISO 8601 with milliseconds), so the offset it was written with does not matter;
 *   - text values are kept as they are; objects and arrays (embedded JSON) are JSON with keys
 *     sorted at every depth, so `{...}` text and a typed object give the same text.
 * `event.hash` = hex SHA-256 of the canonical form; `event.id` = its first 32 hex digits (128 bits).
 */
import { hash as oneShotHash } from 'node:crypto';
import type { DecodedRecord, FieldValue } from '../decode/record.js';
import { stableJson } from '../util/stable-json.js';

export const CANONICAL_VERSION = 'mimelog-canonical-v1';
const TRANSPORT_KEYS: ReadonlySet<string> = new Set(['_partition', '_offset']);
const KEY_ALIASES: ReadonlyMap<string, string> = new Map([
  ['eventType', 'type'],
  ['subType', 'subtype'],
]);
export const ID_HEX_LENGTH = 32;

export interface Fingerprint {
  /** 128-bit id, 32 hex digits: the document id everywhere. */
  readonly id: string;
  /** Full SHA-256 of the canonical form: the content digest the collision guard compares. */
  readonly hash: string;
}


function canonicalText(value: FieldValue): string {
  return typeof value === 'string' ? value : stableJson(value);
}

/** JSON string literal; plain strings skip JSON.stringify, which is slow per call. */
const NEEDS_ESCAPE = /["\\\u0000-\u001f\ud800-\udfff]/;
function quote(s: string): string {
  return NEEDS_ESCAPE.test(s) ? JSON.stringify(s) : `"${s}"`;
}

export function canonicalForm(record: DecodedRecord): string {
  const keys: string[] = [];
  const texts = new Map<string, string>();
  for (const [rawKey, value] of record.fields) {
    if (TRANSPORT_KEYS.has(rawKey)) continue;
    const key = KEY_ALIASES.get(rawKey) ?? rawKey;
    if (!texts.has(key)) keys.push(key);
    texts.set(key, rawKey === record.timeKey ? new Date(record.timeMs).toISOString() : canonicalText(value));
  }
  keys.sort();
  let out = `${CANONICAL_VERSION}\n[`;
  for (let i = 0; i < keys.length; i++) {
    const k = keys[i]!;
    out += `${i === 0 ? '' : ','}[${quote(k)},${quote(texts.get(k)!)}]`;
  }
  return `${out}]`;
}

export function fingerprint(record: DecodedRecord): Fingerprint {
  const hash = oneShotHash('sha256', canonicalForm(record), 'hex');
  return { id: hash.slice(0, ID_HEX_LENGTH), hash };
}
