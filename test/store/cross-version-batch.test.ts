/**
 * Issue 31 (search sink): a remote sink decides a unit's cross-version copies with a fixed number
 * of statements, not two per event, and decides exactly as one `decide` per event would.
 * Real pipeline units, a real SQLite store.
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import type Database from 'better-sqlite3';
import type { Unit } from '../../src/core/unit.js';
import { LOG_TYPES } from '../../src/mimecast/log-types.js';
import { takeEvents, toKeyValueLine, toV2Record } from '../../src/simulator/generate.js';
import { type CrossCandidate, type CrossDecision, CrossVersionIndex, PendingCrossRows, withoutCopies } from '../../src/store/cross-version.js';
import { hashDigest } from '../../src/store/documents.js';
import { prepareUnit } from '../../src/store/prepared.js';
import { Store } from '../../src/store/store.js';
import { processInput, tempDir } from '../support/helpers.js';

const events = takeEvents({ seed: 31, startMs: Date.UTC(2026, 5, 1) }, 3000);
const receipts = events.filter((e) => e.logType === 'receipt');
const PREFIX = LOG_TYPES.find((t) => t.name === 'receipt')!.filePrefixes[0]!;

const v1Unit = (list: typeof events) => processInput(`${PREFIX}20260601.log`, list.map(toKeyValueLine).join('\n'));
const v2Unit = (list: typeof events) => processInput('v2-batch.ndjson', list.map((e, i) => JSON.stringify(toV2Record(e, { shape: 'batch', partition: 1, offset: i }))).join('\n'));

/** A store that has delivered `unit` to a remote destination (its cross-version rows recorded). */
function delivered(store: Store, unit: Unit): void {
  const d = withoutCopies(store.crossVersion, new PendingCrossRows(), unit);
  const report = { indexed: d.unit.events.length, duplicates: 0, collisions: [], rejected: [], resent: 0 };
  store.recordDeliveries(prepareUnit(d.unit, { events: false }), [{ destination: 'engine', report }], undefined, d);
}

const candidates = (unit: Unit): CrossCandidate[] => unit.events.map((e) => ({ id: e.id, digest: hashDigest(e.hash), cross: e.cross, logType: e.classification.logType, ts: e.timeMs }));

/** The database with its statements' reads (`get`, `all`, `iterate`) counted. */
function countingReads(db: Database.Database): { db: Database.Database; reads: () => number } {
  let reads = 0;
  const wrap = (statement: Database.Statement): Database.Statement => {
    const proxy: Database.Statement = new Proxy(statement, {
      get(target, name) {
        const value = Reflect.get(target, name) as unknown;
        if (typeof value !== 'function') return value;
        return (...args: unknown[]) => {
          if (name === 'get' || name === 'all' || name === 'iterate') reads++;
          const result = (value as (...a: unknown[]) => unknown).apply(target, args);
          return result === target ? proxy : result; // raw(), safeIntegers() chain
        };
      },
    });
    return proxy;
  };
  const counted = new Proxy(db, { get: (target, name) => (name === 'prepare' ? (sql: string) => wrap(target.prepare(sql)) : Reflect.get(target, name)) });
  return { db: counted, reads: () => reads };
}

describe('cross-version decisions of a remote sink, a unit at a time', () => {
  it('reads the store with a fixed number of statements per unit, whatever its size', async () => {
    const store = new Store(join(tempDir('cross-batch'), 'store.db'));
    delivered(store, await v1Unit(receipts.slice(0, 200)));
    const { db, reads } = countingReads(store.db);
    const index = new CrossVersionIndex(db);
    const unit = await v2Unit(events);
    assert.ok(unit.events.length >= 3000);
    withoutCopies(index, new PendingCrossRows(), unit);
    assert.ok(reads() <= 2, `${reads()} reads for a unit of ${unit.events.length} events`);
    store.close();
  });

  it('decides as one decide per event would: copies of delivered events, ids met again, new events, an id twice in the unit', async () => {
    const store = new Store(join(tempDir('cross-batch'), 'store.db'));
    delivered(store, await v1Unit(receipts.slice(0, 300)));
    delivered(store, await v2Unit(events.slice(0, 100)));
    // Copies through API 2.0 of API 1.0 events, events read again, new ones, and one record twice.
    const unit = await v2Unit([...events.slice(0, 2000), events[1500]!]);
    const one = new PendingCrossRows();
    const oneByOne: CrossDecision[] = candidates(unit).map((c) => {
      const d = store.crossVersion.decide(c, one);
      if (d.row) one.add(d.row);
      return d;
    });
    const all = store.crossVersion.decideAll(candidates(unit), new PendingCrossRows());
    // The id's stored form is a cache in the row (made by whichever side needs it first), not part of the decision.
    const decided = (ds: CrossDecision[]) => ds.map(({ copy, row }) => ({ copy, row: row && { ...row, idKey: undefined } }));
    assert.deepEqual(decided(all), decided(oneByOne));
    const copies = all.filter((d) => d.copy).length;
    assert.ok(copies > 100 && copies < unit.events.length, `${copies} copies: the unit mixes copies and new events`);
    store.close();
  });
});
