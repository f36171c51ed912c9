/**
 * The store keeps each event's original record once, compressed together with up to
 * `BLOCK_RECORDS` records written in the same transaction: Mimecast lines repeat their key names
 * and most values, so a block of them deflates to about a sixth, where one record alone would
 * barely shrink. A block may also be deflated against a *dictionary*: the records of an earlier
 * block of the same store (block-dictionaries.ts), which already hold the tenant's key names,
 * domains and values, so even the block's first records find their repeats (about a seventh
 * smaller). Reading one event inflates its block (about 0.1 ms).
 *
 * Layout before deflate, per record: one flags byte, the length of its bytes (uint32 LE), the bytes.
 */
import { deflateRawSync, inflateRawSync } from 'node:zlib';
import type { RecordFormat } from '../decode/record.js';
import { decodeText, encodeText } from '../decode/text.js';
import { MimelogError } from '../util/errors.js';

/**
 * Records per block: larger blocks compress a little better and cost more to read one event. At
 * 128 a block deflates to about 6 KiB, more than a 4 KiB page: SQLite then fills whole overflow
 * pages and keeps only the rest in the table's page, where a block just under a page wastes most
 * of a page (64 records per block: about 15 bytes per event).
 */
export const BLOCK_RECORDS = 128;

/** deflate reaches back 32 KiB: a dictionary longer than that is cut to its end. */
export const DICTIONARY_BYTES = 32 * 1024;

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

/** The records as one buffer, uncompressed (what a block inflates to). */
export function layoutRecords(records: readonly StoredRecord[]): Buffer {
  const parts: Buffer[] = [];
  for (const r of records) {
    const { bytes, asJson } = recordBytes(r.raw);
    const head = Buffer.allocUnsafe(5);
    head[0] = (r.format === 'json' ? JSON_FORMAT : 0) | (asJson ? AS_JSON_STRING : 0);
    head.writeUInt32LE(bytes.length, 1);
    parts.push(head, bytes);
  }
  return Buffer.concat(parts);
}

/**
 * deflate's best level: Mimecast blocks 3 % smaller than the default level 6 (45.4 against 46.9
 * bytes a record, against a dictionary), for about 1.4 µs more per record. Reading is the same.
 */
const LEVEL = 9;

/** The block's bytes: the layout deflated, against `dictionary` when given. */
export function compressLayout(layout: Buffer, dictionary?: Buffer): Buffer {
  return dictionary ? deflateRawSync(layout, { dictionary, level: LEVEL }) : deflateRawSync(layout, { level: LEVEL });
}

export function packRecords(records: readonly StoredRecord[], dictionary?: Buffer): Buffer {
  return compressLayout(layoutRecords(records), dictionary);
}

/**
 * A record block that cannot be read: its bytes were damaged on disk (or by hand). The events that
 * point at it keep their rows (time, type, addresses), but not their records or documents.
 */
export class DamagedBlockError extends MimelogError {
  constructor(
    readonly block: number,
    readonly problem: string,
    /** The events whose records it held, when known: how many, and their first and last time. */
    readonly events?: { readonly count: number; readonly first: string; readonly last: string },
  ) {
    super('store', `record block ${block} is damaged: ${problem}${events ? `; it held the records of ${events.count} events from ${events.first} to ${events.last}` : ''}. ${DAMAGE_ADVICE}`);
    this.name = 'DamagedBlockError';
  }
}

/** What a person can do about a damaged block. */
export const DAMAGE_ADVICE = '`mimelog check` lists every damaged block; `mimelog export` and `mimelog search` skip damaged blocks, say which, and give the rest; the lost records can only be read again from their source (ingest it into a new store)';

/** Damaged blocks met by a reader that skips them (export, search): each once, with the events it cost. */
export class DamagedBlocks {
  readonly blocks = new Map<number, DamagedBlockError>();
  /** Events left out because their block is damaged. */
  skippedEvents = 0;

  note(err: DamagedBlockError): void {
    this.blocks.set(err.block, err);
    this.skippedEvents++;
  }

  /** One line per damaged block (at most `max`), for a person. */
  lines(max = 10): string[] {
    const all = [...this.blocks.values()].map((e) => `record block ${e.block}: ${e.problem}${e.events ? ` (${e.events.count} events, ${e.events.first} to ${e.events.last})` : ''}`);
    return all.length > max ? [...all.slice(0, max), `… and ${all.length - max} more blocks`] : all;
  }
}

/** Why the bytes of a block are not a block, or undefined when they inflate and parse. */
function parseRecords(block: Buffer, dictionary: Buffer | undefined): StoredRecord[] | string {
  let data: Buffer;
  try {
    data = dictionary ? inflateRawSync(block, { dictionary }) : inflateRawSync(block);
  } catch (err) {
    return `its compressed bytes do not inflate (${(err as Error).message})`;
  }
  const out: StoredRecord[] = [];
  let at = 0;
  while (at < data.length) {
    if (at + 5 > data.length) return `record ${out.length + 1} is cut short in its header`;
    const flags = data[at]!;
    const length = data.readUInt32LE(at + 1);
    if (at + 5 + length > data.length) return `record ${out.length + 1} says ${length} bytes, the block holds ${data.length - at - 5} more`;
    const bytes = data.subarray(at + 5, at + 5 + length);
    at += 5 + length;
    let raw: string;
    try {
      raw = flags & AS_JSON_STRING ? (JSON.parse(bytes.toString('utf8')) as string) : decodeText(bytes);
    } catch {
      return `record ${out.length + 1} is not the JSON string its flags say`;
    }
    out.push({ raw, format: flags & JSON_FORMAT ? 'json' : 'key_value' });
  }
  return out;
}

/** The records of block `id` (deflated against `dictionary`, if it was); a DamagedBlockError names the block and what is wrong with it. */
export function unpackRecords(block: Buffer, id = 0, dictionary?: Buffer): StoredRecord[] {
  const records = parseRecords(block, dictionary);
  if (typeof records === 'string') throw new DamagedBlockError(id, records);
  return records;
}
