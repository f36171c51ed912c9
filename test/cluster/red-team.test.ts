/**
 * The red team's findings 10 to 15 on the cluster (docs/cluster.md), each pinned down against the
 * in-memory stand-in of the state index (test/cluster/memory-index.ts): fast, no engine.
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { describe, it } from 'node:test';
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
import { leaseFence } from '../../src/service/replica.js';
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
