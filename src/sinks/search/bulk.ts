/**
 * The `_bulk` API's wire format and the meaning of each item of its answer. Pure: no I/O.
 * Every document is sent with `create` and `_id` = `event.id`: the engine never overwrites,
 * so a second copy answers 409 and the sink decides whether it is a duplicate or a collision.
 */
import { batches } from '../batches.js';

/**
 * A document encoded for `_bulk`: where it goes, and where its action line and document line lie
 * in its unit's bytes (offsets, not a view of its own: a unit of documents costs no typed array
 * per document; a first attempt's body is one view of the stretch).
 */
export class BulkDoc {
  constructor(
    readonly index: string,
    readonly id: string,
    /** `event.hash`: compared with the stored copy's on a 409. */
    readonly hash: string,
    /** Index of the event in its unit. */
    readonly slot: number,
    private readonly unitBytes: Buffer,
    private readonly start: number,
    private readonly end: number,
  ) {}

  /** Its action line and document line as sent, encoded once: a view into its unit's bytes. */
  get bytes(): Buffer {
    return this.unitBytes.subarray(this.start, this.end);
  }

  get length(): number {
    return this.end - this.start;
  }

  /** Whether its bytes come right after `before`'s in the same unit's bytes. */
  follows(before: BulkDoc): boolean {
    return before.unitBytes === this.unitBytes && before.end === this.start;
  }

  /** The bytes from this document's start to `last`'s end (documents that follow one another). */
  through(last: BulkDoc): Buffer {
    return this.unitBytes.subarray(this.start, last.end);
  }
}

/** A document to encode: where it goes and its JSON text (made once, by the pipeline or the sink). */
export interface DocToEncode {
  readonly index: string;
  readonly id: string;
  readonly hash: string;
  readonly slot: number;
  readonly json: string;
}

/**
 * Encodes documents, each with its `create` action line, into one buffer, in order. A bulk body of
 * consecutive documents is then a view of it (bulkBody): no body is built as a string, encoded
 * again, or copied, and a retry sends the very bytes of the first attempt.
 */
export function encodeDocs(docs: readonly DocToEncode[]): BulkDoc[] {
  const actions = new Map<string, string>();
  const action = (index: string) => {
    let a = actions.get(index);
    if (a === undefined) actions.set(index, (a = `{"create":{"_index":${JSON.stringify(index)},"_id":`));
    return a;
  };
  let size = 0;
  for (const d of docs) size += action(d.index).length + d.id.length + d.json.length + 8;
  const out = new ByteWriter(size); // exact for ASCII; grows for other characters
  const ends: number[] = [];
  for (const d of docs) {
    out.text(action(d.index));
    out.text(JSON.stringify(d.id));
    out.text('}}\n');
    out.text(d.json);
    out.text('\n');
    ends.push(out.length);
  }
  const bytes = out.bytes();
  return docs.map((d, i) => new BulkDoc(d.index, d.id, d.hash, d.slot, bytes, i === 0 ? 0 : ends[i - 1]!, ends[i]!));
}

/** Text appended as UTF-8 into one buffer that grows (doubling) when a piece does not fit. */
class ByteWriter {
  private buf: Buffer;
  length = 0;

  constructor(size: number) {
    this.buf = Buffer.allocUnsafe(Math.max(64, size));
  }

  text(s: string): void {
    for (;;) {
      const room = this.buf.length - this.length;
      const written = room === 0 ? 0 : this.buf.write(s, this.length);
      // UTF-8 stops early only before a character that does not fit (at most 4 bytes): with more room left, all of it was written.
      if (room - written >= 4 || written === Buffer.byteLength(s)) {
        this.length += written;
        return;
      }
      const bigger = Buffer.allocUnsafe(Math.max(this.buf.length * 2, this.length + Buffer.byteLength(s)));
      this.buf.copy(bigger, 0, 0, this.length);
      this.buf = bigger;
    }
  }

  bytes(): Buffer {
    return this.buf.subarray(0, this.length);
  }
}

/**
 * The `_bulk` body of documents, in their order: a view of their unit's bytes when each lies
 * right after the one before there (a first attempt), else a copy of each (a retry of some).
 */
export function bulkBody(docs: readonly BulkDoc[]): Buffer {
  let length = 0;
  let adjacent = true;
  for (let i = 0; i < docs.length; i++) {
    if (i > 0 && !docs[i]!.follows(docs[i - 1]!)) adjacent = false;
    length += docs[i]!.length;
  }
  if (docs.length > 0 && adjacent) return docs[0]!.through(docs.at(-1)!);
  return Buffer.concat(docs.map((d) => d.bytes), length);
}

/**
 * Where bulk bodies are posted: the answer carries only what the sink reads (the top-level
 * `errors`, each item's `status` and `error`; a whole request's refusal, its `error` and
 * `status`), not each item's index, id, version, shards and sequence numbers: about 25 bytes per
 * created item instead of about 200, for the engine to write and the sink to read.
 */
export const BULK_PATH = '/_bulk?filter_path=errors,items.*.status,items.*.error,error,status';

/** Bytes a document adds to a bulk body (action line included). */
export function bulkBytes(doc: BulkDoc): number {
  return doc.length;
}

export type ItemOutcome =
  | { readonly kind: 'created' }
  | { readonly kind: 'conflict' }
  | { readonly kind: 'retry'; readonly reason: string }
  | { readonly kind: 'rejected'; readonly reason: string };

export interface BulkItemError {
  type?: string;
  reason?: string;
  caused_by?: { type?: string; reason?: string };
}

/** One item of a `_bulk` answer (the `create` result of one document). */
export interface BulkItem {
  status?: number;
  error?: BulkItemError;
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/**
 * The `create` items of a `_bulk` answer, one per document sent; undefined when the answer is
 * not that (a proxy's page, a truncated body, another count), so it is never half-believed.
 */
export function bulkItems(body: unknown, sent: number): (BulkItem | undefined)[] | undefined {
  const items = isObject(body) ? body.items : undefined;
  if (!Array.isArray(items) || items.length !== sent) return undefined;
  return items.map((item: unknown) => {
    const create = isObject(item) ? item.create : undefined;
    if (!isObject(create)) return undefined;
    return { status: typeof create.status === 'number' ? create.status : undefined, error: isObject(create.error) ? (create.error as BulkItemError) : undefined };
  });
}

/**
 * Whether a `_bulk` answer's text says, without parsing it, that every document sent was
 * created: `"errors":false` among its top-level fields (before `"items"`), one `create` item per
 * document, and the answer whole (it ends its items list). False: the items must be read one by
 * one (bulkItems on the parsed answer), as for any answer with an error in it.
 */
export function allCreated(text: string, sent: number): boolean {
  const items = text.indexOf('"items":[');
  if (items < 0 || !text.slice(0, items).includes('"errors":false') || !/\]\}\s*$/.test(text.slice(-8))) return false;
  let count = 0;
  for (let at = text.indexOf(CREATE_ITEM, items); at >= 0; at = text.indexOf(CREATE_ITEM, at + CREATE_ITEM.length)) count++;
  return count === sent;
}
const CREATE_ITEM = '{"create":{';

/** A stored document as `_mget` returns it: its `_source`, or undefined when not found. */
export type StoredSource = { readonly event?: { readonly hash?: unknown } } & Record<string, unknown>;

/** The sources of an `_mget` answer, in request order; undefined when the answer is not one. */
export function mgetSources(body: unknown, asked: number): (StoredSource | undefined)[] | undefined {
  const docs = isObject(body) ? body.docs : undefined;
  if (!Array.isArray(docs) || docs.length !== asked) return undefined;
  return docs.map((d: unknown) => (isObject(d) && d.found === true && isObject(d._source) ? (d._source as StoredSource) : undefined));
}

/** What one item of a bulk answer means for its document. */
export function itemOutcome(item: BulkItem | undefined): ItemOutcome {
  const status = item?.status ?? 0;
  if (status === 201 || status === 200) return { kind: 'created' };
  if (status === 409) return { kind: 'conflict' };
  const reason = describe(status, item?.error);
  // Throttling, unavailable shards, a node leaving: the document is fine, the cluster is busy.
  if (status === 429 || status >= 500 || status === 0) return { kind: 'retry', reason };
  return { kind: 'rejected', reason };
}

function describe(status: number, error: BulkItemError | undefined): string {
  if (!error) return `HTTP ${status}`;
  const cause = error.caused_by?.reason ? ` (${error.caused_by.type}: ${error.caused_by.reason})` : '';
  return `HTTP ${status} ${error.type ?? 'error'}: ${error.reason ?? ''}${cause}`.slice(0, 1000);
}

/** Splits documents into bulk requests of at most `maxDocs` documents and about `maxBytes`. */
export function chunk(docs: readonly BulkDoc[], maxDocs: number, maxBytes: number): BulkDoc[][] {
  return batches(docs, maxDocs, maxBytes, bulkBytes);
}
