/**
 * The `_bulk` API's wire format and the meaning of each item of its answer. Pure: no I/O.
 * Every document is sent with `create` and `_id` = `event.id`: the engine never overwrites,
 * so a second copy answers 409 and the sink decides whether it is a duplicate or a collision.
 */

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

interface BulkItemError {
  type?: string;
  reason?: string;
  caused_by?: { type?: string; reason?: string };
}

/** What one item of a bulk answer means for its document. */
export function itemOutcome(item: { status?: number; error?: BulkItemError } | undefined): ItemOutcome {
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
  const chunks: BulkDoc[][] = [];
  let current: BulkDoc[] = [];
  let bytes = 0;
  for (const d of docs) {
    const size = bulkBytes(d);
    if (current.length > 0 && (current.length >= maxDocs || bytes + size > maxBytes)) {
      chunks.push(current);
      current = [];
      bytes = 0;
    }
    current.push(d);
    bytes += size;
  }
  if (current.length > 0) chunks.push(current);
  return chunks;
}
