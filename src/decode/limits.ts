/**
 * Resource bounds for decoding hostile input. Each one turns "too big" into a dead letter with a
 * reason instead of unbounded memory or time; every one is a command-line option.
 */
export interface DecodeLimits {
  /** Largest record (one line, or one element of a v1 json document), in bytes. */
  readonly maxRecordBytes: number;
  /** Largest API 1.0 json document (a file that is one JSON value), in bytes. */
  readonly maxDocumentBytes: number;
  /** Largest decompressed size of one gzip stream or zip member, in bytes. */
  readonly maxMemberBytes: number;
  /** Largest zip file read into memory (zip needs its central directory), in bytes. */
  readonly maxZipBytes: number;
  /** How many archives may nest (a gzip in a zip is depth 2). */
  readonly maxArchiveDepth: number;
  /** Deepest nesting of JSON objects and arrays inside one record. */
  readonly maxJsonDepth: number;
  /** Most keys in one record, nested ones included (a Mimecast record has well under 200). */
  readonly maxRecordKeys: number;
  /** How many leading bytes a dead letter keeps when its bytes pass `maxRecordBytes`. */
  readonly deadLetterHeadBytes: number;
}

const MiB = 1024 * 1024;

export const DEFAULT_LIMITS: DecodeLimits = {
  maxRecordBytes: 16 * MiB,
  maxDocumentBytes: 64 * MiB,
  maxMemberBytes: 4096 * MiB,
  maxZipBytes: 256 * MiB,
  maxArchiveDepth: 4,
  maxJsonDepth: 64,
  maxRecordKeys: 10_000,
  deadLetterHeadBytes: 64 * 1024,
};

/** What decoding needs besides the bytes: the bounds, and a signal that stops reading at once. */
export interface DecodeOptions {
  readonly limits?: DecodeLimits;
  /** When aborted, decoding stops at the next chunk and yields what is complete. */
  readonly signal?: AbortSignal;
}

/** A bound was passed; the message names the limit and the option that sets it. */
export class LimitExceeded extends Error {}

/** Bytes kept for a dead letter: all of them under the bound, else the head, and a note saying so. */
export function boundedBytes(bytes: Buffer, limits: DecodeLimits, totalLength = bytes.length): { bytes: Buffer; note: string } {
  if (totalLength <= limits.maxRecordBytes && bytes.length === totalLength) return { bytes, note: '' };
  const head = Buffer.from(bytes.subarray(0, limits.deadLetterHeadBytes));
  return { bytes: head, note: ` (${totalLength} bytes; the first ${head.length} are kept)` };
}
