/**
 * The red team's findings 10 to 15 on the cluster (docs/cluster.md), each pinned down against the
 * in-memory stand-in of the state index (test/cluster/memory-index.ts): fast, no engine.
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import type { V2StreamState } from '../../src/core/sink.js';
import type { Unit } from '../../src/core/unit.js';
import { Logger } from '../../src/log/logger.js';
import { DeliveringSink } from '../../src/sinks/delivering-sink.js';
import type { Destination, DestinationReport } from '../../src/sinks/destination.js';
import { prepareUnit } from '../../src/store/prepared.js';
import { Store } from '../../src/store/store.js';
import { restoreCheckpoints } from '../../src/cluster/checkpoints.js';
import { LeaseBook, type SourceDoc, sourceDocId } from '../../src/cluster/leases.js';
import type { StateIndex } from '../../src/cluster/state-index.js';
import { type Replica, type ServiceSource, leaseFence, runReplica } from '../../src/service/replica.js';
import type { SourceStarter } from '../../src/service/source-starter.js';
import type { SourceStatus } from '../../src/service/health.js';
import { tempDir } from '../support/helpers.js';
import { MemoryIndex } from './memory-index.js';

const KEY = 'mimecast-v2-stream https://sim.test s1';
const stream = (token: string): V2StreamState => ({ kind: 'mimecast-v2-stream', key: KEY, token });
const deadLetter = (position: number) => ({ source: KEY, position, reason: 'not a log line', raw: `bad line ${position}` });
const unit = (position: number): Unit => ({ source: KEY, events: [], deadLetters: [deadLetter(position)], position, last: false });
const accepting: Destination = {
  name: 'accepting',
  deliver: async (u: Unit): Promise<DestinationReport> => ({ indexed: u.events.length, duplicates: 0, collisions: [], rejected: [], resent: 0 }),
  close: async () => undefined,
};
const quiet = () => new Logger(new PassThrough(), 'error');
const asIndex = (m: MemoryIndex) => m as unknown as StateIndex;

describe('finding 10: the engine checkpoint moves before the local commit', () => {
  it('a replica whose store does not hold the newest engine checkpoint starts one unit back (the unit\'s dead letters are recorded again); one whose store holds it does not', async () => {
    const dir = tempDir('cluster-finding10');
    const index = new MemoryIndex();
    const a = new LeaseBook(asIndex(index), { replica: 'a', leaseMs: 30_000 });
    await a.register('s1');
    const lease = (await a.claim('s1'))!;
    const aStore = new Store(join(dir, 'a.db'));
    const sink = new DeliveringSink(aStore, [accepting], { keepEvents: false, beforeCommit: leaseFence(lease) }, quiet());
    await sink.write(unit(1), stream('token-1'));
    await sink.close();
    // Unit 2: the fence writes the engine, then the process dies before its store commits the unit.
    await leaseFence(lease)(prepareUnit(unit(2), { events: false }), stream('token-2'), [], 0);
    assert.equal((await index.get<SourceDoc>(sourceDocId('s1')))!.doc.checkpoints[KEY]!.cursor, 'token-2');
    assert.equal(aStore.registry.checkpoint(KEY)?.cursor, 'token-1');

    // The process restarted under the same id, its store as the crash left it: unit 2 is done again.
    const restarted = new LeaseBook(asIndex(index), { replica: 'a', leaseMs: 30_000 });
    const again = (await restarted.claim('s1'))!;
    restoreCheckpoints(aStore, again.doc.checkpoints);
    assert.equal(aStore.registry.checkpoint(KEY)?.cursor, 'token-1', 'the restarted process starts from the checkpoint before the one its store never committed');
    // Another replica (an empty store) starts one unit back as well.
    const bStore = new Store(join(dir, 'b.db'));
    restoreCheckpoints(bStore, again.doc.checkpoints);
    assert.equal(bStore.registry.checkpoint(KEY)?.cursor, 'token-1');
    // Done again, unit 2 commits, its dead letter with it; from then on the store holds the newest checkpoint.
    const again2 = new DeliveringSink(aStore, [accepting], { keepEvents: false, beforeCommit: leaseFence(again) }, quiet());
    await again2.write(unit(2), stream('token-2'));
    await again2.close();
    const deadLetters = (store: Store) => (store.db.prepare('SELECT position FROM dead_letters ORDER BY position').all() as { position: number }[]).map((r) => r.position);
    assert.deepEqual(deadLetters(aStore), [1, 2], 'the dead letter of the unit the crash lost is in the store');
    restoreCheckpoints(aStore, again.doc.checkpoints);
    assert.equal(aStore.registry.checkpoint(KEY)?.cursor, 'token-2', 'a store holding the newest checkpoint goes on from it');
    // The very first checkpoint has none before it: a store without it starts where that unit started.
    const cStore = new Store(join(dir, 'c.db'));
    const first = { [KEY]: { ...again.doc.checkpoints[KEY]!, previous: null } };
    restoreCheckpoints(cStore, first);
    assert.equal(cStore.registry.checkpoint(KEY), undefined);
    for (const s of [aStore, bStore, cStore]) s.close();
  });
});

/** A source as runReplica takes it (test/cluster/tenants.test.ts builds them the same way). */
const serviceSource = (name: string, o: { tenant?: string; account?: string } = {}): ServiceSource => ({
  starter: { name, kind: 'mimecast-v2-stream', checkpointNames: [], ...o } as unknown as SourceStarter,
  status: { name, kind: 'mimecast-v2-stream', checkpointNames: [], running: 'starting', restarts: 0 } as SourceStatus,
});

/** A replica of `run` on the in-memory index: its sources run (recorded in `running`) until stopped; `overlaps` says when one ran twice at once. */
function replicaOn(index: MemoryIndex, id: string, sources: readonly ServiceSource[], world: { running: Map<string, string>; overlaps: string[] }, o: { leaseMs?: number; renewMs?: number; dir?: string; openSink?: () => Promise<unknown> } = {}) {
  const dir = o.dir ?? tempDir(`cluster-replica-${id}`);
  const leaseMs = o.leaseMs ?? 300;
  const book = new LeaseBook(asIndex(index), { replica: id, leaseMs });
  const replica = {
    id, book, memoryFile: join(dir, `${id}.db.cluster.json`), view: () => undefined,
    settings: { replica: id, lease_s: leaseMs / 1000, renew_s: (o.renewMs ?? 30) / 1000, state_index: index.name },
  } as unknown as Replica;
  const store = new Store(join(dir, `${id}.db`));
  const runOne = async (s: ServiceSource, run: { stop: AbortSignal; beforeStart?: () => void }) => {
    const name = s.starter.name;
    run.beforeStart?.();
    if (world.running.has(name)) world.overlaps.push(`${name}: ${world.running.get(name)} and ${id}`);
    world.running.set(name, id);
    await new Promise((resolve) => run.stop.addEventListener('abort', resolve, { once: true }));
    await sleep(5); // units in hand finishing
    world.running.delete(name);
    return { name, stored: 0, duplicates: 0, collisions: 0, dead_letters: 0, gaps: 0 };
  };
  const sink = async () => ({ write: async () => ({ stored: 0, duplicates: 0, collisions: 0, deadLetters: 0 }), close: async () => undefined, restart: () => undefined });
  const stop = new AbortController();
  const done = runReplica(replica, sources, runOne as never, store, (o.openSink ?? sink) as never, quiet(), stop.signal).finally(() => store.close());
  return { replica, stop: () => (stop.abort(), done), done };
}

const world = () => ({ running: new Map<string, string>(), overlaps: [] as string[] });

async function until(what: string, ok: () => boolean, ms = 5_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!ok()) {
    assert.ok(Date.now() < deadline, what);
    await sleep(10);
  }
}

describe('finding 11: a source\'s lease does not depend on how sources are grouped', () => {
  it('two replicas whose configs group the sources differently (a tenant added on one) never run one source at once; the difference is said', { timeout: 15_000 }, async () => {
    const index = new MemoryIndex();
    const w = world();
    // a: both sources under one tenant (one group); b: the same sources, each its own group.
    const a = replicaOn(index, 'a', [serviceSource('s1', { tenant: 'acme' }), serviceSource('s2', { tenant: 'acme' })], w);
    const b = replicaOn(index, 'b', [serviceSource('s1'), serviceSource('s2')], w);
    try {
      // Each may hold a lease of the other's group: then one source waits (the difference costs that, and is said).
      await until('the sources run', () => w.running.size >= 1);
      await sleep(500);
      assert.deepEqual(w.overlaps, [], 'no source ran on two replicas at once');
      assert.ok(b.replica.coordinator!.differingReplicas.includes('a') && a.replica.coordinator!.differingReplicas.includes('b'), 'the grouping that differs is seen by both');
      // The rolling change reaches a: it stops; b takes the sources, each its own group.
      await a.stop();
      await until('b runs both sources', () => w.running.get('s1') === 'b' && w.running.get('s2') === 'b');
      // a comes back (still grouping by tenant) while b runs them: it waits; b goes, and a takes the whole group.
      const a2 = replicaOn(index, 'a', [serviceSource('s1', { tenant: 'acme' }), serviceSource('s2', { tenant: 'acme' })], w);
      await sleep(200);
      await b.stop();
      await until('a runs both sources of its group', () => w.running.get('s1') === 'a' && w.running.get('s2') === 'a');
      await a2.stop();
    } finally {
      await Promise.all([a.stop(), b.stop()]);
    }
    assert.deepEqual(w.overlaps, [], 'no source ran on two replicas at once');
    const doc = (await index.get<SourceDoc>(sourceDocId('s1')))!.doc;
    assert.deepEqual(doc.history.map((h) => h.epoch), Array.from({ length: doc.epoch }, (_, i) => i + 1), 'one claim per epoch of s1, whichever grouping claimed it');
  });
});

describe('finding 12: a deleted or re-created state index, a missing source document', () => {
  it('the index re-created under running replicas stops every source, loudly (the replica fails), instead of starting over at epoch 0', { timeout: 10_000 }, async () => {
    const index = new MemoryIndex();
    const w = world();
    const a = replicaOn(index, 'a', [serviceSource('s1')], w);
    await until('s1 runs', () => w.running.get('s1') === 'a');
    index.recreate();
    const ended = await Promise.race([a.done, sleep(2_000).then(() => undefined)]);
    assert.ok(ended, 'the replica stopped by itself');
    assert.match(ended[0]!.failure ?? '', /deleted or re-created/);
    assert.equal(w.running.size, 0, 'the source stopped');
    await a.stop();
  });

  it('a replica that ran before refuses at start an index that holds no marker or another one (re-created while every replica was down)', { timeout: 10_000 }, async () => {
    const index = new MemoryIndex();
    const dir = tempDir('cluster-finding12');
    const w = world();
    const first = replicaOn(index, 'a', [serviceSource('s1')], w, { dir });
    await until('s1 runs', () => w.running.get('s1') === 'a');
    await first.stop();
    index.recreate();
    const again = replicaOn(index, 'a', [serviceSource('s1')], w, { dir });
    const ended = await Promise.race([again.done, sleep(2_000).then(() => undefined)]);
    assert.ok(ended, 'the restarted replica stopped by itself');
    assert.match(ended[0]!.failure ?? '', /deleted or re-created/);
    assert.equal(w.running.size, 0, 'nothing ran');
    assert.equal(await index.get(sourceDocId('s1')), undefined, 'no document made anew');
  });

  it('a source document deleted by hand while the deployment had it is refused (said, the replica fails), never started over at epoch 0', { timeout: 10_000 }, async () => {
    const index = new MemoryIndex();
    const w = world();
    const a = replicaOn(index, 'a', [serviceSource('s1'), serviceSource('s2')], w);
    await until('both run', () => w.running.size === 2);
    await a.stop();
    index.remove(sourceDocId('s2'));
    const again = replicaOn(index, 'b', [serviceSource('s1'), serviceSource('s2')], w);
    const ended = await Promise.race([again.done, sleep(2_000).then(() => undefined)]);
    assert.ok(ended, 'the replica stopped by itself');
    assert.match(ended.find((s) => s.name === 's2')!.failure ?? '', /document of source s2 is gone/);
    assert.equal(await index.get(sourceDocId('s2')), undefined, 'not made anew');
  });
});

describe('finding 13: two deployments on one engine, the same state_index and source names', () => {
  it('a source document of a deployment reading another account is refused, with the setting to change', async () => {
    const index = new MemoryIndex();
    const ours = new LeaseBook(asIndex(index), { replica: 'ours-1', leaseMs: 10_000 });
    await ours.register('s1', 'account-digest-ours');
    assert.ok(await ours.claim('s1'));
    const theirs = new LeaseBook(asIndex(index), { replica: 'theirs-1', leaseMs: 10_000 });
    await assert.rejects(theirs.register('s1', 'account-digest-theirs'), /another Mimecast account.*cluster\.state_index/);
    const late = new LeaseBook(asIndex(index), { replica: 'theirs-2', leaseMs: 10_000 });
    await assert.rejects(late.register('s1', 'account-digest-theirs').then(() => late.claim('s1')), /cluster\.state_index/);
  });

  it('replicas of another deployment (no source in common) do not count as live: they do not shrink this one\'s share', { timeout: 10_000 }, async () => {
    const index = new MemoryIndex();
    const w = world();
    const other = replicaOn(index, 'z', [serviceSource('other-1'), serviceSource('other-2')], w);
    const a = replicaOn(index, 'a', [serviceSource('s1'), serviceSource('s2')], w);
    try {
      await until('a runs both of its sources (its share is both)', () => w.running.get('s1') === 'a' && w.running.get('s2') === 'a', 3_000);
      assert.equal(a.replica.coordinator!.liveReplicas, 1);
    } finally {
      await Promise.all([a.stop(), other.stop()]);
    }
  });
});

describe('finding 14: the owner gives up before any claimant can take over', () => {
  it('the owner stops writing at 80 % of the lease by its own clock, and when its wall clock moved a lease on (a suspend)', async () => {
    const index = new MemoryIndex();
    let [mono, wall] = [1_000, 1_700_000_000_000];
    const a = new LeaseBook(asIndex(index), { replica: 'a', leaseMs: 1_000, now: () => mono, wall: () => wall });
    await a.register('s1');
    const lease = (await a.claim('s1'))!;
    mono += 790;
    wall += 790;
    await lease.renew();
    mono += 810;
    wall += 810;
    assert.ok(lease.remainingMs() <= 0, `remaining ${lease.remainingMs()} ms at 81 % of the lease`);
    await assert.rejects(lease.renew(), /lease of source s1 lost/);
    // Suspended: the monotonic clock stood still, the wall clock did not.
    const b = new LeaseBook(asIndex(index), { replica: 'b', leaseMs: 1_000, now: () => mono, wall: () => wall });
    await b.inspect('s1');
    mono += 1_000; // a's lease runs out by b's clock: b takes it over
    wall += 1_000;
    const held = (await b.claim('s1'))!;
    wall += 5_000;
    mono += 10;
    await assert.rejects(held.renew(), /lease of source s1 lost/);
  });
});

describe('finding 15: back-off and hysteresis', () => {
  it('a source whose sink never opens is not claimed and released every interval: epochs grow by a back-off, not per round', { timeout: 10_000 }, async () => {
    const index = new MemoryIndex();
    const w = world();
    const a = replicaOn(index, 'a', [serviceSource('s1')], w, { leaseMs: 3_000, renewMs: 20, openSink: () => Promise.reject(new Error('the destination refused the credentials')) });
    await sleep(1_000);
    await a.stop();
    const { epoch } = (await index.get<SourceDoc>(sourceDocId('s1')))!.doc;
    assert.ok(epoch <= 7, `claimed ${epoch} times in 1 s with a 20 ms renew interval`);
  });

  it('after an outage that failed its runs again and again, a source is claimed again within four leases of the end, not after the five-minute back-off', { timeout: 15_000 }, async () => {
    const index = new MemoryIndex();
    const w = world();
    const openAt = Date.now() + 3_000; // the destination refuses for 3 s: the group's runs end again and again
    const sink = async () => ({ write: async () => ({ stored: 0, duplicates: 0, collisions: 0, deadLetters: 0 }), close: async () => undefined, restart: () => undefined });
    const openSink = () => (Date.now() < openAt ? Promise.reject(new Error('the engine is restarting')) : sink());
    const a = replicaOn(index, 'a', [serviceSource('s1')], w, { leaseMs: 200, renewMs: 20, openSink });
    try {
      await until('s1 runs again within four leases (800 ms) of the outage\'s end', () => w.running.size === 1, 3_000 + 4 * 200 + 500);
    } finally {
      await a.stop();
    }
  });

  it('a replica that sees another come and go every round does not hand its sources back and forth', { timeout: 10_000 }, async () => {
    const index = new MemoryIndex();
    const w = world();
    // b's heartbeat moves every round but a sees it only every other round (a flaky view of b).
    let beats = 0;
    const beating = setInterval(() => void index.put('replica:b', { kind: 'replica', replica: 'b', beats: ++beats, left: false, owns: [], sources: ['s1', 's2'], at: '' }), 10);
    let looks = 0;
    index.listFilter = (doc) => doc.replica !== 'b' || looks++ % 2 === 0;
    const a = replicaOn(index, 'a', [serviceSource('s1'), serviceSource('s2')], w, { leaseMs: 200, renewMs: 20 });
    try {
      await until('a runs both', () => w.running.size === 2);
      await sleep(1_000);
    } finally {
      clearInterval(beating);
      await a.stop();
    }
    const epochs = await Promise.all(['s1', 's2'].map(async (s) => (await index.get<SourceDoc>(sourceDocId(s)))!.doc.epoch));
    assert.deepEqual(epochs, [1, 1], 'each claimed once');
  });
});
