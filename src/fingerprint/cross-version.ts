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
import { type DecodedRecord, type FieldValue, fieldText } from '../decode/record.js';
import { CROSS_VERSION_FIELDS, type CrossVersionForm, bareACode } from '../mimecast/v2-fields.js';
import { stableJson } from '../util/stable-json.js';
import { ID_HEX_LENGTH, quote } from './fingerprint.js';

export const CROSS_VERSION = 'mimelog-cross-v1';

export interface CrossIdentity {
  /** The API whose shape the record has. */
  readonly api: 'v1' | 'v2';
  /** 32 hex digits. */
  readonly key: string;
}


function text(value: FieldValue): string | undefined {
  const t = fieldText(value);
  return t === '' || t === 'null' ? undefined : t;
}

/** One item of a list in its comparable form: trimmed, unquoted, lower case. */
function listItem(item: string): string {
  let t = item.trim();
  if (t.charCodeAt(0) === 0x22) t = t.replace(/^"(.*)"$/, '$1').trim();
  return t.toLowerCase();
}

/** A list however it is written (one value, `a, b`, `"a", "b"` or a JSON array): its items, sorted, joined by commas. */
function list(value: FieldValue): string | undefined {
  const raw: string[] = Array.isArray(value) ? value.map((v) => (typeof v === 'string' ? v : stableJson(v))) : typeof value === 'string' ? value.split(',') : [stableJson(value)];
  const items: string[] = [];
  for (const r of raw) {
    const t = listItem(r);
    if (t !== '' && t !== 'null') items.push(t);
  }
  if (items.length === 0) return undefined;
  return items.length === 1 ? items[0] : items.sort().join(',');
}

const FORMS: Record<CrossVersionForm, (value: FieldValue) => string | undefined> = {
  text,
  acode: (value) => { const t = text(value); return t === undefined ? undefined : bareACode(t); },
  list,
};

/** A field of a type's table, ready to write: the names to look up for each API, and the pair's head. */
interface CrossPlanField {
  readonly names: { readonly v1: readonly string[]; readonly v2: readonly string[] };
  readonly form: (value: FieldValue) => string | undefined;
  /** `,[` + the quoted API 2.0 name + `,`. */
  readonly head: string;
}

const plans = new Map<string, readonly CrossPlanField[]>();

function planOf(logType: string): readonly CrossPlanField[] | undefined {
  let plan = plans.get(logType);
  if (plan === undefined) {
    const fields = Object.hasOwn(CROSS_VERSION_FIELDS, logType) ? CROSS_VERSION_FIELDS[logType] : undefined; // a type named "constructor" has none
    if (!fields) return undefined;
    plan = fields.map((f) => ({ names: { v1: f.v1, v2: [f.v2] }, form: FORMS[f.as], head: `,[${JSON.stringify(f.v2)},` }));
    plans.set(logType, plan);
  }
  return plan;
}

/**
 * The cross-version identity of a record of a log type; undefined for types the table does not
 * cover (the feeds, unknown). The JSON of the pairs is written directly (the same text as
 * JSON.stringify of the list of pairs).
 */
export function crossIdentity(record: DecodedRecord, logType: string): CrossIdentity | undefined {
  const plan = planOf(logType);
  if (!plan) return undefined;
  let json = `[["@second",${JSON.stringify(String(Math.floor(record.timeMs / 1000)))}]`;
  for (const f of plan) {
    let value: FieldValue | undefined;
    for (const n of f.names[record.api]) if ((value = record.fields.get(n)) !== undefined) break;
    const comparable = value === undefined ? undefined : f.form(value);
    if (comparable !== undefined) json += `${f.head}${quote(comparable)}]`;
  }
  const key = oneShotHash('sha256', `${CROSS_VERSION}\n${logType}\n${json}]`, 'hex').slice(0, ID_HEX_LENGTH);
  return { api: record.api, key };
}
