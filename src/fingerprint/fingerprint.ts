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
import { type DecodedRecord, type FieldValue, fieldText } from '../decode/record.js';
import { isoUtc } from '../decode/time.js';

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



/** JSON string literal (the text JSON.stringify gives); plain strings skip JSON.stringify, which is slow per call. */
const NEEDS_ESCAPE = /["\\\u0000-\u001f\ud800-\udfff]/;
export function quote(s: string): string {
  return NEEDS_ESCAPE.test(s) ? JSON.stringify(s) : `"${s}"`;
}

const CANONICAL_HEAD = `${CANONICAL_VERSION}\n[`;

/**
 * The canonical form's layout for one sequence of record keys: which field each pair takes its
 * text from, in sorted key order, and the pair's text up to its value. Records of one log type
 * share a few key sequences, so the sort and the quoting of keys happen once per sequence.
 */
interface KeyPlan {
  /** Index, in the record's key order, of the field each pair takes its text from. */
  readonly from: number[];
  /** The raw key each pair's text comes from (the time field is written as the instant). */
  readonly rawKeys: string[];
  /** `[` + the quoted key + `,`, with the comma between pairs in front. */
  readonly heads: string[];
}

/**
 * A node of the key-sequence tree: one step per record key, in the record's order. The node a
 * record's keys lead to is its shape: what depends only on the keys (this layout, the log type
 * the keys suggest) is worked out once per shape and kept on it (`memo`, keyed by its owner).
 */
export interface KeyShape {
  readonly next: Map<string, KeyShape>;
  plan?: KeyPlan;
  /** What other stages keep per shape, by owner (weakly: an owner that goes lets go of it). */
  readonly memo: WeakMap<object, unknown>;
}

/** Bound of the tree (hostile inputs with ever new keys): when full, it starts again empty. */
const MAX_KEY_NODES = 20_000;
const newShape = (): KeyShape => ({ next: new Map(), memo: new WeakMap() });
let keyTree: KeyShape = newShape();
let keyNodes = 0;

/** The plan for `keys` (a record's keys in its order): the pairs the old one-shot code wrote, in the same order. */
function buildPlan(keys: readonly string[]): KeyPlan {
  const sorted: string[] = [];
  const source = new Map<string, number>();
  keys.forEach((rawKey, i) => {
    if (TRANSPORT_KEYS.has(rawKey)) return;
    const key = KEY_ALIASES.get(rawKey) ?? rawKey;
    if (!source.has(key)) sorted.push(key);
    source.set(key, i); // a later field with the same canonical key wins
  });
  sorted.sort();
  const from = sorted.map((k) => source.get(k)!);
  return { from, rawKeys: from.map((i) => keys[i]!), heads: sorted.map((k, i) => `${i === 0 ? '' : ','}[${quote(k)},`) };
}

/** The shape of a record: the node its keys lead to (one Map lookup per key once the shape is known). */
export function keyShape(record: DecodedRecord): KeyShape {
  let node = keyTree;
  for (const rawKey of record.fields.keys()) {
    let child = node.next.get(rawKey);
    if (child === undefined) {
      if (keyNodes >= MAX_KEY_NODES) {
        keyTree = newShape();
        keyNodes = 0;
        return keyShape(record);
      }
      child = newShape();
      node.next.set(rawKey, child);
      keyNodes++;
    }
    node = child;
  }
  return node;
}

/** Values of the record being written, in its key order (reused: one record at a time). */
const values: FieldValue[] = [];

export function canonicalForm(record: DecodedRecord, shape: KeyShape = keyShape(record)): string {
  let n = 0;
  for (const value of record.fields.values()) values[n++] = value;
  const plan = (shape.plan ??= buildPlan([...record.fields.keys()]));
  let out = CANONICAL_HEAD;
  for (let i = 0; i < plan.from.length; i++) {
    const text = plan.rawKeys[i] === record.timeKey ? isoUtc(record.timeMs) : fieldText(values[plan.from[i]!]!);
    out += `${plan.heads[i]}${quote(text)}]`;
  }
  values.length = 0;
  return `${out}]`;
}

export function fingerprint(record: DecodedRecord, shape?: KeyShape): Fingerprint {
  const hash = oneShotHash('sha256', canonicalForm(record, shape), 'hex');
  return { id: hash.slice(0, ID_HEX_LENGTH), hash };
}
