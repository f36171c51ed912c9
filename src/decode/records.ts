/**
 * Records an API page already parsed, decoded as NDJSON lines (each record re-serialized: its
 * fields, not the page's bytes, make the fingerprint). The lines are made a slice at a time as
 * the decoder asks for them, and each record is let go once serialized: a page of a quarter of a
 * million records is never held as records, text and decoded lines all at once.
 */
import { type DecodeOptions, DEFAULT_LIMITS } from './limits.js';
import { type DecodedBatch, decodeInput } from './input.js';
import { type JsonParse, type JsonPath, cutDeepRecords, jsonText } from './json.js';

/** Records serialized per chunk handed to the decoder (a Mimecast page holds 100 to 500). */
const RECORDS_PER_CHUNK = 1000;

/** `records` as NDJSON chunks; empties `records` as it goes (the caller's page lets go of them). */
async function* recordLines(records: unknown[]): AsyncGenerator<Buffer> {
  for (let at = 0; at < records.length; at += RECORDS_PER_CHUNK) {
    const end = Math.min(records.length, at + RECORDS_PER_CHUNK);
    const lines: string[] = [];
    for (let i = at; i < end; i++) {
      const r = records[i];
      lines.push(r instanceof CutRecord ? r.text : jsonText(r)!); // a record is an object (notRecords took the rest out): never undefined
      records[i] = undefined;
    }
    yield Buffer.from(lines.join('\n') + (end < records.length ? '\n' : ''));
  }
}

/** A record cut out of its page's text unparsed for its nesting (cutDeepRecords): its text is its line, for the decoder to refuse with its reason. */
export class CutRecord {
  constructor(readonly text: string) {}
}

/**
 * A page's text parsed by `parse` once the records of the array at `path` nested deeper than
 * `maxDepth` are cut out (each a CutRecord in its place): 24 MiB of brackets in one record is
 * never parsed into 12 million arrays (a 1.25 GiB peak) only for that record to be refused.
 */
export function parsePage(text: string, path: JsonPath, maxDepth: number, parse: (text: string) => JsonParse): JsonParse {
  const { text: rest, cut } = cutDeepRecords(text, path, maxDepth);
  const parsed = parse(rest);
  if (!parsed.ok || cut.size === 0) return parsed;
  let records: unknown = parsed.value;
  for (const step of path) records = (records as Record<string | number, unknown> | null | undefined)?.[step];
  if (Array.isArray(records)) for (const [i, recordText] of cut) records[i] = new CutRecord(recordText);
  return parsed;
}

/**
 * Takes out of `records` (in place) the items that are not JSON objects, and returns them as one
 * dead letter (their JSON, its head when long), or undefined when every item is a record. A page
 * of a million numbers is one dead-letter row, not a million: a hostile page cannot fill the disk.
 */
function notRecords(name: string, records: unknown[], headBytes: number): DecodedBatch | undefined {
  let kept = 0;
  let count = 0;
  let total = 0;
  const head: string[] = [];
  let headLength = 0;
  for (const r of records) {
    const cut = r instanceof CutRecord ? r.text : undefined;
    if (cut !== undefined ? cut.startsWith('{') : r !== null && typeof r === 'object' && !Array.isArray(r)) {
      records[kept++] = r;
      continue;
    }
    count++;
    const text = cut ?? jsonText(r) ?? 'undefined';
    const bytes = Buffer.byteLength(text) + 1; // in bytes, as every dead letter's head bound and length
    total += bytes;
    if (headLength < headBytes) {
      head.push(text);
      headLength += bytes;
    }
  }
  records.length = kept;
  if (count === 0) return undefined;
  total -= 1; // no line break after the last one
  const { text: raw, bytes } = utf8Head(head.join('\n'), headBytes);
  const reason = `${count} items of this page are not JSON objects, so not records; they are kept here together${total > bytes ? ` (the first ${bytes} of ${total} bytes)` : ''}`;
  return { source: name, fileName: name, items: [{ position: 0, result: { ok: false, reason }, raw, truncatedFrom: total > bytes ? total : undefined }], last: false };
}

/** The start of `text` that fits `max` UTF-8 bytes, cut between characters, and its bytes. */
function utf8Head(text: string, max: number): { text: string; bytes: number } {
  const buf = Buffer.from(text);
  if (buf.length <= max) return { text, bytes: buf.length };
  let end = max;
  while (end > 0 && (buf[end]! & 0xc0) === 0x80) end--; // buf[end] continues a character begun before the cut
  return { text: buf.toString('utf8', 0, end), bytes: end };
}

/** Decodes `records` as the NDJSON input `name`, in batches; `records` is emptied as they are read. */
export async function* decodeRecords(name: string, records: unknown[], options: DecodeOptions = {}): AsyncGenerator<DecodedBatch> {
  const odd = notRecords(name, records, (options.limits ?? DEFAULT_LIMITS).deadLetterHeadBytes);
  if (odd) yield odd;
  yield* decodeInput(name, recordLines(records), options);
}
