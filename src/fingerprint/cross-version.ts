/**
 * The cross-version identity: which email event a record is, whichever API (1.0 or 2.0) served it.
 *
 * `event.id` stays the fingerprint of the record as it came (fingerprint.ts): ids already stored
 * or indexed never change. The two APIs write one event differently (renamed keys, epoch
 * milliseconds against whole seconds, aggregateId's `_<epoch seconds>`, API 2.0-only fields such
 * as processingId), so the same event has two ids, one per API. This second identity ties them:
 *
 *   key = first 32 hex digits of SHA-256("mimelog-cross-v1\n" + log type + "\n" +
 *         JSON([["@second", whole seconds of the time], [v2 name, text], ...]))
 *
 * over the fields both APIs carry for the type (mimecast/v2-fields.ts CROSS_VERSION_FIELDS), in
 * the table's order, each in its comparable form; a field absent, empty or null is left out.
 *
 * The key is coarser than either id: two API 2.0 lines that differ only in processingId or in
 * milliseconds share it. So it never replaces an id; the store pairs copies by count (store/
 * cross-version.ts): a record is a copy of an event already stored only while its API has fewer
 * copies under the key than the other API. Distinct events under one key are each kept.
 */
import { hash as oneShotHash } from 'node:crypto';
import type { DecodedRecord, FieldValue } from '../decode/record.js';
import { CROSS_VERSION_FIELDS, type CrossVersionForm, bareACode } from '../mimecast/v2-fields.js';
import { stableJson } from '../util/stable-json.js';
import { ID_HEX_LENGTH } from './fingerprint.js';

export const CROSS_VERSION = 'mimelog-cross-v1';

export interface CrossIdentity {
  /** The API whose shape the record has. */
  readonly api: 'v1' | 'v2';
  /** 32 hex digits. */
  readonly key: string;
}


function text(value: FieldValue): string | undefined {
  const t = typeof value === 'string' ? value : stableJson(value);
  return t === '' || t === 'null' ? undefined : t;
}

/** A list however it is written: one value, `a, b`, `"a", "b"` or a JSON array. */
function listItems(value: FieldValue): string[] {
  if (Array.isArray(value)) return value.map((v) => (typeof v === 'string' ? v : stableJson(v)));
  if (typeof value !== 'string') return [stableJson(value)];
  return value.split(',');
}

const FORMS: Record<CrossVersionForm, (value: FieldValue) => string | undefined> = {
  text,
  acode: (value) => { const t = text(value); return t === undefined ? undefined : bareACode(t); },
  list: (value) => {
    const items = listItems(value).map((s) => s.trim().replace(/^"(.*)"$/, '$1').trim().toLowerCase()).filter((s) => s !== '' && s !== 'null');
    return items.length === 0 ? undefined : items.sort().join(',');
  },
};

/** The cross-version identity of a record of a log type; undefined for types the table does not cover (the feeds, unknown). */
export function crossIdentity(record: DecodedRecord, logType: string): CrossIdentity | undefined {
  const fields = CROSS_VERSION_FIELDS[logType];
  if (!fields) return undefined;
  const parts: [string, string][] = [['@second', String(Math.floor(record.timeMs / 1000))]];
  for (const f of fields) {
    const names = record.api === 'v1' ? f.v1 : [f.v2];
    const value = names.map((n) => record.fields.get(n)).find((v) => v !== undefined);
    const comparable = value === undefined ? undefined : FORMS[f.as](value);
    if (comparable !== undefined) parts.push([f.v2, comparable]);
  }
  const key = oneShotHash('sha256', `${CROSS_VERSION}\n${logType}\n${JSON.stringify(parts)}`, 'hex').slice(0, ID_HEX_LENGTH);
  return { api: record.api, key };
}
