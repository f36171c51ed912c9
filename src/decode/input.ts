/**
 * Decodes one input (a file, a zip member, stdin, an API response body) into record batches,
 * detecting its format from its bytes: gzip, zip, API 1.0 json document, NDJSON (v1 or v2),
 * or API 1.0 key_value lines.
 */
import { createGunzip } from 'node:zlib';
import { Readable } from 'node:stream';
import yauzl from 'yauzl';
import { decodeJsonLine, decodeJsonObject, decodeKeyValueLine } from './decode-record.js';
import { lineBatches, prepend } from './lines.js';
import type { DecodeResult } from './record.js';

export interface DecodedItem {
  /** 1-based line number, or array index for a v1 json document; 0 for a whole-input failure. */
  readonly position: number;
  readonly result: DecodeResult;
  /** Raw text of the item; for a whole-input failure, the input's bytes. */
  readonly raw: string | Buffer;
  /** The input as a whole failed (bad zip, truncated json or gzip), not one record of it. */
  readonly wholeInput?: boolean;
}

export interface DecodedBatch {
  /** The input's name: a file path, `zip!member`, `-`. */
  readonly source: string;
  /** The base name that may carry a type prefix (file or zip-member name). */
  readonly fileName: string;
  readonly items: DecodedItem[];
  /** True for the last batch of this input. */
  readonly last: boolean;
}

export type InputFormat = 'gzip' | 'zip' | 'json-document' | 'ndjson' | 'key_value' | 'empty';

const BATCH = 1000;

function baseName(name: string): string {
  const cut = Math.max(name.lastIndexOf('/'), name.lastIndexOf('\\'), name.lastIndexOf('!'));
  return name.slice(cut + 1);
}

function isGzip(b: Buffer): boolean {
  return b.length >= 2 && b[0] === 0x1f && b[1] === 0x8b;
}

function isZip(b: Buffer): boolean {
  return b.length >= 4 && b[0] === 0x50 && b[1] === 0x4b && (b[2] === 0x03 || b[2] === 0x05) ;
}

function fail(source: string, fileName: string, reason: string, raw: string | Buffer): DecodedBatch {
  return { source, fileName, items: [{ position: 0, result: { ok: false, reason }, raw, wholeInput: true }], last: true };
}

async function readAll(chunks: AsyncIterable<Buffer>): Promise<Buffer> {
  const parts: Buffer[] = [];
  for await (const c of chunks) parts.push(c);
  return Buffer.concat(parts);
}

async function* toBuffers(stream: AsyncIterable<Buffer | string>): AsyncGenerator<Buffer> {
  for await (const c of stream) yield typeof c === 'string' ? Buffer.from(c) : c;
}

/**
 * Decodes a stream. `name` is the input's name; its base name is a type signal.
 * Never throws for bad content: problems become failed items (dead letters).
 */
export async function* decodeInput(name: string, stream: AsyncIterable<Buffer | string>): AsyncGenerator<DecodedBatch> {
  const fileName = baseName(name);
  const it = toBuffers(stream)[Symbol.asyncIterator]();
  let first: IteratorResult<Buffer>;
  try {
    do first = await it.next();
    while (!first.done && first.value.length === 0);
  } catch (err) {
    yield fail(name, fileName, `input unreadable: ${(err as Error).message}`, Buffer.alloc(0));
    return;
  }
  if (first.done) {
    yield { source: name, fileName, items: [], last: true };
    return;
  }
  const head = first.value;
  const all = prepend(head, it);
  if (isGzip(head)) {
    yield* decodeGzip(name, all);
  } else if (isZip(head)) {
    yield* decodeZip(name, await readAll(all));
  } else {
    yield* decodeText(name, fileName, all);
  }
}

/** Decodes bytes already in memory (an API response, a stored dead letter). */
export function decodeBytes(name: string, bytes: Buffer): AsyncGenerator<DecodedBatch> {
  return decodeInput(name, Readable.from([bytes]));
}

async function* decodeGzip(name: string, compressed: AsyncIterable<Buffer>): AsyncGenerator<DecodedBatch> {
  const inner = name.replace(/\.gz$/i, '');
  const gunzip = createGunzip();
  const source = Readable.from(compressed);
  source.on('error', (err) => gunzip.destroy(err));
  source.pipe(gunzip);
  yield* decodeInput(inner, gunzip);
}

function openZip(bytes: Buffer): Promise<yauzl.ZipFile> {
  return new Promise((resolve, reject) =>
    yauzl.fromBuffer(bytes, { lazyEntries: true, decodeStrings: true }, (err, zip) => (err || !zip ? reject(err) : resolve(zip))),
  );
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

/** Each zip member is its own input, named `zip!member`; members in name order. */
async function* decodeZip(name: string, bytes: Buffer): AsyncGenerator<DecodedBatch> {
  let zip: yauzl.ZipFile;
  let entries: yauzl.Entry[];
  try {
    zip = await openZip(bytes);
    entries = await listEntries(zip);
  } catch (err) {
    yield fail(name, baseName(name), `not a valid zip: ${(err as Error).message}`, bytes);
    return;
  }
  entries.sort((a, b) => (a.fileName < b.fileName ? -1 : a.fileName > b.fileName ? 1 : 0));
  for (const entry of entries) {
    const member = `${name}!${entry.fileName}`;
    try {
      yield* decodeInput(member, await openEntry(zip, entry));
    } catch (err) {
      yield fail(member, baseName(member), `zip member: ${(err as Error).message}`, Buffer.alloc(0));
    }
  }
  zip.close();
}

/** Classifies the first non-empty line of a text input. */
export function detectTextFormat(firstLine: string): Exclude<InputFormat, 'gzip' | 'zip' | 'empty'> {
  const t = firstLine.trim();
  if (!t.startsWith('{')) return 'key_value';
  if (!t.endsWith('}')) return 'json-document';
  try {
    const v = JSON.parse(t) as unknown;
    if (v && typeof v === 'object' && Array.isArray((v as { data?: unknown }).data)) return 'json-document';
  } catch {
    // A malformed first line of an NDJSON file is still NDJSON: it becomes a dead letter.
  }
  return 'ndjson';
}

async function* decodeText(name: string, fileName: string, chunks: AsyncIterable<Buffer>): AsyncGenerator<DecodedBatch> {
  let format: ReturnType<typeof detectTextFormat> | undefined;
  let lineNo = 0;
  let documentText: string[] = [];
  let pending: DecodedItem[] = [];
  let readError: Error | undefined;
  try {
  for await (const lines of lineBatches(chunks)) {
    for (const line of lines) {
      lineNo++;
      if (format === 'json-document') {
        documentText.push(line);
        continue;
      }
      if (line.trim().length === 0) continue;
      format ??= detectTextFormat(line);
      if (format === 'json-document') {
        documentText.push(line);
        continue;
      }
      const result = format === 'ndjson' ? decodeJsonLine(line) : decodeKeyValueLine(line);
      pending.push({ position: lineNo, result, raw: line });
      if (pending.length >= BATCH) {
        yield { source: name, fileName, items: pending, last: false };
        pending = [];
      }
    }
  }
  } catch (err) {
    // A stream that breaks (truncated gzip, reset) keeps what was read; the break is a dead letter.
    readError = err as Error;
  }
  if (readError) {
    const reason = `input broken after line ${lineNo}: ${readError.message}`;
    pending.push({ position: lineNo + 1, result: { ok: false, reason }, raw: documentText.join('\n'), wholeInput: true });
    yield { source: name, fileName, items: pending, last: true };
    return;
  }
  if (format === 'json-document') {
    const text = documentText.join('\n');
    documentText = [];
    yield decodeJsonDocument(name, fileName, text);
    return;
  }
  yield { source: name, fileName, items: pending, last: true };
}

/** An API 1.0 json file: `{"type":"MTA","data":[{…},…]}`. Truncated files fail whole. */
export function decodeJsonDocument(name: string, fileName: string, text: string): DecodedBatch {
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch (err) {
    return fail(name, fileName, `json document: ${(err as Error).message}`, text);
  }
  const data = (doc as { data?: unknown })?.data;
  if (!Array.isArray(data)) return fail(name, fileName, 'json document without a "data" array', text);
  const items: DecodedItem[] = data.map((element, i) => {
    const raw = JSON.stringify(element);
    return { position: i + 1, result: decodeJsonObject(element, raw), raw };
  });
  return { source: name, fileName, items, last: true };
}
