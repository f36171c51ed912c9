/**
 * `replay --config` walks the dead letters by `_seq_no`, which orders the writes of one shard only:
 * mimelog creates the state index with one, but one made beforehand (by hand, or by an index
 * template when a write created it) may have more. There equal `_seq_no`s of two shards are one
 * position of the walk, and `search_after` steps past all of them: dead letters would be left out
 * silently. The walk refuses such an index, said why.
 */
import assert from 'node:assert/strict';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { describe, it } from 'node:test';
import { EngineBooks } from '../../src/cluster/books.js';
import { replayEngineDeadLetters } from '../../src/cluster/replay.js';
import { noCounts } from '../../src/core/counts.js';
import { buildTransformer } from '../../src/cli/ingest.js';
import { LoopbackStandIn, clientOfStandIn, wholeDeadLetter } from './stand-in-engine.js';

const STATE = 'state';

/** A state index of two shards: each document in one of them, each shard numbering its own writes from 0. */
class TwoShards extends LoopbackStandIn {
  readonly docs = new Map<string, { source: unknown; shard: number; seqNo: number }>();
  private readonly seq = [0, 0];

  put(id: string, source: unknown): void {
    const shard = this.docs.get(id)?.shard ?? this.docs.size % 2;
    this.docs.set(id, { source, shard, seqNo: this.seq[shard]!++ });
  }

  protected async answer(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    const reply = (status: number, body: unknown): void => void res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(body));
    const url = new URL(req.url!, this.url);
    if (url.pathname === `/${STATE}/_search`) {
      const q = JSON.parse(Buffer.concat(chunks).toString('utf8')) as { size: number; sort?: { _seq_no?: string }[]; search_after?: number[] };
      const sign = q.sort?.[0]?._seq_no === 'desc' ? -1 : 1;
      const after = q.search_after?.[0];
      const hits = [...this.docs].map(([_id, d]) => ({ _id, _seq_no: d.seqNo, _primary_term: 1, sort: [d.seqNo] }))
        .filter((h) => after === undefined || sign * (h._seq_no - after) > 0).sort((a, b) => sign * (a._seq_no - b._seq_no));
      return reply(200, { _shards: { total: 2, successful: 2, skipped: 0, failed: 0 }, hits: { hits: hits.slice(0, q.size) } });
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

describe('replay --config and the shards of the state index', () => {
  const engine = new TwoShards();
  const client = clientOfStandIn(engine, 10_000);

  it('a state index of two shards is refused, said why, before anything is sent (its dead letters would be left out silently)', async () => {
    for (let n = 0; n < 6; n++) {
      const raw = Buffer.from(JSON.stringify({ datetime: `2026-12-06T10:00:0${n}Z`, aCode: `acode-${n}`, Act: 'Acc', Sender: `s${n}@example.com` }));
      const d = wholeDeadLetter('src', { from: 'stream r.json', position: n + 1, reason: 'failed then', raw });
      engine.put(d.id, d.doc);
    }
    let sent = 0;
    const run = replayEngineDeadLetters(new EngineBooks(client(), STATE), buildTransformer({ original: true }).transformer, async (units) => {
      sent += units.reduce((a, u) => a + u.events.length, 0);
      return { ...noCounts(), stored: units.reduce((a, u) => a + u.events.length, 0) };
    }, { pageSize: 3 });
    await assert.rejects(run, /state index state has 2 shards.*one shard/);
    assert.equal(sent, 0, 'nothing sent');
  });
});
