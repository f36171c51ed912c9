/**
 * A processed event that holds its document as JSON text, made once where the record was
 * processed: most sinks write that text as it is (NDJSON, search, Kafka, HEC). The text of a
 * unit's documents is written, as it is made, into one buffer of UTF-8 bytes (`NdjsonBytes`: each
 * document followed by a newline, what the NDJSON sink writes), and each event only points into
 * it. So a unit in flight holds no string per document for every young collection to copy, a
 * worker hands its unit's documents over as one transferred buffer, and the NDJSON sink writes
 * that buffer as it is. `docJson` is decoded from the bytes, and the document object parsed from
 * it, only when a sink asks. (An event for a sink that reads objects, such as the embedded store,
 * is a plain object with both: pipeline/transform.ts. A spread copy of this one has neither `doc`
 * nor `docJson`: name them, `{...e, doc: e.doc}`.)
 */
import type { ProcessedEvent } from '../core/unit.js';
import type { EcsDocument } from '../normalize/ecs.js';

/** The fields an event carries besides its document. */
export type EventFields = Omit<ProcessedEvent, 'doc' | 'docJson'>;

const NEWLINE = 0x0a;

/**
 * The documents of one unit as NDJSON bytes, appended as they are made. The buffer has a backing
 * store of its own (never Node's shared pool), so a worker can transfer it.
 */
export class NdjsonBytes {
  private buffer: Buffer;
  private length = 0;

  constructor(capacity: number) {
    this.buffer = Buffer.allocUnsafeSlow(Math.max(1024, capacity));
  }

  /** Bytes received from elsewhere (a worker): whole documents, each followed by a newline. */
  static of(bytes: Uint8Array): NdjsonBytes {
    const docs = new NdjsonBytes(0);
    docs.buffer = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    docs.length = bytes.byteLength;
    return docs;
  }

  /** Appends `json` and a newline; returns where the document ends (where its newline is). */
  add(json: string): number {
    // UTF-8 takes at most 3 bytes per UTF-16 unit; growing by doubling keeps the copies linear.
    const need = this.length + json.length * 3 + 1;
    if (need > this.buffer.length) {
      const grown = Buffer.allocUnsafeSlow(Math.max(need, this.buffer.length * 2));
      this.buffer.copy(grown, 0, 0, this.length);
      this.buffer = grown;
    }
    this.length += this.buffer.write(json, this.length);
    this.buffer[this.length] = NEWLINE;
    return this.length++;
  }

  /** What was written so far. */
  bytes(): Buffer {
    return this.buffer.subarray(0, this.length);
  }

  /** The text of the document between `start` and `end` (its newline). */
  text(start: number, end: number): string {
    return this.buffer.toString('utf8', start, end);
  }
}

export class TextDocumentEvent implements ProcessedEvent {
  // Own fields in the order the events have always listed them (what a digest of an event's
  // fields, as the golden test takes, sees); the document is private (not an own field).
  readonly id: string;
  readonly hash: string;
  readonly timeMs: number;
  readonly classification: EventFields['classification'];
  readonly raw: string;
  readonly format: EventFields['format'];
  readonly position: number;
  readonly cross: EventFields['cross'];
  readonly #docs: NdjsonBytes;
  readonly #start: number;
  readonly #end: number;
  #parsed: EcsDocument | undefined;

  constructor(
    id: string, hash: string, timeMs: number, classification: EventFields['classification'], raw: string, format: EventFields['format'], position: number, cross: EventFields['cross'],
    docs: NdjsonBytes, start: number, end: number,
  ) {
    this.id = id;
    this.hash = hash;
    this.timeMs = timeMs;
    this.classification = classification;
    this.raw = raw;
    this.format = format;
    this.position = position;
    this.cross = cross;
    this.#docs = docs;
    this.#start = start;
    this.#end = end;
  }

  /** The document's JSON text, decoded from the unit's bytes at each call (a sink reads it once). */
  get docJson(): string {
    return this.#docs.text(this.#start, this.#end);
  }

  get doc(): EcsDocument {
    return (this.#parsed ??= JSON.parse(this.docJson) as EcsDocument);
  }

  /**
   * The NDJSON of `events` (each document and a newline) as stretches of the bytes they were
   * written to, without a copy when they follow each other there (a unit as it was processed);
   * undefined when an event holds its document otherwise.
   */
  static ndjson(events: readonly ProcessedEvent[]): Buffer[] | undefined {
    const stretches: Buffer[] = [];
    let docs: NdjsonBytes | undefined;
    let from = 0;
    let next = 0;
    for (const e of events) {
      if (!(e instanceof TextDocumentEvent)) return undefined;
      if (e.#docs !== docs || e.#start !== next) {
        if (docs) stretches.push(docs.bytes().subarray(from, next));
        docs = e.#docs;
        from = e.#start;
      }
      next = e.#end + 1;
    }
    if (docs) stretches.push(docs.bytes().subarray(from, next));
    return stretches;
  }
}
