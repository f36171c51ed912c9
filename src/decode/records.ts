/**
 * Records an API page already parsed, decoded as NDJSON lines (each record re-serialized: its
 * fields, not the page's bytes, make the fingerprint). The lines are made a slice at a time as
 * the decoder asks for them, and each record is let go once serialized: a page of a quarter of a
 * million records is never held as records, text and decoded lines all at once.
 */
import type { DecodeOptions } from './limits.js';
import { type DecodedBatch, decodeInput } from './input.js';

/** Records serialized per chunk handed to the decoder (a Mimecast page holds 100 to 500). */
const RECORDS_PER_CHUNK = 1000;

/** `records` as NDJSON chunks; empties `records` as it goes (the caller's page lets go of them). */
async function* recordLines(records: unknown[]): AsyncGenerator<Buffer> {
  for (let at = 0; at < records.length; at += RECORDS_PER_CHUNK) {
    const end = Math.min(records.length, at + RECORDS_PER_CHUNK);
    const lines: string[] = [];
    for (let i = at; i < end; i++) {
      lines.push(JSON.stringify(records[i]));
      records[i] = undefined;
    }
    yield Buffer.from(lines.join('\n') + (end < records.length ? '\n' : ''));
  }
}

/** Decodes `records` as the NDJSON input `name`, in batches; `records` is emptied as they are read. */
export function decodeRecords(name: string, records: unknown[], options: DecodeOptions = {}): AsyncGenerator<DecodedBatch> {
  return decodeInput(name, recordLines(records), options);
}
