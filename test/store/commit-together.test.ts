/**
 * The writer thread commits the units waiting for it in one transaction (sinks/sqlite-worker.ts,
 * Store.writePreparedTogether): each unit still answered with its own counts, its checkpoint in the
 * same transaction as its events, and all or none of them stored.
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import type { SourceState } from '../../src/core/sink.js';
import type { Unit } from '../../src/core/unit.js';
import { takeEvents, toKeyValueLine } from '../../src/simulator/generate.js';
import { SqliteWorkerSink } from '../../src/sinks/sqlite.js';
import { prepareUnit } from '../../src/store/prepared.js';
import { Store } from '../../src/store/store.js';
import { processInput, tempDir } from '../support/helpers.js';

const lines = takeEvents({ seed: 77, startMs: Date.UTC(2026, 8, 1) }, 600).map(toKeyValueLine);

/** The lines as units of `size` records of one file, each with the position of its last record. */
async function unitsOf(size: number): Promise<Unit[]> {
  const units: Unit[] = [];
  for (let at = 0; at < lines.length; at += size) {
    const unit = await processInput('a.log', lines.slice(at, at + size).join('\n'));
    units.push({ ...unit, position: at + size, events: unit.events.map((e) => ({ ...e, position: e.position + at })), last: at + size >= lines.length });
  }
  return units;
}

const FILE = { kind: 'file' } as const;
const eventCount = (store: Store) => store.db.prepare('SELECT count(*) FROM events').pluck().get() as number;

/** What the store at `path` holds once the writer is closed: its events and the file source's checkpoint. */
function storedAt(path: string): { events: number; position: number | undefined } {
  const store = new Store(path, { readonly: true });
  try {
    return { events: eventCount(store), position: store.registry.checkpoint('a.log')?.position };
  } finally {
    store.close();
  }
}

describe('units committed together', () => {
  it('stores each unit with its own counts and checkpoint, and none of them when one fails', async () => {
    const store = new Store(join(tempDir('together'), 's.db'));
    try {
      const [a, b, c, d] = (await unitsOf(150)).map((u) => prepareUnit(u));
      const counts = store.writePreparedTogether([{ unit: a!, state: FILE }, { unit: b!, state: FILE }]);
      assert.deepEqual(counts.map((n) => n.stored), [150, 150]);
      assert.equal(store.registry.checkpoint('a.log')?.position, 300);
      // A unit whose first event cannot be stored (no id): the unit before it in the same transaction goes back with it.
      const broken = { ...d!, events: [{ ...d!.events[0]!, idKey: null as unknown as Uint8Array }, ...d!.events.slice(1)] };
      assert.throws(() => store.writePreparedTogether([{ unit: c!, state: FILE }, { unit: broken, state: FILE }]), /NOT NULL/);
      assert.equal(eventCount(store), 300);
      assert.equal(store.registry.checkpoint('a.log')?.position, 300, 'no checkpoint moved past a unit that was not stored');
      assert.deepEqual(store.writePreparedTogether([{ unit: c!, state: FILE }, { unit: d!, state: FILE }]).map((n) => n.stored), [150, 150]);
      assert.equal(store.registry.checkpoint('a.log')?.position, 600);
    } finally {
      store.close();
    }
  });

  it('the writer thread: a unit that fails does not take the units before it in the same transaction with it', async () => {
    const path = join(tempDir('together-fail'), 's.db');
    const sink = new SqliteWorkerSink(path);
    const [a, b, c] = await unitsOf(200);
    // Its work item has no state (NOT NULL): this unit cannot be stored. Written before the thread is
    // ready, all three wait for it and are taken together.
    const broken = { kind: 'mimecast-v2', key: 'k', workItem: { stream: 's', key: 'i', state: null } } as unknown as SourceState;
    const answers = await Promise.allSettled([sink.write(a!, FILE), sink.write(b!, FILE), sink.write(c!, broken)]);
    await sink.close();
    assert.deepEqual(answers.map((r) => r.status), ['fulfilled', 'fulfilled', 'rejected']);
    const stored = storedAt(path);
    assert.equal(stored.events, 400, 'the two units answered stored are stored');
    assert.equal(stored.position, 400);
  });

  it('the writer thread: units written without waiting are each answered with their own counts, in order, and all stored', async () => {
    const path = join(tempDir('together-worker'), 's.db');
    const sink = new SqliteWorkerSink(path);
    const units = await unitsOf(20);
    try {
      const counts = await Promise.all(units.map((u) => sink.write(u, FILE)));
      assert.deepEqual(counts.map((n) => [n.stored, n.duplicates]), units.map(() => [20, 0]));
      const again = await Promise.all(units.slice(0, 5).map((u) => sink.write(u, FILE)));
      assert.deepEqual(again.map((n) => [n.stored, n.duplicates]), units.slice(0, 5).map(() => [0, 20]));
    } finally {
      await sink.close();
    }
    const stored = storedAt(path);
    assert.equal(stored.events, lines.length);
    assert.equal(stored.position, 100, 'the last unit written: the fifth again');
  });
});
