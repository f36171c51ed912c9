/**
 * What the store keeps instead of each ECS document: the record and its classification, from
 * which the document is rebuilt on read (decode → fingerprint → normalize are pure and
 * deterministic), plus a few fields the indexes need. Both the write and the read side take those
 * fields from a document through `indexedFields`, so they cannot disagree.
 */
import { hash } from 'node:crypto';
import type { Classification, LogTypeSource } from '../classify/classify.js';
import { decodeJsonLine, decodeKeyValueLine } from '../decode/decode-record.js';
import type { DecodeResult, JsonValue } from '../decode/record.js';
import { fingerprint } from '../fingerprint/fingerprint.js';
import { type EcsDocument, EcsNormalizer } from '../normalize/ecs.js';
import type { StoredRecord } from './record-blocks.js';

type Doc = { [k: string]: JsonValue };

/** The fields the store indexes or shows in lists, as the document has them. */
export interface IndexedFields {
  readonly acode: string | null;
  readonly messageId: string | null;
  readonly from: string[];
  readonly to: string[];
  readonly subject: string | null;
  readonly direction: string | null;
  readonly action: string | null;
  /** URLs and attachment SHA-256 digests: what "who else received it" matches other messages on. */
  readonly indicators: string[];
}

const str = (v: JsonValue | undefined): string | null => (typeof v === 'string' ? v : null);
const list = (v: JsonValue | undefined): string[] => (Array.isArray(v) ? v.filter((x): x is string => typeof x === 'string') : []);
const obj = (v: JsonValue | undefined): Doc => (v !== null && typeof v === 'object' && !Array.isArray(v) ? v : {});

export function indexedFields(doc: Doc): IndexedFields {
  const email = obj(doc.email);
  const indicators: string[] = [];
  const url = str(obj(doc.url).full);
  if (url) indicators.push(url);
  for (const a of Array.isArray(email.attachments) ? email.attachments : []) {
    const sha256 = str(obj(obj(obj(a).file).hash).sha256);
    if (sha256) indicators.push(sha256);
  }
  return {
    acode: str(email.local_id),
    messageId: str(email.message_id),
    from: list(obj(email.from).address),
    to: list(obj(email.to).address),
    subject: str(email.subject),
    direction: str(email.direction),
    action: str(obj(doc.event).action),
    indicators,
  };
}

/** A message id as the store keys it: without its angle brackets (logs write it both ways). */
export function bareMessageId(id: string): string {
  return id.trim().replace(/^<|>$/g, '');
}

/** Kinds of text keys; the kind is hashed in, so equal texts of two kinds differ. */
export type KeyKind = 'message-id' | 'acode' | 'subject' | 'indicator';

/**
 * How many bits of its SHA-256 each kind's key keeps (schema 19; 64 for all before). SQLite stores
 * an integer in 1, 2, 3, 4, 6 or 8 bytes, so each width is one of those. Every reader of a narrow key
 * compares the text itself on the events it finds (`hasKeyedText` in event-rows.ts), so two texts that share a key stay
 * two; the width only sets how often a lookup reads an event it then drops. An aCode and a message id
 * (32 bits: found through an index, about n/2^32 extra events read per lookup, 0.002 at 10M events)
 * and a subject (8 bits: only compared among the events whose subject holds the same words) are read
 * with their text. The one reader by key alone, the threat questions' join of a held message to its
 * receipt (threats.ts), also asks for the same message-id key where both lines name one. Indicators
 * keep 64 (event_indicators is not narrowed).
 */
export const KEY_BITS: Readonly<Record<KeyKind, number>> = { 'message-id': 32, acode: 32, subject: 8, indicator: 64 };

/** The key schemas 9 to 18 kept for every kind: the first 64 bits of the text's SHA-256 (schema 19 shifts it right). */
export function wideTextKey(kind: KeyKind, text: string): bigint {
  return hash('sha256', `${kind}\u0000${text}`, 'buffer').readBigInt64BE(0);
}

/** The key of an indexed text: the first KEY_BITS[kind] bits of its SHA-256, as the signed integer SQLite stores. */
export function textKey(kind: KeyKind, text: string): bigint {
  return wideTextKey(kind, text) >> BigInt(64 - KEY_BITS[kind]);
}

/** event.id (32 hex digits) as the 16 bytes stored; undefined for text that is not an id. */
export function idBytes(id: string): Buffer | undefined {
  return /^[0-9a-f]{32}$/.test(id) ? Buffer.from(id, 'hex') : undefined;
}

/** The stored form of an id: its 16 bytes, or (a hand-made row of an older store) its text. */
export function storedId(id: string): Buffer {
  return idBytes(id) ?? Buffer.from(id, 'utf8');
}

export function idText(stored: Buffer): string {
  return stored.length === 16 ? stored.toString('hex') : stored.toString('utf8');
}

/** The collision guard's digest: the first 64 bits of event.hash, as a signed integer. */
export function hashDigest(hashHex: string): bigint {
  // Always hex from the fingerprint; any other text (a hand-made row in an older store) is hashed instead.
  if (/^[0-9a-f]{16}/.test(hashHex)) return BigInt.asIntN(64, BigInt(`0x${hashHex.slice(0, 16)}`));
  return hash('sha256', hashHex, 'buffer').readBigInt64BE(0);
}

const NORMALIZER = new EcsNormalizer({ keepOriginal: false });
/** Stored records were accepted once under the limits in force then; reading them back sets none. */
const NO_LIMIT = Number.MAX_SAFE_INTEGER;

export interface StoredClassification {
  readonly logType: string;
  readonly source: LogTypeSource;
  readonly candidates: readonly string[] | undefined;
}

/** A stored record decoded again, as the pipeline decoded it before storing it. */
export function decodeStored(record: StoredRecord): DecodeResult {
  return record.format === 'json' ? decodeJsonLine(record.raw, NO_LIMIT, NO_LIMIT) : decodeKeyValueLine(record.raw, NO_LIMIT);
}

/**
 * The ECS document (without event.original) of a stored record, as the pipeline made it. Given
 * `decoded` (decodeStored of the record), a caller that needs the decoded record too decodes it once.
 */
export function rebuildDocument(record: StoredRecord, classification: StoredClassification, decoded: DecodeResult = decodeStored(record)): EcsDocument {
  if (!decoded.ok) throw new Error(`a stored record no longer decodes: ${decoded.reason}`);
  const full: Classification = { logType: classification.logType, source: classification.source, driftKeys: [], ...(classification.candidates ? { candidates: classification.candidates } : {}) };
  return NORMALIZER.normalize(decoded.record, full, fingerprint(decoded.record));
}
