/**
 * Decodes one input (a file, a zip member, stdin, an API response body) into record batches,
 * detecting its format from its bytes: gzip, zip, API 1.0 json document, NDJSON (v1 or v2),
 * or API 1.0 key_value lines.
 *
 * Hostile input is bounded (decode/limits.ts): over-long lines, decompression bombs, archives
 * nested in archives and deep JSON become dead letters that keep their bytes (or, above the
 * record bound, their head), and decoding goes on with what follows.
 */
import { createGunzip } from 'node:zlib';
import { Readable } from 'node:stream';
import { createRequire } from 'node:module';
import { Gunzip as FflateGunzip } from 'fflate';
import yauzl from 'yauzl';
import { decodeJsonObject } from './decode-record.js';
import { type DecodedBatch, type DecodedItem, type LineDecoding, type PendingLine, decodeItem } from './item.js';
import { countKeys, cutDeepRecords, nestedTooDeep, parseJson, tooManyKeys } from './json.js';
import { type DecodeLimits, type DecodeOptions, DEFAULT_LIMITS, LimitExceeded, boundedBytes } from './limits.js';
import { type Line, lineBatches, prepend } from './lines.js';
import { encodeText, hasEscapedBytes } from './text.js';

export { decodeItem };
export type { DecodedBatch, DecodedItem, LineDecoding, PendingLine };

export type InputFormat = 'gzip' | 'zip' | 'json-document' | 'ndjson' | 'key_value' | 'empty';
type TextFormat = Exclude<InputFormat, 'gzip' | 'zip' | 'empty'>;

const BATCH = 1000;

// buffer-crc32's ESM typings say `export =`; its ESM build exports a default. Loaded as CommonJS.
const crc32 = createRequire(import.meta.url)('buffer-crc32') as { unsigned(bytes: Buffer, previous?: number): number };

interface KeptBytes {
  readonly bytes: Buffer;
  readonly total: number;
}

const NO_BYTES: KeptBytes = { bytes: Buffer.alloc(0), total: 0 };

interface Context {
  readonly limits: DecodeLimits;
  readonly signal?: AbortSignal;
  /** How many archives enclose this input. */
  readonly depth: number;
  /** The enclosing archive's bytes (as many as were kept) and its length, for the dead letter of a stream that breaks inside it. */
  readonly container?: () => KeptBytes;
}

function baseName(name: string): string {
  const cut = Math.max(name.lastIndexOf('/'), name.lastIndexOf('\\'), name.lastIndexOf('!'));
  return name.slice(cut + 1);
}

function isGzip(b: Buffer): boolean {
  return b.length >= 2 && b[0] === 0x1f && b[1] === 0x8b;
}

function isZip(b: Buffer): boolean {
  return b.length >= 4 && b[0] === 0x50 && b[1] === 0x4b && (b[2] === 0x03 || b[2] === 0x05);
}

/** A failed item; its bytes are exact (text with escaped bytes goes back to bytes) and bounded. */
function failure(position: number, reason: string, raw: string | Buffer | KeptBytes, limits: DecodeLimits, wholeInput = false): DecodedItem {
  if (typeof raw === 'string' && raw.length <= limits.maxRecordBytes && !hasEscapedBytes(raw)) {
    return { position, result: { ok: false, reason }, raw, wholeInput };
  }
  const bytes = typeof raw === 'string' ? encodeText(raw) : Buffer.isBuffer(raw) ? raw : raw.bytes;
  const total = typeof raw === 'object' && !Buffer.isBuffer(raw) ? raw.total : bytes.length;
  const kept = boundedBytes(bytes, limits, total);
  const truncatedFrom = kept.bytes.length < total ? total : undefined;
  return { position, result: { ok: false, reason: reason + kept.note }, raw: kept.bytes, wholeInput, truncatedFrom };
}

/**
 * A batch of one record that failed as a whole (a file or page a source gave up on), with its
 * bytes as they are: the dead letter a source publishes.
 */
export function deadLetterBatch(source: string, reason: string, raw: string | Buffer, truncatedFrom?: number): DecodedBatch {
  return { source, fileName: source, items: [{ position: 0, result: { ok: false, reason }, raw, wholeInput: true, truncatedFrom }], last: true };
}

function fail(source: string, fileName: string, reason: string, raw: Buffer | KeptBytes, limits: DecodeLimits): DecodedBatch {
  return { source, fileName, items: [failure(0, reason, raw, limits, true)], last: true };
}

/** Keeps the first `max` bytes that pass through and counts the rest. */
class ByteTap {
  private parts: Buffer[] = [];
  private kept = 0;
  total = 0;
  constructor(private readonly max: number) {}
  async *tap(chunks: AsyncIterable<Buffer>): AsyncGenerator<Buffer> {
    for await (const c of chunks) {
      this.total += c.length;
      if (this.kept < this.max) {
        const piece = c.subarray(0, this.max - this.kept);
        this.parts.push(piece);
        this.kept += piece.length;
      }
      yield c;
    }
  }
  bytes(): Buffer {
    return Buffer.concat(this.parts);
  }
  /** Every byte that passed was kept. */
  get complete(): boolean {
    return this.kept === this.total;
  }
}

/** Passes chunks through until more than `max` bytes have passed, then throws `tooLarge(bytes passed)`. */
export async function* upTo<T extends Uint8Array>(chunks: AsyncIterable<T>, max: number, tooLarge: (total: number) => Error): AsyncGenerator<T> {
  let total = 0;
  for await (const c of chunks) {
    total += c.byteLength;
    if (total > max) throw tooLarge(total);
    yield c;
  }
}

/** Passes bytes through until `max` have passed, then fails with the limit's name. */
function capped(chunks: AsyncIterable<Buffer>, max: number, what: string, option: string): AsyncGenerator<Buffer> {
  return upTo(chunks, max, () => new LimitExceeded(`${what} is larger than ${max} bytes (${option})`));
}

/**
 * The input's chunks as Buffers. When the signal aborts, the stream is destroyed, so a read that
 * waits (an idle stdin or pipe) ends at once instead of waiting for the writer. (Racing each read
 * against one long-lived abort promise would keep every chunk alive: a leak.)
 */
async function* toBuffers(stream: AsyncIterable<Buffer | string>, signal?: AbortSignal): AsyncGenerator<Buffer> {
  const destroy = () => (stream as { destroy?: () => void }).destroy?.();
  signal?.addEventListener('abort', destroy, { once: true });
  try {
    for await (const c of stream) {
      if (signal?.aborted) return;
      yield typeof c === 'string' ? Buffer.from(c) : c;
    }
  } catch (err) {
    if (!signal?.aborted) throw err; // destroyed on purpose: not a broken input
  } finally {
    signal?.removeEventListener('abort', destroy);
  }
}

/**
 * Decodes a stream. `name` is the input's name; its base name is a type signal.
 * Never throws for bad content: problems become failed items (dead letters).
 */
export function decodeInput(name: string, stream: AsyncIterable<Buffer | string>, options: DecodeOptions = {}): AsyncGenerator<DecodedBatch> {
  return decodeAt(name, baseName(name), toBuffers(stream, options.signal), { limits: options.limits ?? DEFAULT_LIMITS, signal: options.signal, depth: 0 });
}

/** Decodes bytes already in memory (an API response, a stored dead letter). */
export function decodeBytes(name: string, bytes: Buffer, options: DecodeOptions = {}): AsyncGenerator<DecodedBatch> {
  return decodeInput(name, Readable.from([bytes]), options);
}

async function* decodeAt(name: string, fileName: string, chunks: AsyncIterable<Buffer>, ctx: Context): AsyncGenerator<DecodedBatch> {
  const it = chunks[Symbol.asyncIterator]();
  let first: IteratorResult<Buffer>;
  try {
    do first = await it.next();
    while (!first.done && first.value.length === 0);
  } catch (err) {
    yield fail(name, fileName, `input unreadable: ${(err as Error).message}`, ctx.container?.() ?? NO_BYTES, ctx.limits);
    return;
  }
  if (first.done) {
    yield { source: name, fileName, items: [], last: true };
    return;
  }
  const head = first.value;
  const all = prepend(head, it);
  const archive = isGzip(head) ? 'gzip' : isZip(head) ? 'zip' : undefined;
  if (archive && ctx.depth >= ctx.limits.maxArchiveDepth) {
    const tap = new ByteTap(ctx.limits.maxRecordBytes + 1);
    try {
      for await (const _ of tap.tap(all)) if (ctx.signal?.aborted) break;
    } catch {
      // What arrived is what the dead letter keeps.
    }
    yield fail(name, fileName, `archive nested deeper than ${ctx.limits.maxArchiveDepth} levels (--max-archive-depth)`, { bytes: tap.bytes(), total: tap.total }, ctx.limits);
    return;
  }
  if (archive === 'gzip') yield* decodeGzip(name, fileName, all, ctx);
  else if (archive === 'zip') yield* decodeZip(name, all, ctx);
  else yield* decodeText(name, fileName, all, ctx);
}

/**
 * Gunzips with Node's zlib (which checks each member's CRC). zlib drops the output of the write
 * that fails (trailing garbage, a cut tail), so when it fails and every compressed byte was kept,
 * the bytes are decompressed again by fflate, which hands over its output before it fails, and
 * what zlib had not delivered is passed on; then the failure stands (it becomes a dead letter).
 */
async function* gunzipKeepingOutput(compressed: AsyncIterable<Buffer>, tap: ByteTap): AsyncGenerator<Buffer> {
  const gunzip = createGunzip();
  const source = Readable.from(compressed);
  source.on('error', (err) => gunzip.destroy(err));
  source.pipe(gunzip);
  let delivered = 0;
  try {
    for await (const chunk of gunzip as AsyncIterable<Buffer>) {
      delivered += chunk.length;
      yield chunk;
    }
  } catch (err) {
    if (tap.complete) yield* recoverTail(tap.bytes(), delivered);
    throw err;
  } finally {
    source.destroy();
    gunzip.destroy();
  }
}

/** The decompressed bytes of `compressed` after the first `skip`, as far as they go. */
function* recoverTail(compressed: Buffer, skip: number): Generator<Buffer> {
  const out: Buffer[] = [];
  const inflater = new FflateGunzip((data) => out.push(Buffer.from(data.buffer, data.byteOffset, data.byteLength)));
  let seen = 0;
  /** What the inflater produced since the last call, less the part zlib already delivered. */
  function* produced(): Generator<Buffer> {
    for (const c of out.splice(0)) {
      const from = Math.max(0, skip - seen);
      seen += c.length;
      if (from < c.length) yield c.subarray(from);
    }
  }
  const SLICE = 4096; // bounds what one push can produce (a bomb inflates ~1000×)
  try {
    for (let i = 0; i < compressed.length; i += SLICE) {
      inflater.push(compressed.subarray(i, i + SLICE), i + SLICE >= compressed.length);
      yield* produced();
    }
  } catch {
    yield* produced(); // what came out before the failure
  }
}

/** A gzip stream keeps its own name as the source (so replay reads the right file); its type signal drops `.gz`. */
async function* decodeGzip(name: string, fileName: string, compressed: AsyncIterable<Buffer>, ctx: Context): AsyncGenerator<DecodedBatch> {
  const tap = new ByteTap(ctx.limits.maxRecordBytes + 1);
  const gunzip = gunzipKeepingOutput(tap.tap(compressed), tap);
  try {
    const inner = capped(gunzip, ctx.limits.maxMemberBytes, 'decompressed gzip stream', '--max-member-bytes');
    yield* decodeAt(name, fileName.replace(/\.gz$/i, ''), inner, { ...ctx, depth: ctx.depth + 1, container: () => ({ bytes: tap.bytes(), total: tap.total }) });
  } finally {
    await gunzip.return(undefined);
  }
}

/**
 * A zip read from its chunks as they arrived (yauzl reads ranges): the chunks are never joined
 * into a second copy, so a zip near --max-zip-bytes is held once.
 */
class ChunksReader extends yauzl.RandomAccessReader {
  constructor(private readonly chunks: readonly Buffer[]) {
    super();
  }
  override _readStreamForRange(start: number, end: number): Readable {
    const chunks = this.chunks;
    return Readable.from((function* () {
      let at = 0;
      for (const c of chunks) {
        const from = Math.max(start - at, 0);
        const to = Math.min(end - at, c.length);
        if (from < to) yield c.subarray(from, to);
        at += c.length;
        if (at >= end) return;
      }
    })());
  }
}

function openZip(chunks: readonly Buffer[], total: number): Promise<yauzl.ZipFile> {
  return new Promise((resolve, reject) =>
    yauzl.fromRandomAccessReader(new ChunksReader(chunks), total, { lazyEntries: true, decodeStrings: true, validateEntrySizes: true, autoClose: false }, (err, zip) => (err || !zip ? reject(err) : resolve(zip))),
  );
}

/** What a dead letter keeps of chunks: all of them up to the record bound, else their head. */
function keptOf(chunks: readonly Buffer[], total: number, limits: DecodeLimits): KeptBytes {
  return { bytes: total <= limits.maxRecordBytes ? Buffer.concat(chunks) : headOf(chunks, limits.deadLetterHeadBytes), total };
}

/** The first `n` bytes of `chunks`, as one buffer. */
export function headOf(chunks: readonly Buffer[], n: number): Buffer {
  const parts: Buffer[] = [];
  let left = n;
  for (const c of chunks) {
    if (left <= 0) break;
    parts.push(c.subarray(0, left));
    left -= Math.min(c.length, left);
  }
  return Buffer.concat(parts);
}

async function listEntries(zip: yauzl.ZipFile): Promise<yauzl.Entry[]> {
  return new Promise((resolve, reject) => {
    const entries: yauzl.Entry[] = [];
    zip.on('entry', (e: yauzl.Entry) => {
      if (!e.fileName.endsWith('/')) entries.push(e);
      zip.readEntry();
    });
    zip.on('end', () => resolve(entries));
    zip.on('error', reject);
    zip.readEntry();
  });
}

function openEntry(zip: yauzl.ZipFile, entry: yauzl.Entry): Promise<Readable> {
  return new Promise((resolve, reject) => zip.openReadStream(entry, (err, s) => (err || !s ? reject(err) : resolve(s))));
}

/**
 * Why a member's bytes cannot be trusted (a CRC-32 mismatch, a broken deflate stream), read once
 * before it is decoded: a member that fails yields no record, only its dead letter. A member over
 * --max-member-bytes is left to the decoding pass, which stores what precedes the bound.
 */
async function memberFault(zip: yauzl.ZipFile, entry: yauzl.Entry, ctx: Context): Promise<string | undefined> {
  let crc = 0;
  try {
    for await (const c of capped(await openEntry(zip, entry), ctx.limits.maxMemberBytes, 'zip member', '--max-member-bytes')) {
      if (ctx.signal?.aborted) return undefined; // the decoding pass reports the stop
      crc = crc32.unsigned(c, crc);
    }
  } catch (err) {
    return err instanceof LimitExceeded ? undefined : `zip member unreadable: ${(err as Error).message}`;
  }
  if (crc !== entry.crc32 >>> 0) return `zip member: CRC-32 mismatch (${crc.toString(16)}, the zip says ${(entry.crc32 >>> 0).toString(16)}): none of its records is kept`;
  return undefined;
}

/** Each zip member is its own input, named `zip!member`; members in name order. */
async function* decodeZip(name: string, chunks: AsyncIterable<Buffer>, ctx: Context): AsyncGenerator<DecodedBatch> {
  const parts: Buffer[] = [];
  let total = 0;
  try {
    for await (const c of capped(chunks, ctx.limits.maxZipBytes, 'zip', '--max-zip-bytes')) {
      parts.push(c);
      total += c.length;
    }
  } catch (err) {
    yield fail(name, baseName(name), `zip unreadable: ${(err as Error).message}`, keptOf(parts, total, ctx.limits), ctx.limits);
    return;
  }
  const kept = () => keptOf(parts, total, ctx.limits);
  let zip: yauzl.ZipFile;
  let entries: yauzl.Entry[];
  try {
    zip = await openZip(parts, total);
    entries = await listEntries(zip);
  } catch (err) {
    yield fail(name, baseName(name), `not a valid zip: ${(err as Error).message}`, kept(), ctx.limits);
    return;
  }
  entries.sort((a, b) => (a.fileName < b.fileName ? -1 : a.fileName > b.fileName ? 1 : 0));
  const inner: Context = { ...ctx, depth: ctx.depth + 1, container: kept };
  try {
    for (const entry of entries) {
      if (ctx.signal?.aborted) {
        yield { source: name, fileName: baseName(name), items: [], last: false, interrupted: true };
        return;
      }
      const member = `${name}!${entry.fileName}`;
      let stream: Readable;
      try {
        const fault = await memberFault(zip, entry, ctx);
        if (fault !== undefined) {
          yield fail(member, baseName(member), fault, kept(), ctx.limits);
          continue;
        }
        stream = await openEntry(zip, entry);
      } catch (err) {
        yield fail(member, baseName(member), `zip member unreadable: ${(err as Error).message}`, kept(), ctx.limits);
        continue;
      }
      yield* decodeAt(member, baseName(member), capped(stream, ctx.limits.maxMemberBytes, 'zip member', '--max-member-bytes'), inner);
    }
  } finally {
    zip.close();
  }
}

/** Classifies the first non-empty line of a text input. */
export function detectTextFormat(firstLine: string): TextFormat {
  const t = firstLine.trim();
  if (!t.startsWith('{')) return 'key_value';
  try {
    const v = JSON.parse(t) as unknown;
    if (v && typeof v === 'object' && Array.isArray((v as { data?: unknown }).data)) return 'json-document';
    return 'ndjson';
  } catch {
    // Not a whole value on one line: the start of a json document, or a bad NDJSON line.
    // decodeText decides at the end of the input.
    return 'json-document';
  }
}

/**
 * How one line of a text input is parsed. The input's format (from its first line) is the default;
 * a line that plainly shows the other format is parsed as that format, so one odd line (a broken
 * JSON first line, a JSON line in a key_value file) never decides how every other line is read.
 * A `{` starts every JSON object and never a key_value key; a key followed by `=` can stand at the
 * start of no JSON line (outside a string `=` is not JSON, and a string never spans lines).
 */
const LINE_LOOKS: readonly { readonly format: LineDecoding['format']; readonly start: RegExp }[] = [
  { format: 'ndjson', start: /^\s*\{/ },
  { format: 'key_value', start: /^[ \t]*[A-Za-z0-9_.-]+=/ },
];

/** The format a line shows by its start, or undefined when it shows none. */
function lineLook(text: string): LineDecoding['format'] | undefined {
  return LINE_LOOKS.find((l) => l.start.test(text))?.format;
}

/**
 * `shared`: the pending outcome of the input's lines of one format, one object for all of them, so
 * a line costs no object of its own for it (and the object crosses to a worker once per batch).
 */
function decodeLine(shared: PendingLine, position: number, line: Line, limits: DecodeLimits): DecodedItem {
  const raw = line.bytes ?? line.text;
  if (line.unfinished) {
    return { ...failure(position, 'unfinished last line where the input broke (not decoded: it may be cut short)', raw, limits), cutShort: true };
  }
  if (line.oversizedLength !== undefined) {
    const reason = `record of ${line.oversizedLength} bytes is over the limit of ${limits.maxRecordBytes} (--max-record-bytes); its first ${raw.length} bytes are kept`;
    return { ...failure(position, reason, raw, limits), truncatedFrom: line.oversizedLength };
  }
  return { position, result: line.bytes ? { pending: shared.pending, text: line.text } : shared, raw };
}

/** The reason an item failed where its input was read (a whole input, a bound); undefined for a record or a line still to be parsed. */
export function readFailure(item: DecodedItem): string | undefined {
  return 'ok' in item.result && !item.result.ok ? item.result.reason : undefined;
}

interface HeldLine {
  readonly position: number;
  readonly line: Line;
}

async function* decodeText(name: string, fileName: string, chunks: AsyncIterable<Buffer>, ctx: Context): AsyncGenerator<DecodedBatch> {
  const { limits } = ctx;
  let format: TextFormat | undefined;
  let lineNo = 0;
  // Lines of what may be one json document, held until the end of the input decides.
  let held: HeldLine[] | undefined;
  let heldBytes = 0;
  let pending: DecodedItem[] = [];
  let broken: Error | undefined;
  // One per format, shared by every line of the input (a worker receives it once per batch).
  const decodings: Record<LineDecoding['format'], PendingLine> = {
    ndjson: { pending: { format: 'ndjson', maxJsonDepth: limits.maxJsonDepth, maxRecordKeys: limits.maxRecordKeys } },
    key_value: { pending: { format: 'key_value', maxJsonDepth: limits.maxJsonDepth, maxRecordKeys: limits.maxRecordKeys } },
  };
  /** The decoding of one line: its own look, else the input's format. */
  const decodingOf = (line: Line, fallback: LineDecoding['format']) => decodings[(line.oversizedLength === undefined && lineLook(line.text)) || fallback];
  /** The held lines are not one json document: each is a line of `fallback` or of the format it shows. */
  const releaseHeldAsLines = (fallback: LineDecoding['format'] = 'ndjson') => {
    for (const h of held ?? []) pending.push(decodeLine(decodingOf(h.line, fallback), h.position, h.line, limits));
    held = undefined;
    format = fallback;
  };
  try {
    for await (const lines of lineBatches(chunks, limits, ctx.signal)) {
      for (const line of lines) {
        lineNo++;
        if (held) {
          held.push({ position: lineNo, line });
          heldBytes += line.text.length + 1;
          // A key_value line cannot be part of a json document: the first line was a bad line, not
          // a document's start, and lines are read one by one from here (bounded memory).
          if (line.oversizedLength === undefined && lineLook(line.text) === 'key_value') releaseHeldAsLines('key_value');
          else if (heldBytes > limits.maxDocumentBytes) releaseHeldAsLines();
          continue;
        }
        if (line.oversizedLength === undefined && line.text.trim().length === 0) continue;
        if (format === undefined) {
          format = line.oversizedLength === undefined ? detectTextFormat(line.text) : 'ndjson';
          if (format === 'json-document') {
            held = [{ position: lineNo, line }];
            heldBytes = line.text.length + 1;
            continue;
          }
        }
        pending.push(decodeLine(decodingOf(line, format as LineDecoding['format']), lineNo, line, limits));
      }
      if (pending.length >= BATCH) {
        yield { source: name, fileName, items: pending, last: false };
        pending = [];
      }
    }
  } catch (err) {
    broken = err as Error;
  }
  if (ctx.signal?.aborted) {
    // Stopped: what is complete is delivered; the held document and the unfinished line are not.
    yield { source: name, fileName, items: pending, last: false, interrupted: true };
    return;
  }
  if (held && !broken) {
    const doc = decodeJsonDocument(name, fileName, held.map((h) => h.line.text).join('\n'), limits);
    if (!doc.items[0]?.wholeInput) {
      yield doc;
      return;
    }
    // Not one document. If some lines are records, it is NDJSON with bad lines, each with its
    // own outcome; if none is, it is a broken document, kept whole.
    releaseHeldAsLines();
    if (!pending.some((i) => decodeItem(i).ok)) {
      yield doc;
      return;
    }
  } else if (held) releaseHeldAsLines();
  if (broken) {
    const reason = `input broken after line ${lineNo}: ${broken.message}`;
    pending.push(failure(lineNo + 1, reason, ctx.container?.() ?? NO_BYTES, limits, true));
  }
  yield { source: name, fileName, items: pending, last: true };
}

/**
 * An API 1.0 json file: `{"type":"MTA","data":[{…},…]}`. Truncated files (and a repeated key
 * anywhere) fail whole; a record nested too deep fails alone, with its text.
 */
export function decodeJsonDocument(name: string, fileName: string, text: string, limits: DecodeLimits = DEFAULT_LIMITS): DecodedBatch {
  let parsed = parseJson(text, limits.maxJsonDepth + 2);
  let tooDeep = new Map<number, string>(); // index in `data` → the text of a record cut out for its nesting
  if (!parsed.ok && parsed.tooDeep === true) {
    // Past the bound: the records nested too deep are cut out unparsed (their text kept) and the rest
    // is read again within the bound; nesting anywhere else still fails the document whole.
    const pruned = cutDeepRecords(text, ['data'], limits.maxJsonDepth);
    tooDeep = pruned.cut;
    if (tooDeep.size > 0) parsed = parseJson(pruned.text, limits.maxJsonDepth + 2);
  }
  const whole = (reason: string): DecodedBatch => ({ source: name, fileName, items: [failure(0, reason, text, limits, true)], last: true });
  if (!parsed.ok) return whole(`json document: ${parsed.reason}`);
  const data = (parsed.value as { data?: unknown } | null)?.data;
  if (!Array.isArray(data)) return whole('json document without a "data" array');
  const items: DecodedItem[] = data.map((element, i) => {
    const cut = tooDeep.get(i);
    if (cut !== undefined) return failure(i + 1, nestedTooDeep(limits.maxJsonDepth), cut, limits);
    const raw = JSON.stringify(element); // within the bound: the ones nested deeper were cut out
    const keys = countKeys(element);
    if (keys > limits.maxRecordKeys) return failure(i + 1, tooManyKeys(keys, limits.maxRecordKeys), raw, limits);
    return { position: i + 1, result: decodeJsonObject(element, raw), raw };
  });
  return { source: name, fileName, items, last: true };
}
