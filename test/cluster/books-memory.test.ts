/**
 * The books' counts on an in-memory stand-in for the state index (no engine): a fenced write that
 * went through but whose answer was lost (the client sent it again, the copy was refused with 409)
 * is recognised by its commit id and counted once, not twice.
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { describe, it } from 'node:test';
import { Logger } from '../../src/log/logger.js';
import { DeliveringSink } from '../../src/sinks/delivering-sink.js';
import { prepareUnit } from '../../src/store/prepared.js';
import { Store } from '../../src/store/store.js';
import { restoreCheckpoints } from '../../src/cluster/checkpoints.js';
import { type SourceDoc, sourceDocId } from '../../src/cluster/leases.js';
import { EngineBooks, type SourceBooks, unitCommitId } from '../../src/cluster/books.js';
import { leaseFence } from '../../src/service/replica.js';
import { processInput, tempDir } from '../support/helpers.js';
import { MemoryIndex, claimedLease } from './memory-index.js';

const quiet = () => new Logger(new PassThrough(), 'error');

describe('books on an in-memory state index', () => {
  it('a fenced write whose answer was lost (sent again, refused 409, the document holds it) is counted once', async () => {
    const index = new MemoryIndex();
    const lease = await claimedLease(index);
    const store = new Store(join(tempDir('books-memory'), 'a.db'));
    const engine = new EngineBooks(undefined as never, index.name); // no dead letters, collisions or gaps here: nothing but the lease document is written
    const accepting = { name: 'engine', deliver: async (u: { events: unknown[] }) => ({ indexed: u.events.length, duplicates: 0, collisions: [], rejected: [], resent: 0 }), close: async () => undefined };
    const sink = new DeliveringSink(store, [accepting], { keepEvents: false, beforeCommit: leaseFence(lease, { engine, source: 's', log: quiet() }) }, quiet());
    const unit = async (position: number) => ({ ...(await processInput('s.json', `{"datetime":"2026-12-06T10:00:0${position}Z","aCode":"a${position}","Act":"Acc"}\n`)), source: 'k', position, last: false });
    await sink.write(await unit(1), { kind: 'mimecast-v2-stream', key: 'k', token: 't1' });
    index.loseNextAnswer();
    await sink.write(await unit(2), { kind: 'mimecast-v2-stream', key: 'k', token: 't2' });
    const doc = (await index.get<SourceDoc & { books: Record<string, SourceBooks> }>(sourceDocId('s')))!.doc;
    assert.equal(doc.checkpoints.k!.cursor, 't2');
    assert.deepEqual(doc.books.s!.counts, { units: 2, stored: 2, duplicates: 0, collisions: 0, dead_letters: 0, gaps: 0 });
    await sink.close();
    store.close();
  });

  it('two units that differ only in their events (same origin, position and checkpoint) are two units, though the store keeps no events', async () => {
    const one = await processInput('s.json', '{"datetime":"2026-12-06T10:00:01Z","aCode":"x1","Act":"Acc"}\n');
    const two = await processInput('s.json', '{"datetime":"2026-12-06T10:00:02Z","aCode":"x2","Act":"Acc"}\n');
    const at = (u: typeof one) => prepareUnit({ ...u, source: 'k', position: 5, last: false }, { events: false });
    const moves = { k: { kind: 'mimecast-v2-stream', position: 0, cursor: 't', complete: false, newest_event_ms: null, newest_by_type: {} } };
    assert.notEqual(unitCommitId('s', at(one), moves), unitCommitId('s', at(two), moves));
    assert.equal(unitCommitId('s', at(one), moves), unitCommitId('s', at(one), moves));
  });

  it('a unit whose checkpoint reached the engine but not the store (a crash) is done again one unit back and counted once', async () => {
    const index = new MemoryIndex();
    const dir = tempDir('books-memory-redo');
    const accepting = { name: 'engine', deliver: async (u: { events: unknown[] }) => ({ indexed: u.events.length, duplicates: 0, collisions: [], rejected: [], resent: 0 }), close: async () => undefined };
    const engine = new EngineBooks(undefined as never, index.name);
    const unit = async (position: number) => ({ ...(await processInput('s.json', `{"datetime":"2026-12-06T10:00:0${position}Z","aCode":"a${position}","Act":"Acc"}\n`)), source: 'k', position, last: false });
    const token = (t: string) => ({ kind: 'mimecast-v2-stream' as const, key: 'k', token: t });
    const lease = await claimedLease(index);
    const store = new Store(join(dir, 'a.db'));
    const fence = leaseFence(lease, { engine, source: 's', log: quiet() });
    const sink = new DeliveringSink(store, [accepting], { keepEvents: false, beforeCommit: fence }, quiet());
    await sink.write(await unit(1), token('t1'));
    await sink.close();
    // Unit 2's fenced write lands; the process dies before its store commits the unit.
    const two = prepareUnit(await unit(2), { events: false });
    await fence(two, token('t2'), [{ destination: 'engine', report: { indexed: 1, duplicates: 0, collisions: [], rejected: [], resent: 0 } }], 0);
    // The restarted process starts one unit back (its store never committed t2) and writes unit 2 again.
    const again = await claimedLease(index);
    restoreCheckpoints(store, again.doc.checkpoints);
    assert.equal(store.registry.checkpoint('k')?.cursor, 't1');
    const redo = new DeliveringSink(store, [accepting], { keepEvents: false, beforeCommit: leaseFence(again, { engine, source: 's', log: quiet() }) }, quiet());
    await redo.write(await unit(2), token('t2'));
    await redo.close();
    const doc = (await index.get<SourceDoc & { books: Record<string, SourceBooks> }>(sourceDocId('s')))!.doc;
    assert.equal(doc.checkpoints.k!.cursor, 't2');
    assert.deepEqual(doc.books.s!.counts, { units: 2, stored: 2, duplicates: 0, collisions: 0, dead_letters: 0, gaps: 0 }, 'unit 2 counted once');
    store.close();
  });
});
