/**
 * What decoding an input hands on (decode/input.ts frames it): its batches of items, and how an
 * item's line becomes a record where the records are processed (`decodeItem`). Kept apart from the
 * framing (archives, streams, lines), so a worker thread that only parses loads none of that.
 */
import { decodeJsonLine, decodeKeyValueLine } from './decode-record.js';
import type { DecodeResult } from './record.js';

/**
 * How the lines of one input are parsed into records. Framing (archives, lines, bounds, the
 * format) happens where the input is read; parsing each line is left to the thread that
 * processes the records (`decodeItem`), so that with worker threads it runs in parallel.
 */
export interface LineDecoding {
  readonly format: 'ndjson' | 'key_value';
  readonly maxJsonDepth: number;
  readonly maxRecordKeys: number;
}

/** A line framed but not yet parsed: its text is the item's `raw`, or `text` when raw holds bytes that are not UTF-8. */
export interface PendingLine {
  readonly pending: LineDecoding;
  readonly text?: string;
}

export interface DecodedItem {
  /** 1-based line number, or array index for a v1 json document; 0 for a whole-input failure. */
  readonly position: number;
  /** The outcome, or a line still to be parsed (see `decodeItem`). */
  readonly result: DecodeResult | PendingLine;
  /** The item's bytes: text when it is exact UTF-8, else the bytes (invalid UTF-8, a broken archive). */
  readonly raw: string | Buffer;
  /** The input as a whole failed (bad zip, truncated json or gzip), not one record of it. */
  readonly wholeInput?: boolean;
  /** The bytes were over the bound and `raw` is only their head: this many bytes in all. */
  readonly truncatedFrom?: number;
  /** The line in hand when the input broke: it may be cut short, so it is never decoded or replayed. */
  readonly cutShort?: boolean;
}

export interface DecodedBatch {
  /** The input's name: a file path, `zip!member`, `-`. */
  readonly source: string;
  /** The base name that may carry a type prefix (file or zip-member name, without `.gz`). */
  readonly fileName: string;
  readonly items: DecodedItem[];
  /** True for the last batch of this input. */
  readonly last: boolean;
  /** Decoding stopped on the stop signal before the end of the input. */
  readonly interrupted?: boolean;
}

/** The item's outcome, parsing its line if that was left to this thread. Never throws. */
export function decodeItem(item: DecodedItem): DecodeResult {
  const r = item.result;
  if (!('pending' in r)) return r;
  const { format, maxJsonDepth, maxRecordKeys } = r.pending;
  const text = r.text ?? (item.raw as string);
  try {
    return format === 'ndjson' ? decodeJsonLine(text, maxJsonDepth, maxRecordKeys) : decodeKeyValueLine(text, maxRecordKeys);
  } catch (err) {
    return { ok: false, reason: `cannot decode: ${(err as Error).message}` };
  }
}

