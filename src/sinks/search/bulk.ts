/**
 * The `_bulk` API's wire format and the meaning of each item of its answer. Pure: no I/O.
 * Every document is sent with `create` and `_id` = `event.id`: the engine never overwrites,
 * so a second copy answers 409 and the sink decides whether it is a duplicate or a collision.
 */
import { batches } from '../batches.js';

export interface BulkDoc {
  readonly index: string;
  readonly id: string;
  /** `event.hash`: compared with the stored copy's on a 409. */
  readonly hash: string;
  /** The document, serialized once. */
  readonly json: string;
  /** Index of the event in its unit. */
  readonly slot: number;
}

export function bulkBody(docs: readonly BulkDoc[]): string {
  let body = '';
  for (const d of docs) body += `{"create":{"_index":${JSON.stringify(d.index)},"_id":${JSON.stringify(d.id)}}}\n${d.json}\n`;
  return body;
}

/** Bytes a document adds to a bulk body (action line included). */
export function bulkBytes(doc: BulkDoc): number {
  return Buffer.byteLength(doc.json) + doc.index.length + doc.id.length + 40;
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
