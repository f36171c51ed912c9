/**
 * `replay --config`'s walk through the state index on a real OpenSearch node: the dead letters a
 * page of ids at a time (`search_after` on `_seq_no`), each handled once in a run although every
 * one it marks is written again meanwhile (and the engine's search sees the new versions only
 * after a refresh), and an API feed's `feed` kept in its document (the index maps no such field);
 * two runs at once delivering each dead letter once in all (claims); a state index made beforehand
 * with several shards refused where it is ensured.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { EngineBooks, engineDeadLetter } from '../../src/cluster/books.js';
import { replayEngineDeadLetters } from '../../src/cluster/replay.js';
import { StateIndex } from '../../src/cluster/state-index.js';
import { buildTransformer } from '../../src/cli/ingest.js';
import { noCounts } from '../../src/core/counts.js';
import type { Unit } from '../../src/core/unit.js';
import { prepareDeadLetter } from '../../src/store/prepared.js';
import type { SearchClient } from '../../src/sinks/search/client.js';
import type { EngineCluster } from '../support/search-engine.js';
import { stateEngine } from './replica-support.js';
import { wholeDeadLetter } from './stand-in-engine.js';

const NAME = 'mimelog-state-replay-pages';
const record = (n: number) => JSON.stringify({ datetime: `2026-12-06T10:00:0${n % 10}Z`, aCode: `acode-${n}`, Act: 'Acc', Sender: `s${n}@example.com` });

describe('replay --config on OpenSearch: every dead letter in one run, a page at a time', () => {
  let os: EngineCluster;
  let client: SearchClient;
  before(async () => {
    ({ os, client } = await stateEngine(NAME));
  });
  after(async () => {
    await client?.close();
    await os?.stop();
  });

  it('pages of 2 ids: 7 recovered and 2 refused in one run, each once; a second run sends none again; a feed dead letter keeps its feed in the engine and is replayed as the feed\'s', async () => {
    const books = new EngineBooks(client, NAME);
    const letters = Array.from({ length: 9 }, (_, i) => {
      const d = wholeDeadLetter('s', { from: 'stream r.json', position: i + 1, reason: 'failed then', raw: Buffer.from(record(i + 1)) });
      return i % 4 === 3 ? { id: d.id, doc: { ...d.doc, truncated_from: 5_000_000 } } : d; // 2 kept heads: refused
    });
    const audit = JSON.stringify({ id: 'a-1', auditType: 'User Logged On', category: 'account_logs', eventInfo: 'Logon from 10.1.2.3', eventTime: '2026-12-06T10:00:00+0000', user: 'u@example.com' });
    const feedLetter = engineDeadLetter('s', prepareDeadLetter({ source: 'feed page', position: 1, reason: 'failed then', raw: audit, feed: 'audit' }), undefined, 'a', 1);
    await books.putAll([...letters, feedLetter]);
    await books.refresh();
    assert.equal((await new StateIndex(client, NAME).get<{ feed?: string }>(feedLetter.id))!.doc.feed, 'audit', 'the engine keeps the feed');
    const units: Unit[] = [];
    const replay = () => replayEngineDeadLetters(books, buildTransformer({ original: true }).transformer, async (us) => {
      units.push(...us);
      return { ...noCounts(), stored: us.reduce((n, u) => n + u.events.length, 0) };
    }, { pageSize: 2 });
    const first = await replay();
    assert.deepEqual([first.listed, first.recovered, first.refused_count, first.already_replayed], [10, 8, 2, 0]);
    const events = units.flatMap((u) => u.events);
    assert.equal(new Set(events.map((e) => e.id)).size, 8, 'none twice');
    assert.equal(events.find((e) => e.raw === audit)?.classification.logType, 'audit');
    await books.refresh();
    const second = await replay();
    assert.deepEqual([second.listed, second.recovered, second.refused_count, second.already_replayed], [10, 0, 2, 8], 'marked ones are not sent again');
    assert.equal(units.flatMap((u) => u.events).length, 8);
  });
  it('two runs at once over 12 dead letters, a sink that keeps every copy (as Kafka does): each delivered once in all, the other run reports it claimed by another run', async () => {
    const other = `${NAME}-twice`;
    await new StateIndex(client, other).ensure();
    const books = new EngineBooks(client, other);
    await books.putAll(Array.from({ length: 12 }, (_, i) => wholeDeadLetter('s', { from: 'stream r.json', position: i + 1, reason: 'failed then', raw: Buffer.from(record(i + 1)) })));
    await books.refresh();
    const delivered: number[] = [];
    const replay = (runId: string) => replayEngineDeadLetters(books, buildTransformer({ original: true }).transformer, async (us) => {
      await sleep(20); // a slow destination: the other run meets the dead letter while it is delivered
      const events = us.flatMap((u) => u.events);
      delivered.push(...events.map((e) => e.position));
      return { ...noCounts(), stored: events.length };
    }, { runId, pageSize: 4 });
    const [a, b] = await Promise.all([replay('A'), replay('B')]);
    assert.deepEqual([...delivered].sort((x, y) => x - y), Array.from({ length: 12 }, (_, i) => i + 1), `each once (${delivered.length} deliveries)`);
    assert.equal(a.recovered + b.recovered, 12);
    assert.ok(a.claimed_elsewhere + b.claimed_elsewhere > 0, 'the other run met claimed ones');
  });

  it('a state index made beforehand with 3 shards is refused where it is ensured, said how to fix it; one of 1 shard is taken again', async () => {
    const made = `${NAME}-three`;
    assert.equal((await client.send('PUT', `/${made}`, JSON.stringify({ settings: { number_of_shards: 3, number_of_replicas: 0 } }))).status, 200);
    await assert.rejects(new StateIndex(client, made).ensure(), /has 3 shards, not 1: .*_reindex/);
    await new StateIndex(client, NAME).ensure();
  });
});
