/**
 * Splits a byte stream into lines, in batches, in bounded memory and linear time. A line longer
 * than `maxRecordBytes` is not assembled: its head is kept and the rest skipped up to the next
 * newline, so a 200 MB line or an endless stream without newlines costs at most the bound.
 */
import { isUtf8 } from 'node:buffer';
import type { DecodeLimits } from './limits.js';
import { decodeText } from './text.js';

export interface Line {
  /** The line's text (invalid UTF-8 bytes escaped, see text.ts); for an oversized line, its head. */
  readonly text: string;
  /** The line's bytes when they are not valid UTF-8 or the line is oversized; else undefined (text is exact). */
  readonly bytes?: Buffer;
  /** The line's full length in bytes when it passed the bound. */
  readonly oversizedLength?: number;
  /** The input broke while this line was being read: it may be cut short. */
  readonly unfinished?: boolean;
}

const NEWLINE = 0x0a;
const BOM = Buffer.from([0xef, 0xbb, 0xbf]);

/** Only a line with invalid UTF-8 needs its bytes kept beside the text. */
function toLine(bytes: Buffer): Line {
  return isUtf8(bytes) ? { text: bytes.toString('utf8') } : { text: decodeText(bytes), bytes };
}

/** A line over the bound: its head (bytes and text) and its full length. */
function oversizedLine(head: Buffer, length: number): Line {
  return { text: decodeText(head), bytes: head, oversizedLength: length };
}

/** A line under construction, kept as its chunks (never concatenated string by string). */
class PartialLine {
  private parts: Buffer[] = [];
  length = 0;

  constructor(private readonly limits: DecodeLimits) {}

  add(piece: Buffer): void {
    const before = this.length;
    this.length += piece.length;
    if (this.length <= this.limits.maxRecordBytes) {
      this.parts.push(piece);
    } else if (before <= this.limits.maxRecordBytes) {
      // Crossing the bound: keep only the head; from now on bytes are counted, not kept.
      this.parts = [Buffer.from(Buffer.concat([...this.parts, piece]).subarray(0, this.limits.deadLetterHeadBytes))];
    }
  }

  take(): Line {
    const bytes = Buffer.concat(this.parts);
    const line = this.length > this.limits.maxRecordBytes ? oversizedLine(bytes, this.length) : toLine(bytes);
    this.parts = [];
    this.length = 0;
    return line;
  }

  get empty(): boolean {
    return this.length === 0 && this.parts.length === 0;
  }
}

/**
 * Yields batches of lines. Stops early, without the unfinished last line, when `signal` aborts.
 * A leading UTF-8 byte-order mark is dropped.
 */
export async function* lineBatches(chunks: AsyncIterable<Buffer>, limits: DecodeLimits, signal?: AbortSignal): AsyncGenerator<Line[]> {
  const partial = new PartialLine(limits);
  let first = true;
  try {
    for await (let chunk of chunks) {
      if (signal?.aborted) return;
      if (first && chunk.length > 0) {
        first = false;
        if (chunk.subarray(0, 3).equals(BOM)) chunk = chunk.subarray(3);
      }
      const lines: Line[] = [];
      let start = 0;
      let nl = chunk.indexOf(NEWLINE, start);
      if (nl >= 0 && !partial.empty) {
        partial.add(chunk.subarray(0, nl));
        lines.push(partial.take());
        start = nl + 1;
        nl = chunk.indexOf(NEWLINE, start);
      }
      const lastNl = chunk.lastIndexOf(NEWLINE);
      if (nl >= 0 && lastNl >= start) {
        splitWhole(chunk.subarray(start, lastNl), limits, lines);
        start = lastNl + 1;
      }
      if (start < chunk.length) partial.add(chunk.subarray(start));
      if (lines.length > 0) yield lines;
    }
  } catch (err) {
    // The stream broke: the line in hand is kept (with its bytes), then the break is reported.
    if (!partial.empty) yield [{ ...partial.take(), unfinished: true }];
    throw err;
  }
  if (signal?.aborted) return;
  if (!partial.empty) yield [partial.take()];
}

/** Lines of a stretch that holds only complete lines (no newline at its end). */
function splitWhole(region: Buffer, limits: DecodeLimits, out: Line[]): void {
  if (region.length <= limits.maxRecordBytes && isUtf8(region)) {
    for (const t of region.toString('utf8').split('\n')) out.push({ text: t });
    return;
  }
  // Invalid UTF-8 somewhere or a possibly oversized line: line by line, on bytes.
  let start = 0;
  for (;;) {
    const nl = region.indexOf(NEWLINE, start);
    const end = nl < 0 ? region.length : nl;
    const piece = region.subarray(start, end);
    if (piece.length > limits.maxRecordBytes) {
      out.push(oversizedLine(Buffer.from(piece.subarray(0, limits.deadLetterHeadBytes)), piece.length));
    } else out.push(toLine(Buffer.from(piece)));
    if (nl < 0) return;
    start = nl + 1;
  }
}

/** Yields `first` and then the rest of an iterator, so a peeked chunk is not lost. */
export async function* prepend<T>(first: T, rest: AsyncIterator<T>): AsyncGenerator<T> {
  yield first;
  for (;;) {
    const next = await rest.next();
    if (next.done) return;
    yield next.value;
  }
}
