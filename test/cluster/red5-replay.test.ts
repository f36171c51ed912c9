/**
 * Red-team round 5: `replay --config` against a loopback stand-in for the state index (its
 * `_search` lists the dead letters, `_doc` reads and replaces them). A dead letter goes the way
 * its source's events went on the replica: that source's tenant stamped, its pipeline settings.
 */
import assert from 'node:assert/strict';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { describe, it } from 'node:test';
import { EngineBooks } from '../../src/cluster/books.js';
import { replayEngineDeadLetters } from '../../src/cluster/replay.js';
import { noCounts } from '../../src/core/counts.js';
import { DEFAULT_LIMITS } from '../../src/decode/limits.js';
import type { Sink } from '../../src/core/sink.js';
import type { Unit } from '../../src/core/unit.js';
import { buildTransformer } from '../../src/cli/ingest.js';
import { replayRoutes, writeAll } from '../../src/cli/replay-routes.js';
import type { ServiceConfig } from '../../src/service/config.js';
import { LoopbackStandIn, clientOfStandIn, wholeDeadLetter } from './stand-in-engine.js';

const STATE = 'state';

/** The state index's documents, each with a sequence number, answering as the engine does. */
class StateStandIn extends LoopbackStandIn {
  readonly docs = new Map<string, { source: unknown; seqNo: number }>();
  private seq = 0;

  put(id: string, source: unknown): void {
    this.docs.set(id, { source, seqNo: this.seq++ });
  }

  protected async answer(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    const reply = (status: number, body: unknown): void => void res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(body));
    const url = new URL(req.url!, this.url);
    if (url.pathname === `/${STATE}/_search`) {
      // The oldest written first (by sequence number), at most `size`, as the engine sorts by _seq_no.
      const { size } = JSON.parse(Buffer.concat(chunks).toString('utf8')) as { size: number };
      const ids = [...this.docs].sort((a, b) => a[1].seqNo - b[1].seqNo).map(([_id]) => ({ _id }));
      return reply(200, { hits: { hits: ids.slice(0, size) } });
    }
    const id = url.pathname.startsWith(`/${STATE}/_doc/`) ? decodeURIComponent(url.pathname.slice(`/${STATE}/_doc/`.length)) : undefined;
    const doc = id === undefined ? undefined : this.docs.get(id);
    if (!doc) return reply(404, {});
    if (req.method === 'GET') return reply(200, { found: true, _source: doc.source, _seq_no: doc.seqNo, _primary_term: 1 });
    if (req.method === 'PUT' && Number(url.searchParams.get('if_seq_no')) === doc.seqNo) {
      this.put(id!, JSON.parse(Buffer.concat(chunks).toString('utf8')));
      return reply(200, { _seq_no: this.docs.get(id!)!.seqNo, _primary_term: 1 });
    }
    reply(409, {});
  }
}

/** A sink that keeps what it is given. */
function keeping(): Sink & { units: Unit[] } {
  const units: Unit[] = [];
  return { units, write: async (u) => (units.push(u), { ...noCounts(), stored: u.events.length }), close: async () => undefined };
}

const record = (n: number) => JSON.stringify({ datetime: `2026-12-06T10:00:0${n}Z`, aCode: `acode-${n}`, Act: 'Acc', Sender: `s${n}@example.com` });
const letter = (source: string, position: number, raw: Buffer) =>
  wholeDeadLetter(source, { from: 'stream r.json', position, reason: 'failed then', raw });

describe('replay --config: each dead letter the way of its source', () => {
  const engine = new StateStandIn();
  const client = clientOfStandIn(engine, 10_000);

  it("a tenant's source: its events stamped with the tenant and made with its settings (no event.original); a source the config has not: the command line's way", async () => {
    const L = DEFAULT_LIMITS;
    const bounds = { max_record_bytes: L.maxRecordBytes, max_document_bytes: L.maxDocumentBytes, max_member_bytes: L.maxMemberBytes, max_zip_bytes: L.maxZipBytes, max_archive_depth: L.maxArchiveDepth, max_json_depth: L.maxJsonDepth, max_record_keys: L.maxRecordKeys };
    const config = { sources: [{ name: 'initech-v1', kind: 'mimecast-v1', tenant: 'initech', original: false, unknown_types: 'store', ...bounds }] } as unknown as Pick<ServiceConfig, 'sources'>;
    for (const [source, n] of [['initech-v1', 1], ['gone', 2]] as const) {
      const d = letter(source, n, Buffer.from(record(n)));
      engine.put(d.id, d.doc);
    }
    const sink = keeping();
    const report = await replayEngineDeadLetters(new EngineBooks(client(), STATE), buildTransformer({ original: true }).transformer, (units) => writeAll(sink, units), { route: replayRoutes(config, sink) });
    assert.equal(report.recovered, 2);
    assert.equal(sink.units.flatMap((u) => u.events).length, 2);
    const events = sink.units.flatMap((u) => u.events).sort((a, b) => a.position - b.position);
    const docs = events.map((e) => e.doc as { organization?: { name?: string }; event?: { original?: string } });
    assert.equal(docs[0]!.organization?.name, 'initech', "the tenant's name on its source's replayed event");
    assert.equal(docs[0]!.event?.original, undefined, "its source's original: false");
    assert.equal(docs[1]!.organization, undefined, 'a source the config has not: no tenant');
    assert.equal(typeof docs[1]!.event?.original, 'string', "the command line's settings for it");
  });

  it('a dead letter refused (its kept bytes not whole) moves behind the others in the listing: refused ones never keep later ones from being replayed', async () => {
    engine.docs.clear();
    const head = letter('s', 1, Buffer.from(record(1).slice(0, 20)));
    engine.put(head.id, { ...head.doc, truncated_from: 5_000_000 });
    const good = letter('s', 2, Buffer.from(record(2)));
    engine.put(good.id, good.doc);
    const sink = keeping();
    const replay = () => replayEngineDeadLetters(new EngineBooks(client(), STATE), buildTransformer({ original: true }).transformer, (units) => writeAll(sink, units), { limit: 1 });
    const first = await replay();
    assert.deepEqual(first.refused.map((r) => r.id), [head.id]);
    const second = await replay();
    assert.equal(second.recovered, 1, 'the next replay of one reaches the dead letter behind the refused one');
    assert.equal(sink.units.flatMap((u) => u.events).length, 1);
  });
});
