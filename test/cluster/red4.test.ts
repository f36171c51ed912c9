/**
 * Red-team round 4 on an in-memory stand-in for the state index (no engine): the checkpoint kept
 * one unit back (`previous`) must stay the one before the unit, however often that unit's
 * checkpoint is written again.
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { describe, it } from 'node:test';
import { Logger } from '../../src/log/logger.js';
import { prepareUnit } from '../../src/store/prepared.js';
import { Store } from '../../src/store/store.js';
import { restoreCheckpoints } from '../../src/cluster/checkpoints.js';
import { LeaseBook, type SourceDoc, sourceDocId } from '../../src/cluster/leases.js';
import { EngineBooks } from '../../src/cluster/books.js';
import type { StateIndex } from '../../src/cluster/state-index.js';
import { leaseFence } from '../../src/service/replica.js';
import { DeliveringSink } from '../../src/sinks/delivering-sink.js';
import { processInput, tempDir } from '../support/helpers.js';
import { MemoryIndex, claimedLease } from './memory-index.js';

const quiet = () => new Logger(new PassThrough(), 'error');
const token = (t: string) => ({ kind: 'mimecast-v2-stream' as const, key: 'k', token: t });
const unit = async (position: number) => ({ ...(await processInput('s.json', `{"datetime":"2026-12-06T10:00:0${position}Z","aCode":"a${position}","Act":"Acc"}\n`)), source: 'k', position, last: false });
const report = { destination: 'engine', report: { indexed: 1, duplicates: 0, collisions: [], rejected: [], resent: 0 } };

describe('the checkpoint one unit back', () => {
  it('a write sent again after its answer was lost keeps the checkpoint before the unit as previous', async () => {
    const index = new MemoryIndex();
    const lease = await claimedLease(index);
    const fence = leaseFence(lease, { engine: new EngineBooks(undefined as never, index.name), source: 's', log: quiet() });
    await fence(prepareUnit(await unit(1), { events: false }), token('t1'), [report], 0);
    index.loseNextAnswer();
    await fence(prepareUnit(await unit(2), { events: false }), token('t2'), [report], 0);
    const doc = (await index.get<SourceDoc>(sourceDocId('s')))!.doc;
    assert.equal(doc.checkpoints.k!.cursor, 't2');
    assert.equal(doc.checkpoints.k!.previous?.cursor, 't1', 'the unit before unit 2, not unit 2 itself');
  });

  it('a unit done again one unit back, whose store commit is lost again, is done a third time (not skipped)', async () => {
    const index = new MemoryIndex();
    const store = new Store(join(tempDir('red4-previous'), 'a.db'));
    const engine = new EngineBooks(undefined as never, index.name);
    const accepting = { name: 'engine', deliver: async (u: { events: unknown[] }) => ({ indexed: u.events.length, duplicates: 0, collisions: [], rejected: [], resent: 0 }), close: async () => undefined };
    const claim = () => claimedLease(index);
    const lease = await claim();
    const sink = new DeliveringSink(store, [accepting], { keepEvents: false, beforeCommit: leaseFence(lease, { engine, source: 's', log: quiet() }) }, quiet());
    await sink.write(await unit(1), token('t1'));
    await sink.close();
    // Unit 2's fenced write lands twice, each time the process dies before its store commits the unit.
    for (let crash = 0; crash < 2; crash++) {
      const held = await claim();
      restoreCheckpoints(store, held.doc.checkpoints);
      assert.equal(store.registry.checkpoint('k')?.cursor, 't1', `start ${crash + 1}: one unit back, from t1`);
      await leaseFence(held, { engine, source: 's', log: quiet() })(prepareUnit(await unit(2), { events: false }), token('t2'), [report], 0);
    }
    const last = await claim();
    restoreCheckpoints(store, last.doc.checkpoints);
    assert.equal(store.registry.checkpoint('k')?.cursor, 't1', 'the store never committed unit 2: it is done again');
    store.close();
  });

  it("a hand-edited checkpoint's newest-by-type value that is not a time is not carried into the next checkpoints (which would be refused at every restore)", async () => {
    const index = new MemoryIndex();
    const lease = await claimedLease(index);
    const fence = leaseFence(lease, { engine: new EngineBooks(undefined as never, index.name), source: 's', log: quiet() });
    await fence(prepareUnit(await unit(1), { events: false }), token('t1'), [report], 0);
    index.edit(sourceDocId('s'), (doc) => ({ ...doc, checkpoints: { k: { ...doc.checkpoints.k!, newest_by_type: { ...doc.checkpoints.k!.newest_by_type, bogus: 'not a time' } } } }));
    await lease.release();
    const held = (await new LeaseBook(index as unknown as StateIndex, { replica: 'b', leaseMs: 30_000 }).claim('s'))!;
    const refused: string[] = [];
    const store = new Store(join(tempDir('red4-hostile'), 'b.db'));
    restoreCheckpoints(store, held.doc.checkpoints, (key, reason) => refused.push(`${key}: ${reason}`));
    assert.equal(refused.length, 1, 'the edited checkpoint is refused');
    const fenceB = leaseFence(held, { engine: new EngineBooks(undefined as never, index.name), source: 's', log: quiet() });
    await fenceB(prepareUnit(await unit(2), { events: false }), token('t2'), [report], 0);
    await fenceB(prepareUnit(await unit(3), { events: false }), token('t3'), [report], 0);
    refused.length = 0;
    restoreCheckpoints(store, (await index.get<SourceDoc>(sourceDocId('s')))!.doc.checkpoints, (key, reason) => refused.push(`${key}: ${reason}`));
    assert.deepEqual(refused, [], 'the checkpoints written after it are believed');
    assert.equal(store.registry.checkpoint('k')?.cursor, 't2', 'one unit back (this store holds neither)');
    store.close();
  });
});
