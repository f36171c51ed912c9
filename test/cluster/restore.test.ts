/** A lease document's checkpoints come back from the engine, where anyone may have written them: each entry is checked. */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { MAX_BATCH_ITEMS, restoreCheckpoints, snapshotOf } from '../../src/cluster/checkpoints.js';
import { PassThrough } from 'node:stream';
import type { V2BatchState } from '../../src/core/sink.js';
import type { Unit } from '../../src/core/unit.js';
import { Logger } from '../../src/log/logger.js';
import { DeliveringSink } from '../../src/sinks/delivering-sink.js';
import type { Destination, DestinationReport } from '../../src/sinks/destination.js';
import { LeaseBook, type SourceDoc, sourceDocId } from '../../src/cluster/leases.js';
import type { StateIndex } from '../../src/cluster/state-index.js';
import { leaseFence } from '../../src/service/replica.js';
import { MemoryIndex } from './memory-index.js';
import { Store } from '../../src/store/store.js';
import { tempDir } from '../support/helpers.js';

const accepting: Destination = {
  name: 'accepting',
  deliver: async (u: Unit): Promise<DestinationReport> => ({ indexed: u.events.length, duplicates: 0, collisions: [], rejected: [], resent: 0 }),
  close: async () => undefined,
};
const quiet = new Logger(new PassThrough(), 'error');

const good = (cursor: string) => ({ kind: 'mimecast-v2-stream', position: 0, cursor, complete: false, newest_event_ms: 1_700_000_000_000, newest_by_type: { receipt: 1_700_000_000_000 }, epoch: 3 });

describe('restoring checkpoints from a lease document', () => {
  const dir = tempDir('cluster-restore');

  it('restores the entries that are checkpoints and reports each one that is not, with why, instead of throwing at every start', () => {
    const store = new Store(join(dir, 'mixed.db'));
    try {
      const refused: [string, string][] = [];
      const restored = restoreCheckpoints(store, {
        'mimecast-v2-stream https://a.example': good('token-7'),
        'mimecast-v2-stream https://b.example': null,
        'mimecast-v2-stream https://c.example': { ...good('token-8'), newest_by_type: 'receipt' },
        'mimecast-v2-stream https://d.example': { ...good('token-9'), position: '7' },
        'mimecast-v2-stream https://e.example': { ...good('token-10'), kind: 'spool' },
      }, (key, reason) => refused.push([key, reason]));
      assert.equal(restored, 1);
      assert.equal(store.registry.checkpoint('mimecast-v2-stream https://a.example')?.cursor, 'token-7');
      assert.deepEqual(refused.map(([key]) => key), ['b', 'c', 'd', 'e'].map((h) => `mimecast-v2-stream https://${h}.example`));
      assert.match(refused[1]![1], /newest_by_type/);
      assert.match(refused[2]![1], /position/);
      assert.match(refused[3]![1], /spool/);
      for (const h of ['b', 'c', 'd', 'e']) assert.equal(store.registry.checkpoint(`mimecast-v2-stream https://${h}.example`), undefined);
    } finally {
      store.close();
    }
  });

  it('says so when the checkpoints are not an object at all', () => {
    const store = new Store(join(dir, 'list.db'));
    try {
      const refused: string[] = [];
      assert.equal(restoreCheckpoints(store, ['token'], (_key, reason) => refused.push(reason)), 0);
      assert.deepEqual(refused, ['not an object of checkpoints']);
    } finally {
      store.close();
    }
  });
});

describe('an API 2.0 batch stream\'s work queue in the engine (it runs under cluster:)', () => {
  const S = 'mimecast-v2 https://sim.test receipt';
  const batch = (o: Partial<V2BatchState>): V2BatchState => ({ kind: 'mimecast-v2', key: S, ...o });
  const unitAt = (position: number): Unit => ({ source: S, events: [], deadLetters: [], position, last: false });

  it('the page token and the page\'s finished files move under the lease; a replica taking over lists from the token and skips only the files finished', async () => {
    const dir = tempDir('cluster-batch');
    const index = new MemoryIndex();
    const book = new LeaseBook(index as unknown as StateIndex, { replica: 'a', leaseMs: 30_000 });
    await book.register('b1');
    const lease = (await book.claim('b1'))!;
    const aStore = new Store(join(dir, 'a.db'));
    const sink = new DeliveringSink(aStore, [accepting], { keepEvents: false, beforeCommit: leaseFence(lease) }, quiet);
    const engine = async () => (await index.get<SourceDoc>(sourceDocId('b1')))!.doc.checkpoints[S]!;
    await sink.write(unitAt(0), batch({ listed: { stream: S, pageToken: '', items: [{ key: 'f1' }, { key: 'f2' }] } }));
    await sink.write(unitAt(1), batch({ workItem: { stream: S, key: 'f1', state: 'done' } }));
    await sink.write(unitAt(2), batch({ workItem: { stream: S, key: 'f2', state: 'dead', detail: 'not gzip' } }));
    assert.deepEqual([(await engine()).cursor, (await engine()).items], [null, { f1: 'done', f2: 'dead' }]);
    await sink.write(unitAt(3), batch({ pageToken: 'page-2' }));
    assert.deepEqual([(await engine()).cursor, (await engine()).items], ['page-2', {}], 'the page\'s files are dropped once its token moves on');
    await sink.write(unitAt(4), batch({ listed: { stream: S, pageToken: 'page-2', items: [{ key: 'f3' }, { key: 'f4' }] } }));
    await sink.write(unitAt(5), batch({ workItem: { stream: S, key: 'f3', state: 'done' } }));
    await sink.close();
    const doc = (await index.get<SourceDoc>(sourceDocId('b1')))!.doc;
    // A replica with an empty store: from the page token, f3 finished (its store did not commit the newest: one unit back, f3 again).
    const bStore = new Store(join(dir, 'b.db'));
    restoreCheckpoints(bStore, doc.checkpoints);
    assert.equal(bStore.registry.checkpoint(S)?.cursor, 'page-2');
    assert.equal(bStore.registry.workItemState(S, 'f3'), undefined, 'one unit back: f3 is fetched again (its events are duplicates by id)');
    // The same store as the owner's (it committed every unit): f3 stays finished, f4 to fetch.
    restoreCheckpoints(aStore, doc.checkpoints);
    assert.equal(aStore.registry.workItemState(S, 'f3'), 'done');
    assert.equal(aStore.registry.workItemState(S, 'f4'), undefined);
    for (const s of [aStore, bStore]) s.close();
  });

  it('keeps at most MAX_BATCH_ITEMS finished files (the newest): a page of 10,000 files and more never grows the document without end', () => {
    const before = { kind: 'mimecast-v2', position: 0, cursor: 'page-9', complete: false, newest_event_ms: null, newest_by_type: {}, epoch: 1, items: Object.fromEntries(Array.from({ length: MAX_BATCH_ITEMS }, (_, i) => [`f${i}`, 'done' as const])) };
    const moved = snapshotOf(batch({ workItem: { stream: S, key: 'newest', state: 'done' } }), { ...unitAt(7), newestByType: [], drift: [], untrustedTimes: 0, newestEventMs: undefined } as never, before)!;
    const items = Object.keys(moved.snapshot.items!);
    assert.equal(items.length, MAX_BATCH_ITEMS);
    assert.equal(items.at(-1), 'newest');
    assert.ok(!items.includes('f0'), 'the oldest dropped');
    assert.equal(moved.snapshot.cursor, 'page-9', 'a unit that moves no token keeps it');
  });
});
