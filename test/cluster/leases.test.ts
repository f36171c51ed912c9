/** Leases in the state index of a real OpenSearch node and a real Elasticsearch node: racing claims, expiry, take-over, a stale owner refused. */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { SearchClient } from '../../src/sinks/search/client.js';
import { StateIndex } from '../../src/cluster/state-index.js';
import { LeaseBook, LeaseLost, type SourceDoc, sourceDocId } from '../../src/cluster/leases.js';
import { ENGINES, type Engine, EngineCluster, notBuiltHint, testNodeBuilt } from '../support/search-engine.js';

/** A clock the test moves by hand: each replica has its own, as each machine has. */
function handClock(): { now: () => number; advance(ms: number): void } {
  let t = 1_000;
  return { now: () => t, advance: (ms) => void (t += ms) };
}

for (const engine of ['opensearch', 'elasticsearch8'] as const satisfies readonly Engine[]) describe(`leases in a state index on ${ENGINES[engine].label}`, () => {
  let os: EngineCluster;
  let client: SearchClient;
  let index: StateIndex;
  let n = 0;
  const source = () => `src-${++n}`;
  before(async () => {
    assert.ok(testNodeBuilt(engine), notBuiltHint(engine));
    os = await EngineCluster.start(engine, 1);
    client = new SearchClient({ urls: os.urls, auth: { kind: 'none' }, timeoutMs: 10_000 });
    index = new StateIndex(client, 'mimelog-state-test');
    await index.ensure();
    await index.ensure(); // a second replica starting finds it there
  });
  after(async () => {
    await client?.close();
    await os?.stop();
  });

  const book = (replica: string, leaseMs = 10_000, now?: () => number) => new LeaseBook(index, { replica, leaseMs, now });

  it('of two replicas claiming a free source at once, exactly one gets it (epoch 1)', async () => {
    for (let round = 0; round < 5; round++) {
      const s = source();
      const [a, b, c] = [book('a'), book('b'), book('c')];
      await Promise.all([a.register(s), b.register(s), c.register(s)]); // each creates it if absent; one wins
      const got = await Promise.all([a.claim(s), b.claim(s), c.claim(s)]);
      const winners = got.filter((l) => l !== undefined);
      assert.equal(winners.length, 1, `round ${round}: one winner`);
      assert.equal(winners[0]!.epoch, 1);
      const seen = await a.inspect(s);
      assert.equal(seen.owner, winners[0] === got[0] ? 'a' : winners[0] === got[1] ? 'b' : 'c');
    }
  });

  it('a held lease is not taken before the lease time; unrenewed for the lease time it is taken over, and the old owner can neither renew nor move a checkpoint', async () => {
    const s = source();
    const aClock = handClock();
    const bClock = handClock();
    const a = book('a', 5_000, aClock.now);
    const b = book('b', 5_000, bClock.now);
    await a.register(s);
    const held = (await a.claim(s))!;
    await held.commit({ k: { kind: 'mimecast-v2-stream', position: 0, cursor: 'token-1', complete: false, newest_event_ms: null, newest_by_type: {} } });
    assert.equal(await b.claim(s), undefined, 'held: not claimable');
    bClock.advance(4_000);
    assert.equal((await b.inspect(s)).state, 'held');
    await held.renew(); // a renews: b counts again from when it first sees the new version
    assert.equal((await b.inspect(s)).state, 'held');
    bClock.advance(4_999);
    assert.equal(await b.claim(s), undefined, 'renewed 4.999 s ago by b\'s clock');
    bClock.advance(1);
    const taken = await b.claim(s);
    assert.ok(taken, 'unchanged for the lease time: expired');
    assert.equal(taken.epoch, 2);
    assert.equal(taken.doc.checkpoints.k!.cursor, 'token-1', 'the new owner continues from the checkpoint');
    // a was frozen meanwhile (its own clock did not move): it still believes in its lease, but the engine refuses it.
    assert.ok(held.remainingMs() > 0);
    await assert.rejects(held.commit({ k: { kind: 'mimecast-v2-stream', position: 0, cursor: 'token-STALE', complete: false, newest_event_ms: null, newest_by_type: {} } }), LeaseLost);
    await assert.rejects(held.renew(), /lease of source .* lost: .*b holds epoch 2/);
    const stored = (await index.get<SourceDoc>(sourceDocId(s)))!.doc;
    assert.equal(stored.checkpoints.k!.cursor, 'token-1', 'the stale write moved nothing');
    assert.equal(stored.owner, 'b');
    assert.equal(stored.handovers, 1);
    assert.deepEqual(stored.history.map((h) => [h.epoch, h.owner, h.from]), [[1, 'a', undefined], [2, 'b', 'a']]);
    await taken.commit({ k: { kind: 'mimecast-v2-stream', position: 0, cursor: 'token-2', complete: false, newest_event_ms: null, newest_by_type: {} } });
    assert.equal((await index.get<SourceDoc>(sourceDocId(s)))!.doc.checkpoints.k!.epoch, 2);
  });

  it('an owner whose own clock says the lease ran out stops writing, even before anyone claims', async () => {
    const s = source();
    const clock = handClock();
    const a = book('a', 3_000, clock.now);
    await a.register(s);
    const held = (await a.claim(s))!;
    const lost: string[] = [];
    held.onLost((r) => lost.push(r));
    clock.advance(3_000);
    await assert.rejects(held.renew(), /not renewed within the lease time/);
    assert.equal(lost.length, 1);
  });

  it('a released lease is claimed at once, with a higher epoch; a replica restarted under its own id takes its lease back at once', async () => {
    const s = source();
    const a = book('a');
    const b = book('b');
    await a.register(s);
    const first = (await a.claim(s))!;
    await first.release();
    await assert.rejects(first.renew(), LeaseLost);
    const second = (await b.claim(s))!;
    assert.equal(second.epoch, 2);
    const bAgain = book('b'); // b killed and started again: same id, new process
    const third = (await bAgain.claim(s))!;
    assert.equal(third.epoch, 3);
    await assert.rejects(second.renew(), LeaseLost, 'the earlier incarnation is fenced off');
  });

  it('takes over in real time once the owner stops renewing', { timeout: 30_000 }, async () => {
    const s = source();
    const a = book('a', 1_500);
    const b = book('b', 1_500);
    await a.register(s);
    const held = (await a.claim(s))!;
    const started = performance.now();
    let taken;
    while (!(taken = await b.claim(s))) await new Promise((r) => setTimeout(r, 100));
    const waited = performance.now() - started;
    assert.ok(waited >= 1_500 && waited < 4_000, `took over after ${Math.round(waited)} ms`);
    assert.equal(taken.epoch, held.epoch + 1);
  });
});
