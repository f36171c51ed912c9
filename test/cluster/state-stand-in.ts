/**
 * A loopback stand-in for the state index as `replay --config` uses it: `_search` lists documents
 * by sequence number, `_doc` reads them and replaces them only at the version named (`if_seq_no`),
 * answering 409 otherwise, as the engine does.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { LoopbackStandIn } from './stand-in-engine.js';

export const STATE = 'state';

/** The state index's documents, each with a sequence number, answering as the engine does. */
export class StateStandIn extends LoopbackStandIn {
  readonly docs = new Map<string, { source: unknown; seqNo: number }>();
  private seq = 0;
  /** Listing requests answered; `onSearch` runs at each (a test adds documents as replicas would meanwhile). */
  searches = 0;
  /** Documents read whole (GET). */
  gets = 0;
  onSearch: (() => void) | undefined;

  put(id: string, source: unknown): void {
    this.docs.set(id, { source, seqNo: this.seq++ });
  }

  protected async answer(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    const reply = (status: number, body: unknown): void => void res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(body));
    const url = new URL(req.url!, this.url);
    if (url.pathname === `/${STATE}/_search`) {
      // In the order asked for by sequence number (as the engine sorts by _seq_no), after `search_after`, at most `size`.
      const q = JSON.parse(Buffer.concat(chunks).toString('utf8')) as { size: number; sort?: { _seq_no?: string }[]; search_after?: number[]; _source?: false | string[] };
      this.searches++;
      const sign = q.sort?.[0]?._seq_no === 'desc' ? -1 : 1;
      const after = q.search_after?.[0];
      // `_source: [fields]`: only those fields of each hit's document, as the engine filters them.
      const picked = (doc: unknown) => Object.fromEntries(Object.entries(doc as object).filter(([k]) => Array.isArray(q._source) && q._source.includes(k)));
      const hits = [...this.docs].map(([_id, d]) => ({ _id, _seq_no: d.seqNo, _primary_term: 1, ...(Array.isArray(q._source) ? { _source: picked(d.source) } : {}) }))
        .filter((h) => after === undefined || sign * (h._seq_no - after) > 0).sort((a, b) => sign * (a._seq_no - b._seq_no));
      reply(200, { hits: { hits: hits.slice(0, q.size) } });
      return this.onSearch?.(); // after it answered: a document written meanwhile
    }
    const id = url.pathname.startsWith(`/${STATE}/_doc/`) ? decodeURIComponent(url.pathname.slice(`/${STATE}/_doc/`.length)) : undefined;
    const doc = id === undefined ? undefined : this.docs.get(id);
    if (!doc) return reply(404, {});
    if (req.method === 'GET') {
      this.gets++;
      return reply(200, { found: true, _source: doc.source, _seq_no: doc.seqNo, _primary_term: 1 });
    }
    if (req.method === 'PUT' && Number(url.searchParams.get('if_seq_no')) === doc.seqNo) {
      this.put(id!, JSON.parse(Buffer.concat(chunks).toString('utf8')));
      return reply(200, { _seq_no: this.docs.get(id!)!.seqNo, _primary_term: 1 });
    }
    reply(409, {});
  }
}
