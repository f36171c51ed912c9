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
import { LoopbackStandIn, clientOfStandIn } from './stand-in-engine.js';

const STATE = 'state';

/**
 * A state index of two shards, six dead letters: three in each, each shard numbering its own
 * writes from 0 (so the listing sorted by `_seq_no` is 0, 0, 1, 1, 2, 2). Only its listing is
 * answered: a run must stop at it, before reading or sending any document.
 */
class TwoShards extends LoopbackStandIn {
  documentsRead = 0;

  protected async answer(req: IncomingMessage, res: ServerResponse): Promise<void> {
    let body = '';
    for await (const c of req) body += String(c);
    const url = new URL(req.url!, this.url);
    if (url.pathname !== `/${STATE}/_search`) {
      this.documentsRead++;
      return void res.writeHead(404).end();
    }
    const q = JSON.parse(body) as { size: number; sort?: { _seq_no?: string }[]; search_after?: number[] };
    const sign = q.sort?.[0]?._seq_no === 'desc' ? -1 : 1;
    const after = q.search_after?.[0];
    const hits = [0, 1, 2, 3, 4, 5].map((n) => ({ _id: `dead-letter:${n}`, _seq_no: n >> 1, sort: [n >> 1] }))
      .filter((h) => after === undefined || sign * (h._seq_no - after) > 0).sort((a, b) => sign * (a._seq_no - b._seq_no));
    res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ _shards: { total: 2, successful: 2, skipped: 0, failed: 0 }, hits: { hits: hits.slice(0, q.size) } }));
  }
}

describe('replay --config and the shards of the state index', () => {
  const engine = new TwoShards();
  const client = clientOfStandIn(engine, 10_000);

  it('a state index of two shards is refused, said why, before any dead letter is read or sent (its dead letters would be left out silently: 5 of 6 listed, pages of 3)', async () => {
    let sent = 0;
    const run = replayEngineDeadLetters(new EngineBooks(client(), STATE), buildTransformer({ original: true }).transformer, async (units) => {
      sent += units.length;
      return noCounts();
    }, { pageSize: 3 });
    await assert.rejects(run, /state index state has 2 shards.*one shard/);
    assert.equal(engine.documentsRead, 0, 'no document read');
    assert.equal(sent, 0, 'nothing sent');
  });
});
