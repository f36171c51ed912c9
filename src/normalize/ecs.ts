/**
 * Maps a decoded, classified, fingerprinted record to one ECS document, the same shape for
 * API 1.0 and 2.0. Driven by the tables in `mimecast/ecs-fields.ts`.
 */
import { isIP } from 'node:net';
import type { Classification } from '../classify/classify.js';
import { type DecodedRecord, type FieldValue, type JsonValue, fieldText } from '../decode/record.js';
import { isRepresentableTime, isoUtc, parseTimeInText } from '../decode/time.js';
import { type Fingerprint, type KeyShape, keyShape } from '../fingerprint/fingerprint.js';
import { bareACode } from '../mimecast/v2-fields.js';
import { stableJson } from '../util/stable-json.js';
import { categoryOf, datasetOf } from '../mimecast/feeds.js';
import {
  ALERT_RULES, type AlertRule, BOOLEAN_FIELDS, type Conversion, DROPPED_FIELDS, ECS_MAPPINGS, type EcsMapping, NUMBER_FIELDS,
} from '../mimecast/ecs-fields.js';

export type EcsDocument = { [key: string]: JsonValue };

export interface NormalizeOptions {
  /** Keep the raw record in `event.original` (default true). */
  readonly keepOriginal: boolean;
}

interface CompiledMapping extends EcsMapping {
  readonly path: readonly string[];
}
const MAPPINGS: readonly CompiledMapping[] = ECS_MAPPINGS.map((m) => ({ ...m, path: m.to.split('.') }));
const P = (dotted: string): readonly string[] => dotted.split('.');
const PATHS = {
  relatedUser: P('related.user'), relatedHosts: P('related.hosts'), relatedIp: P('related.ip'), relatedHash: P('related.hash'),
  attachments: P('email.attachments'), tlsVersion: P('tls.version'), tlsProtocol: P('tls.version_protocol'),
};
const numberFields = new Set(NUMBER_FIELDS);
const booleanFields = new Set(BOOLEAN_FIELDS);
const droppedFields = new Set(DROPPED_FIELDS);

function appliesTo(m: EcsMapping, logType: string): boolean {
  if (m.onlyTypes && !m.onlyTypes.includes(logType)) return false;
  if (m.exceptTypes && m.exceptTypes.includes(logType)) return false;
  return true;
}

/** Sets an own property even for a key like `__proto__` (plain assignment would change the prototype). */
function setOwn(obj: EcsDocument, key: string, value: JsonValue): void {
  // defineProperty only where it is needed: it is slower and turns objects into dictionaries.
  if (key === '__proto__') Object.defineProperty(obj, key, { value, enumerable: true, writable: true, configurable: true });
  else obj[key] = value;
}

const asText = fieldText;

function toNumber(text: string): number | undefined {
  const t = text.trim();
  if (!/^-?\d+(\.\d+)?([eE][+-]?\d+)?$/.test(t)) return undefined;
  const n = Number(t);
  return Number.isFinite(n) ? n : undefined;
}

const TRUE_WORDS = new Set(['true', 'yes', 'y', '1']);
const FALSE_WORDS = new Set(['false', 'no', 'n', '0']);
function toBoolean(text: string): boolean | undefined {
  const t = text.trim().toLowerCase();
  if (TRUE_WORDS.has(t)) return true;
  if (FALSE_WORDS.has(t)) return false;
  return undefined;
}

function address(text: string): string | undefined {
  const t = text.trim().replace(/^<(.*)>$/, '$1').trim();
  return t.length > 0 ? t : undefined;
}

function fileNames(v: FieldValue): string[] {
  if (Array.isArray(v)) return v.map((x) => (typeof x === 'string' ? x : stableJson(x))).filter((x) => x.length > 0);
  const text = asText(v).trim();
  if (text.length === 0) return [];
  try {
    const list = JSON.parse(`[${text}]`) as unknown[];
    if (list.every((x) => typeof x === 'string')) return (list as string[]).filter((x) => x.length > 0);
  } catch {
    // Not a quoted list: fall back to commas.
  }
  return text.split(',').map((s) => s.trim()).filter((s) => s.length > 0);
}

/** Builds nested objects from pre-split paths. */
class DocBuilder {
  readonly root: EcsDocument = {};

  private parent(path: readonly string[]): EcsDocument {
    let node = this.root;
    for (let i = 0; i < path.length - 1; i++) {
      const p = path[i]!;
      let child = node[p];
      if (child === undefined || child === null || typeof child !== 'object' || Array.isArray(child)) {
        child = {};
        node[p] = child;
      }
      node = child as EcsDocument;
    }
    return node;
  }

  /** Sets a value unless one is already there (the first source field in table order wins). */
  set(path: readonly string[], value: JsonValue): void {
    const node = this.parent(path);
    const leaf = path[path.length - 1]!;
    if (node[leaf] === undefined) node[leaf] = value;
  }

  /** Appends to a list, without duplicates. */
  add(path: readonly string[], value: string): void {
    const node = this.parent(path);
    const leaf = path[path.length - 1]!;
    const list = node[leaf] as string[] | undefined;
    if (list === undefined) node[leaf] = [value];
    else if (!list.includes(value)) list.push(value);
  }
}

/**
 * The mapping's version. The embedded store keeps records, not documents, and rebuilds each
 * document with this normalizer on read; it records the version that wrote each block, so a
 * change to the mapping (which changes the documents read back) shows which events predate it.
 */
export const NORMALIZER_VERSION = 1;

/** What the normalizer needs of one log type, worked out once: the mappings and alert rules that apply to it. */
interface TypePlan {
  readonly mappings: readonly CompiledMapping[];
  /** Every key some applicable mapping reads: such a key, when present, is consumed by it. */
  readonly mappedKeys: ReadonlySet<string>;
  readonly alertRules: readonly AlertRule[];
  readonly dataset: string;
  readonly category: readonly string[];
}

/** Log types seen so far (a bounded set: unknown types from hostile input start it again). */
const typePlans = new Map<string, TypePlan>();
const MAX_TYPE_PLANS = 1000;

function typePlan(logType: string): TypePlan {
  let plan = typePlans.get(logType);
  if (plan === undefined) {
    const mappings = MAPPINGS.filter((m) => appliesTo(m, logType));
    plan = {
      mappings,
      mappedKeys: new Set(mappings.flatMap((m) => m.from)),
      alertRules: ALERT_RULES.filter((rule) => !rule.logTypes || rule.logTypes.includes(logType)),
      dataset: datasetOf(logType),
      category: categoryOf(logType),
    };
    if (typePlans.size >= MAX_TYPE_PLANS) typePlans.clear();
    typePlans.set(logType, plan);
  }
  return plan;
}

/**
 * Which of a record's fields go where, for one key sequence (a key shape) of one log type: worked
 * out once per shape, so a record costs no lookup of the ~90 keys the mappings name.
 */
interface ShapePlan {
  /** The mappings to apply, in table order (which decides who wins a shared target), each with the key it reads and that key's index in the record. */
  readonly mapped: readonly { readonly m: CompiledMapping; readonly key: string; readonly at: number }[];
  /** The other fields (neither mapped, nor the time, nor dropped), in the record's order: kept under `mimecast.*`. */
  readonly kept: readonly { readonly key: string; readonly at: number }[];
}

function shapePlan(keys: readonly string[], plan: TypePlan, timeKey: string): ShapePlan {
  const index = new Map(keys.map((k, i) => [k, i]));
  const mapped: { m: CompiledMapping; key: string; at: number }[] = [];
  for (const m of plan.mappings) {
    for (const key of m.from) {
      const at = index.get(key);
      if (at !== undefined) mapped.push({ m, key, at });
    }
  }
  const kept: { key: string; at: number }[] = [];
  keys.forEach((key, at) => {
    if (!plan.mappedKeys.has(key) && key !== timeKey && !droppedFields.has(key)) kept.push({ key, at });
  });
  return { mapped, kept };
}

/** Values of the record being normalized, in its key order (reused: one record at a time). */
const values: FieldValue[] = [];

export class EcsNormalizer {
  /** Plans per key shape, by log type and time key (a shape's keys may be of several types). */
  private readonly shapePlans = new WeakMap<KeyShape, Map<string, ShapePlan>>();

  constructor(private readonly options: NormalizeOptions) {}

  /** `shape`: the record's key shape (fingerprint/fingerprint.ts keyShape), when the caller has it. */
  normalize(record: DecodedRecord, classification: Classification, fp: Fingerprint, shape: KeyShape = keyShape(record)): EcsDocument {
    const b = new DocBuilder();
    const logType = classification.logType;
    const plan = typePlan(logType);
    let byType = this.shapePlans.get(shape);
    if (byType === undefined) this.shapePlans.set(shape, (byType = new Map()));
    const planKey = `${logType}\n${record.timeKey}`;
    let fields = byType.get(planKey);
    if (fields === undefined) byType.set(planKey, (fields = shapePlan([...record.fields.keys()], plan, record.timeKey)));
    let n = 0;
    for (const value of record.fields.values()) values[n++] = value;
    const mimecast: EcsDocument = { log_type: logType, log_type_source: classification.source };
    if (classification.candidates) mimecast.log_type_candidates = [...classification.candidates];
    const doc = b.root;
    doc['@timestamp'] = isoUtc(record.timeMs);
    doc.event = {
      id: fp.id,
      hash: fp.hash,
      dataset: plan.dataset,
      module: 'mimecast',
      category: [...plan.category],
      kind: isAlert(record, plan.alertRules) ? 'alert' : 'event',
    };
    doc.mimecast = mimecast;
    const attachment: EcsDocument = {};
    const unparsed: EcsDocument = {};
    // Table order, not input order, decides which source wins a shared target, so the
    // document does not depend on key order.
    for (const { m, key, at } of fields.mapped) {
      const value = values[at]!;
      if (!this.apply(b, attachment, m, value)) setOwn(unparsed, key, asText(value));
    }
    for (const { key, at } of fields.kept) this.keepUnderMimecast(mimecast, unparsed, key, values[at]!);
    values.length = 0;
    if (hasKeys(attachment)) {
      const list = (b.root.email as EcsDocument | undefined)?.attachments as JsonValue[] | undefined;
      if (list) list.unshift({ file: attachment });
      else b.set(PATHS.attachments, [{ file: attachment }]);
    }
    if (hasKeys(unparsed)) mimecast.unparsed = unparsed;
    this.fillRelated(b);
    if (this.options.keepOriginal) (doc.event as EcsDocument).original = record.raw;
    return b.root;
  }

  private keepUnderMimecast(mimecast: EcsDocument, unparsed: EcsDocument, key: string, value: FieldValue): void {
    if (typeof value !== 'string') {
      setOwn(mimecast, key, value);
    } else if (numberFields.has(key)) {
      const n = toNumber(value);
      if (n !== undefined) setOwn(mimecast, key, n);
      else if (value.trim() !== '') setOwn(unparsed, key, value);
    } else if (booleanFields.has(key)) {
      const v = toBoolean(value);
      if (v !== undefined) setOwn(mimecast, key, v);
      else if (value.trim() !== '') setOwn(unparsed, key, value);
    } else if (value !== 'null') {
      setOwn(mimecast, key, value);
    }
  }

  /** Applies one mapping; false when the value does not convert (it is then kept as text). */
  private apply(b: DocBuilder, attachment: EcsDocument, m: CompiledMapping, value: FieldValue): boolean {
    const text = asText(value);
    if (text === '' || text === 'null') return true; // empty: nothing to map
    const converted = convert(m.as, value, text);
    if (converted === undefined) return false;
    if (m.to.startsWith('attachment.')) {
      setIn(attachment, m.to.slice('attachment.'.length), converted);
    } else if (m.as === 'address' || m.as === 'addresses') {
      for (const a of converted as string[]) b.add(m.path, a);
    } else if (m.as === 'file_names') {
      const names = converted as string[];
      if (names.length > 0) b.set(PATHS.attachments, names.map((name) => ({ file: { name } })));
    } else if (m.as === 'time_in_text') {
      if (converted !== null) b.set(m.path, converted); // text without a time it can read is only text
    } else if (m.as === 'tls_version') {
      const [version, protocol] = converted as [string, string];
      b.set(PATHS.tlsVersion, version);
      b.set(PATHS.tlsProtocol, protocol);
    } else {
      b.set(m.path, converted);
    }
    return true;
  }

  private fillRelated(b: DocBuilder): void {
    const doc = b.root as Record<string, any>;
    const addrs: string[] = [...(doc.email?.from?.address ?? []), ...(doc.email?.to?.address ?? [])];
    for (const a of addrs) {
      b.add(PATHS.relatedUser, a);
      const at = a.lastIndexOf('@');
      if (at !== -1 && at < a.length - 1) b.add(PATHS.relatedHosts, a.slice(at + 1).toLowerCase());
    }
    if (doc.source?.domain) b.add(PATHS.relatedHosts, String(doc.source.domain).toLowerCase());
    for (const ip of [doc.source?.ip, doc.destination?.ip]) if (typeof ip === 'string') b.add(PATHS.relatedIp, ip);
    for (const att of (doc.email?.attachments ?? []) as { file?: { hash?: Record<string, string> } }[]) {
      for (const h of Object.values(att.file?.hash ?? {})) b.add(PATHS.relatedHash, h);
    }
    if (typeof doc.url?.full === 'string') {
      try {
        b.add(PATHS.relatedHosts, new URL(doc.url.full).hostname.toLowerCase());
      } catch {
        // not a parseable URL: nothing to relate
      }
    }
  }
}

/** Whether an object has an own key (without listing them all). */
function hasKeys(obj: EcsDocument): boolean {
  for (const _ in obj) return true;
  return false;
}

/** Whether one of `rules` (those of the record's log type) makes the record an alert. */
function isAlert(record: DecodedRecord, rules: readonly AlertRule[]): boolean {
  return rules.some((rule) => {
    if (!rule.keys) return true;
    return rule.keys.some((key) => {
      const v = record.fields.get(key);
      if (v === undefined) return false;
      const t = asText(v).trim().toLowerCase();
      if (rule.atLeast !== undefined) return (toNumber(t) ?? -Infinity) >= rule.atLeast;
      if (!rule.values) return t !== '' && t !== 'null' && t !== 'false' && t !== 'none';
      return rule.values.includes(t);
    });
  });
}

function setIn(obj: EcsDocument, path: string, value: JsonValue): void {
  const parts = path.split('.');
  let node = obj;
  for (const p of parts.slice(0, -1)) node = (node[p] ??= {}) as EcsDocument;
  node[parts[parts.length - 1]!] ??= value;
}

function convert(as: Conversion, value: FieldValue, text: string): JsonValue | undefined {
  switch (as) {
    case 'text':
      return text;
    case 'acode':
      return bareACode(text);
    case 'lowercase':
      return text.toLowerCase();
    case 'address': {
      const a = address(text);
      return a === undefined ? [] : [a];
    }
    case 'addresses':
      return (Array.isArray(value) ? value.map(String) : text.split(/[,;]/)).map((s) => address(s)).filter((s): s is string => !!s);
    case 'ip':
      return isIP(text.trim()) ? text.trim() : undefined;
    case 'number':
      return toNumber(text);
    case 'boolean':
      return toBoolean(text);
    case 'outcome': {
      const v = toBoolean(text);
      return v === undefined ? undefined : v ? 'success' : 'failure';
    }
    case 'tls_version': {
      const m = /^(TLS|SSL)v?\s*(\d+(?:\.\d+)?)$/i.exec(text.trim());
      return m ? [m[2]!.includes('.') ? m[2]! : `${m[2]}.0`, m[1]!.toLowerCase()] : undefined;
    }
    case 'file_names':
      return fileNames(value);
    case 'time_in_text': {
      const ms = parseTimeInText(text);
      return isRepresentableTime(ms) ? new Date(ms).toISOString() : null;
    }
  }
}
