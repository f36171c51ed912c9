/**
 * The store keeps each event's original record once, compressed together with up to
 * `BLOCK_RECORDS` records written in the same transaction: Mimecast lines repeat their key names
 * and most values, so a block of them deflates to about a sixth, where one record alone would
 * barely shrink. Reading one event inflates its block (tens of microseconds).
 *
 * Layout before deflate, per record: one flags byte, the length of its bytes (uint32 LE), the bytes.
 */
import { deflateRawSync, inflateRawSync } from 'node:zlib';
import type { RecordFormat } from '../decode/record.js';
import { decodeText, encodeText } from '../decode/text.js';

/** Records per block: larger blocks compress a little better and cost more to read one event. */
export const BLOCK_RECORDS = 64;

export interface StoredRecord {
  /** The record as read (invalid UTF-8 bytes escaped; see decode/text.ts). */
  readonly raw: string;
  readonly format: RecordFormat;
}

const JSON_FORMAT = 1;
/** The text cannot round-trip through bytes (a lone surrogate no input decoding makes): kept as a JSON string. */
const AS_JSON_STRING = 2;
const SURROGATE = /[\ud800-\udfff]/;

function recordBytes(raw: string): { bytes: Buffer; asJson: boolean } {
  if (!SURROGATE.test(raw)) return { bytes: Buffer.from(raw, 'utf8'), asJson: false };
  const bytes = encodeText(raw);
  if (decodeText(bytes) === raw) return { bytes, asJson: false };
  return { bytes: Buffer.from(JSON.stringify(raw), 'utf8'), asJson: true };
}

export function packRecords(records: readonly StoredRecord[]): Buffer {
  const parts: Buffer[] = [];
  for (const r of records) {
    const { bytes, asJson } = recordBytes(r.raw);
    const head = Buffer.allocUnsafe(5);
    head[0] = (r.format === 'json' ? JSON_FORMAT : 0) | (asJson ? AS_JSON_STRING : 0);
    head.writeUInt32LE(bytes.length, 1);
    parts.push(head, bytes);
  }
  return deflateRawSync(Buffer.concat(parts));
}

export function unpackRecords(block: Buffer): StoredRecord[] {
  const data = inflateRawSync(block);
  const out: StoredRecord[] = [];
  let at = 0;
  while (at < data.length) {
    const flags = data[at]!;
    const length = data.readUInt32LE(at + 1);
    const bytes = data.subarray(at + 5, at + 5 + length);
    at += 5 + length;
    const raw = flags & AS_JSON_STRING ? (JSON.parse(bytes.toString('utf8')) as string) : decodeText(bytes);
    out.push({ raw, format: flags & JSON_FORMAT ? 'json' : 'key_value' });
  }
  return out;
}
