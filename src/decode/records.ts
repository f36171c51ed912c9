/**
 * Records an API page already parsed, decoded as NDJSON lines (each record re-serialized: its
 * fields, not the page's bytes, make the fingerprint). The lines are made a slice at a time as
 * the decoder asks for them, and each record is let go once serialized: a page of a quarter of a
 * million records is never held as records, text and decoded lines all at once.
 */
import { type DecodeOptions, DEFAULT_LIMITS } from './limits.js';
import { type DecodedBatch, decodeInput } from './input.js';
import { jsonText } from './json.js';

/** Records serialized per chunk handed to the decoder (a Mimecast page holds 100 to 500). */
const RECORDS_PER_CHUNK = 1000;

/** `records` as NDJSON chunks; empties `records` as it goes (the caller's page lets go of them). */
async function* recordLines(records: unknown[]): AsyncGenerator<Buffer> {
  for (let at = 0; at < records.length; at += RECORDS_PER_CHUNK) {
    const end = Math.min(records.length, at + RECORDS_PER_CHUNK);
    const lines: string[] = [];
    for (let i = at; i < end; i++) {
      lines.push(jsonText(records[i])!); // a record is an object (notRecords took the rest out): never undefined
      records[i] = undefined;
    }
    yield Buffer.from(lines.join('\n') + (end < records.length ? '\n' : ''));
  }
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
    if (r !== null && typeof r === 'object' && !Array.isArray(r)) {
      records[kept++] = r;
      continue;
    }
    count++;
    const text = jsonText(r) ?? 'undefined';
    total += text.length + 1;
    if (headLength < headBytes) {
      head.push(text);
      headLength += text.length + 1;
    }
  }
  records.length = kept;
  if (count === 0) return undefined;
  const raw = head.join('\n').slice(0, headBytes);
  const reason = `${count} items of this page are not JSON objects, so not records; they are kept here together${total > raw.length ? ` (the first ${raw.length} of ${total} characters)` : ''}`;
  return { source: name, fileName: name, items: [{ position: 0, result: { ok: false, reason }, raw, truncatedFrom: total > raw.length ? total : undefined }], last: false };
}

/** Decodes `records` as the NDJSON input `name`, in batches; `records` is emptied as they are read. */
export async function* decodeRecords(name: string, records: unknown[], options: DecodeOptions = {}): AsyncGenerator<DecodedBatch> {
  const odd = notRecords(name, records, (options.limits ?? DEFAULT_LIMITS).deadLetterHeadBytes);
  if (odd) yield odd;
  yield* decodeInput(name, recordLines(records), options);
}
