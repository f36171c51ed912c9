/**
 * Fencing and spreading against a real OpenSearch node: a unit's checkpoint moves in the engine
 * under the source's lease before the local store commits it, so an owner whose lease was taken
 * commits nothing; replicas share the sources evenly and take over what a leaving one gives up.
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { after, before, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Unit } from '../../src/core/unit.js';
import type { V2StreamState } from '../../src/core/sink.js';
import { Logger } from '../../src/log/logger.js';
import { DeliveringSink } from '../../src/sinks/delivering-sink.js';
import type { Destination, DestinationReport } from '../../src/sinks/destination.js';
import { SearchClient } from '../../src/sinks/search/client.js';
import { Store } from '../../src/store/store.js';
import { StateIndex } from '../../src/cluster/state-index.js';
import { LeaseBook, LeaseLost, type SourceDoc, sourceDocId } from '../../src/cluster/leases.js';
import { Coordinator } from '../../src/cluster/coordinator.js';
import { restoreCheckpoints } from '../../src/cluster/checkpoints.js';
import { leaseFence } from '../../src/service/replica.js';
import { tempDir } from '../support/helpers.js';
import { EngineCluster, notBuiltHint, testNodeBuilt } from '../support/search-engine.js';

/** A destination that takes every unit at once (the events do not matter here, the checkpoints do). */
const accepting: Destination = {
  name: 'accepting',
  deliver: async (unit: Unit): Promise<DestinationReport> => ({ indexed: unit.events.length, duplicates: 0, collisions: [], rejected: [], resent: 0 }),
  close: async () => undefined,
};

const quiet = () => new Logger(new PassThrough(), 'error');
const KEY = 'mimecast-v2-stream https://sim.test s1';
const unit = (position: number): Unit => ({ source: KEY, events: [], deadLetters: [], position, last: false });
const stream = (token: string): V2StreamState => ({ kind: 'mimecast-v2-stream', key: KEY, token });

function handClock(): { now: () => number; advance(ms: number): void } {
  let t = 1_000;
  return { now: () => t, advance: (ms) => void (t += ms) };
}

describe('fencing and spreading on OpenSearch', () => {
  let os: EngineCluster;
  let client: SearchClient;
  let index: StateIndex;
  const dir = tempDir('cluster-fence');
  before(async () => {
    assert.ok(testNodeBuilt(), notBuiltHint('opensearch'));
    os = await EngineCluster.start('opensearch', 1);
    client = new SearchClient({ urls: os.urls, auth: { kind: 'none' }, timeoutMs: 10_000 });
    index = new StateIndex(client, 'mimelog-state-fence');
    await index.ensure();
  });
  after(async () => {
    await client?.close();
    await os?.stop();
  });

  it('an owner whose lease was taken while it was frozen commits nothing: not in the engine, not in its store; the new owner goes on from the engine', async () => {
    const [aClock, bClock] = [handClock(), handClock()];
    const a = new LeaseBook(index, { replica: 'a', leaseMs: 5_000, now: aClock.now });
    const b = new LeaseBook(index, { replica: 'b', leaseMs: 5_000, now: bClock.now });
    await a.register('s1');
    const aLease = (await a.claim('s1'))!;
    const aStore = new Store(join(dir, 'a.db'));
    const aSink = new DeliveringSink(aStore, [accepting], { keepEvents: false, beforeCommit: leaseFence(aLease) }, quiet());
    await aSink.write(unit(1), stream('token-1'));
    await aSink.write(unit(2), stream('token-2'));
    assert.equal(aStore.registry.checkpoint(KEY)?.cursor, 'token-2');
    assert.equal((await index.get<SourceDoc>(sourceDocId('s1')))!.doc.checkpoints[KEY]!.cursor, 'token-2');

    // a freezes (its clock stands still); b sees the lease unrenewed for the lease time and takes it.
    await b.inspect('s1');
    bClock.advance(5_000);
    const bLease = (await b.claim('s1'))!;
    assert.equal(bLease.epoch, 2);
    const bStore = new Store(join(dir, 'b.db'));
    assert.equal(restoreCheckpoints(bStore, bLease.doc.checkpoints), 1);
    assert.equal(bStore.registry.checkpoint(KEY)?.cursor, 'token-1', 'b starts from the engine checkpoint, one unit back (a may not have committed unit 2 in its store)');

    // a wakes up and commits its next units: refused, nothing moves anywhere, and no later unit commits either.
    await assert.rejects(aSink.write(unit(3), stream('token-3-stale')), LeaseLost);
    await assert.rejects(aSink.write(unit(4), stream('token-4-stale')));
    assert.equal(aStore.registry.checkpoint(KEY)?.cursor, 'token-2', "a's store did not commit");
    const bSink = new DeliveringSink(bStore, [accepting], { keepEvents: false, beforeCommit: leaseFence(bLease) }, quiet());
    await bSink.write(unit(2), stream('token-2'));
    const doc = (await index.get<SourceDoc>(sourceDocId('s1')))!.doc;
    assert.deepEqual([doc.owner, doc.epoch, doc.checkpoints[KEY]!.cursor, doc.checkpoints[KEY]!.epoch], ['b', 2, 'token-2', 2]);
    await aSink.close();
    await bSink.close();
    aStore.close();
    bStore.close();
  });

  it('what the fence costs per unit: one conditional write of the lease document (measured, printed)', async () => {
    const book = new LeaseBook(index, { replica: 'm', leaseMs: 30_000 });
    await book.register('cost');
    const lease = (await book.claim('cost'))!;
    const store = new Store(join(dir, 'cost.db'));
    const time = async (sink: DeliveringSink, n: number) => {
      const started = performance.now();
      for (let i = 1; i <= n; i++) await sink.write(unit(i), stream(`token-${i}`));
      return (performance.now() - started) / n;
    };
    const plain = new DeliveringSink(store, [accepting], { keepEvents: false }, quiet());
    const fenced = new DeliveringSink(store, [accepting], { keepEvents: false, beforeCommit: leaseFence(lease) }, quiet());
    await time(plain, 20); // warm both paths
    await time(fenced, 20);
    const [plainMs, fencedMs] = [await time(plain, 200), await time(fenced, 200)];
    process.stderr.write(`fence cost: ${(fencedMs - plainMs).toFixed(2)} ms per unit (a unit's commit ${plainMs.toFixed(2)} ms without, ${fencedMs.toFixed(2)} ms with the engine write)\n`);
    assert.equal((await index.get<SourceDoc>(sourceDocId('cost')))!.doc.checkpoints[KEY]!.cursor, 'token-200');
    await plain.close();
    await fenced.close();
    store.close();
  });

  it('replicas share the sources evenly (at most ceil(sources / live) each); one leaving hands its sources over, one joining takes a share', { timeout: 60_000 }, async () => {
    const sources = ['t1', 't2', 't3', 't4'];
    const running = new Map<string, string>(); // source → replica running it now
    const overlaps: string[] = [];
    const replica = (id: string) => new Coordinator(new LeaseBook(index, { replica: id, leaseMs: 3_000 }), sources, async (source, _leases, stop) => {
      if (running.has(source)) overlaps.push(`${source}: ${running.get(source)} and ${id}`);
      running.set(source, id);
      await new Promise((resolve) => stop.addEventListener('abort', resolve, { once: true }));
      await sleep(50); // units in hand finishing
      running.delete(source);
    }, { renewMs: 300 }, quiet());
    const shares = () => [...new Set(running.values())].map((id) => [...running.values()].filter((r) => r === id).length).sort();
    const until = async (what: string, ok: () => boolean) => {
      const deadline = Date.now() + 20_000;
      while (!ok()) {
        assert.ok(Date.now() < deadline, `${what}: ${JSON.stringify([...running])}`);
        await sleep(100);
      }
    };
    const [r1, r2] = [replica('r1'), replica('r2')];
    await Promise.all([r1.start(), r2.start()]);
    await until('two replicas hold two sources each', () => running.size === 4 && shares().join() === '2,2');
    const r3 = replica('r3');
    await r3.start();
    await until('a third replica takes a share: 2, 1, 1', () => running.size === 4 && shares().join() === '1,1,2');
    await r1.stop();
    await until('r1 left: the other two hold all four again', () => running.size === 4 && !running.has('r1') && shares().join() === '2,2' && ![...running.values()].includes('r1'));
    await Promise.all([r2.stop(), r3.stop()]);
    assert.deepEqual(overlaps, [], 'no source ran on two replicas at once');
    for (const s of sources) {
      const doc = (await index.get<SourceDoc>(sourceDocId(s)))!.doc;
      assert.equal(doc.owner, null, 'released on stop');
      assert.deepEqual(doc.history.map((h) => h.epoch), Array.from({ length: doc.epoch }, (_, i) => i + 1), 'one claim per epoch');
    }
  });
});
