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
    await leaseFence(lease)(prepareUnit(unit(2), { events: false }), stream('token-2'));
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
function replicaOn(index: MemoryIndex, id: string, sources: readonly ServiceSource[], world: { running: Map<string, string>; overlaps: string[] }, o: { leaseMs?: number; renewMs?: number; dir?: string; openSink?: () => Promise<never> } = {}) {
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
      await until('the sources run', () => w.running.size === 2);
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
