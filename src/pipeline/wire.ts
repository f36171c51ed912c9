/**
 * What crosses between the driver's thread and a transform worker (transform-pool.ts). Made cheap
 * to clone, because the driver's thread sends and receives every unit a worker processes: the
 * documents cross as the NDJSON bytes they were written to (transferred, not copied), and the
 * events' own fields as a few columns (one string of hashes, one array of numbers, the distinct
 * classifications once) rather than an object per event, each of whose keys a structured clone
 * writes and reads again.
 */
import type { Classification } from '../classify/classify.js';
import type { DeadLetter, ProcessedEvent, Unit } from '../core/unit.js';
import type { DecodedBatch, DecodedItem, PendingLine } from '../decode/item.js';
import type { RecordFormat } from '../decode/record.js';
import { ID_HEX_LENGTH } from '../fingerprint/fingerprint.js';
import { NdjsonBytes, TextDocumentEvent } from './processed-event.js';

/** Per event, in `WireUnit.numbers`: its time, its position, its batch item (−1: its raw text is in `raws`), where its document ends in `docs`. */
const TIME = 0;
const POSITION = 1;
const ITEM = 2;
const END = 3;
const NUMBERS = 4;

/** The hex length of an event's hash (SHA-256). */
const HASH_HEX_LENGTH = 64;

/**
 * A processed batch as it crosses back. No event carries its id (the head of its hash), nor its
 * raw text when that is the text of the batch item it came from, which the driver's thread holds.
 */
export interface WireUnit extends Omit<Unit, 'events'> {
  readonly count: number;
  /** The events' hashes, one after another. */
  readonly hashes: string;
  readonly numbers: Float64Array;
  /** Each distinct classification and format once, and per event the index of its own. */
  readonly classifications: Classification[];
  readonly classificationOf: Uint32Array;
  readonly formats: RecordFormat[];
  readonly formatOf: Uint8Array;
  /** Per event, its cross-version identity; absent when no event has one. */
  readonly cross?: ProcessedEvent['cross'][];
  /** The raw texts that are not their batch item's, by event index. */
  readonly raws: [number, string][];
  /** The documents, each followed by a newline (the worker's NdjsonBytes; transferred). */
  readonly docs: Uint8Array;
}

/**
 * A batch as it crosses to a worker. Its lines still to be parsed (nearly all of its items) cross
 * as one text and their positions, not as an object and a string each; a worker's items are then
 * slices of that one text.
 */
export interface WireBatch extends Omit<DecodedBatch, 'items'> {
  readonly count: number;
  /** The texts of the lines still to be parsed, in order, joined by newlines (no line holds one). */
  readonly lines: string;
  readonly positions: Float64Array;
  /** Each distinct way of parsing them once, and per line the index of its own. */
  readonly decodings: PendingLine[];
  readonly decodingOf: Uint8Array;
  /** The other items as they are, with their index in the batch. */
  readonly others: [number, DecodedItem][];
}

/**
 * The most characters of lines a batch joins into its one text. A V8 string ends at about 2^29
 * characters, and a batch of 1000 lines of up to --max-record-bytes each can hold far more: past
 * this, its lines cross as other items, one string each (as one thread would take them).
 */
const MAX_LINES_TEXT = 64 * 1024 * 1024;

/** A line still to be parsed whose text is its raw text and has nothing else to say: it crosses as a line of `WireBatch.lines`. */
function isPlainLine(item: DecodedItem): item is DecodedItem & { readonly raw: string; readonly result: PendingLine } {
  const r = item.result;
  return 'pending' in r && r.text === undefined && typeof item.raw === 'string' && item.wholeInput === undefined && item.truncatedFrom === undefined && item.cutShort === undefined && !item.raw.includes('\n');
}

export function batchToWire(batch: DecodedBatch): WireBatch {
  const { items, ...rest } = batch;
  const texts: string[] = [];
  const positions = new Float64Array(items.length);
  const decodings: PendingLine[] = [];
  const decodingIndex = new Map<PendingLine, number>();
  const decodingOf = new Uint8Array(items.length);
  const others: [number, DecodedItem][] = [];
  let chars = 0;
  items.forEach((item, i) => {
    if (!isPlainLine(item) || decodings.length > 255 || chars + item.raw.length + 1 > MAX_LINES_TEXT) return void others.push([i, item]);
    chars += item.raw.length + 1;
    positions[texts.length] = item.position;
    decodingOf[texts.length] = indexIn(decodings, decodingIndex, item.result);
    texts.push(item.raw);
  });
  return { ...rest, count: items.length, lines: texts.join('\n'), positions: positions.subarray(0, texts.length), decodings, decodingOf: decodingOf.subarray(0, texts.length), others };
}

/** The batch on the worker's side. */
export function batchFromWire(wire: WireBatch): DecodedBatch {
  const { count, lines, positions, decodings, decodingOf, others, ...rest } = wire;
  const texts = positions.length === 0 ? [] : lines.split('\n');
  const items: DecodedItem[] = new Array(count);
  const other = new Map(others);
  for (let i = 0, line = 0; i < count; i++) {
    items[i] = other.get(i) ?? { position: positions[line]!, result: decodings[decodingOf[line]!]!, raw: texts[line++]! };
  }
  return { ...rest, items: withBuffers(items) };
}

/** The text a line item's record is parsed from (decode/item.ts decodeItem): the record's `raw`. */
function recordText(item: DecodedItem): string | Buffer {
  const r = item.result;
  return 'pending' in r && r.text !== undefined ? r.text : item.raw;
}

/** The index of `value` in `list`, added if new (values compared by identity). */
function indexIn<T>(list: T[], index: Map<T, number>, value: T): number {
  let at = index.get(value);
  if (at === undefined) index.set(value, (at = list.push(value) - 1));
  return at;
}

/** The unit as it crosses to the driver (made on the worker from a unit processed without document objects). */
export function toWire(unit: Unit, items: readonly DecodedItem[]): WireUnit {
  const stretches = TextDocumentEvent.ndjson(unit.events);
  if (!stretches || stretches.length > 1) throw new Error('a unit to send back must hold its documents as one stretch of NDJSON bytes');
  const docs = stretches[0] ?? new Uint8Array(0);
  const count = unit.events.length;
  const numbers = new Float64Array(count * NUMBERS);
  const classifications: Classification[] = [];
  const classificationIndex = new Map<Classification, number>();
  const classificationOf = new Uint32Array(count);
  const formats: RecordFormat[] = [];
  const formatIndex = new Map<RecordFormat, number>();
  const formatOf = new Uint8Array(count);
  const raws: [number, string][] = [];
  let hashes = '';
  let cross = false;
  let at = 0;
  let end = -1;
  unit.events.forEach((e, i) => {
    if (e.hash.length !== HASH_HEX_LENGTH) throw new Error(`an event's hash has ${e.hash.length} hex digits, not ${HASH_HEX_LENGTH}`);
    hashes += e.hash;
    end = docs.indexOf(0x0a, end + 1);
    while (at < items.length && items[at]!.position < e.position) at++;
    const item = at < items.length && items[at]!.position === e.position && recordText(items[at]!) === e.raw ? at : -1;
    if (item === -1) raws.push([i, e.raw]);
    numbers[i * NUMBERS + TIME] = e.timeMs;
    numbers[i * NUMBERS + POSITION] = e.position;
    numbers[i * NUMBERS + ITEM] = item;
    numbers[i * NUMBERS + END] = end;
    classificationOf[i] = indexIn(classifications, classificationIndex, e.classification);
    formatOf[i] = indexIn(formats, formatIndex, e.format);
    cross ||= e.cross !== undefined;
  });
  return {
    source: unit.source, deadLetters: unit.deadLetters, position: unit.position, last: unit.last,
    count, hashes, numbers, classifications, classificationOf, formats, formatOf, raws, docs,
    ...(cross ? { cross: unit.events.map((e) => e.cross) } : {}),
  };
}

/** What a reply transfers rather than copies: the documents' bytes. */
export function transferred(parts: readonly WireUnit[]): ArrayBuffer[] {
  return [...new Set(parts.map((p) => p.docs.buffer as ArrayBuffer))];
}

/** The unit back on the driver's side, with the raw texts of `items` (the batch it was made from). */
export function fromWire(unit: WireUnit, items: readonly DecodedItem[]): Unit {
  const docs = NdjsonBytes.of(unit.docs);
  const raws = new Map(unit.raws);
  const n = unit.numbers;
  const events: ProcessedEvent[] = new Array(unit.count);
  let start = 0;
  for (let i = 0; i < unit.count; i++) {
    const hash = unit.hashes.slice(i * HASH_HEX_LENGTH, (i + 1) * HASH_HEX_LENGTH);
    const at = i * NUMBERS;
    const raw = raws.get(i) ?? (recordText(items[n[at + ITEM]!]!) as string);
    const end = n[at + END]!;
    events[i] = new TextDocumentEvent(hash.slice(0, ID_HEX_LENGTH), hash, n[at + TIME]!, unit.classifications[unit.classificationOf[i]!]!, raw, unit.formats[unit.formatOf[i]!]!, n[at + POSITION]!, unit.cross?.[i], docs, start, end);
    start = end + 1;
  }
  return { source: unit.source, position: unit.position, last: unit.last, events, deadLetters: withBuffers(unit.deadLetters) };
}

/** Bytes cross a thread as a Uint8Array: make them a Buffer again (sinks call Buffer methods on them). */
export function withBuffers<T extends DecodedItem | DeadLetter>(xs: readonly T[]): T[] {
  return xs.map((x) => {
    const raw: string | Uint8Array = x.raw;
    return typeof raw === 'string' || Buffer.isBuffer(raw) ? x : { ...x, raw: Buffer.from(raw.buffer, raw.byteOffset, raw.byteLength) };
  });
}
