/**
 * Schema changes that shrink the store (issue 31): a store the previous schema wrote opens,
 * upgrades in place, and answers as before.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import Database from 'better-sqlite3';
import { takeEvents, toKeyValueLine, toV2Record } from '../../src/simulator/generate.js';
import { EVENT_BY_ID, byId } from '../../src/store/event-rows.js';
import { eventById, search } from '../../src/store/queries.js';
import { threats } from '../../src/store/threats.js';
import { idTag } from '../../src/store/cross-version.js';
import { trace } from '../../src/store/trace.js';
import { whoElse } from '../../src/store/who.js';
import { Store } from '../../src/store/store.js';
import { processInput, tempDir } from '../support/helpers.js';
import { asSchema17 } from './older-schema.js';

const events = takeEvents({ seed: 31, startMs: Date.UTC(2026, 5, 1) }, 1500);

/** A store of the current schema holding `events` as API 1.0 key_value lines. */
async function storeOfV1(name: string): Promise<string> {
  const path = join(tempDir(name), 's.db');
  const store = new Store(path);
  store.writeUnit(await processInput('v1.log', events.map(toKeyValueLine).join('\n')));
  store.close();
  return path;
}

/** The events table as schema 16 kept it: a UNIQUE index of the whole 16-byte ids, none of their prefixes. */
function asSchema16(db: Database.Database): void {
  asSchema17(db);
  const sql = (db.prepare("SELECT sql FROM sqlite_schema WHERE name = 'events'").pluck().get() as string).replace(/"?events"? \(/, 'events_16 (').replace('id BLOB NOT NULL,', 'id BLOB NOT NULL UNIQUE,');
  const indexes = (db.prepare("SELECT sql FROM sqlite_schema WHERE tbl_name = 'events' AND type = 'index' AND name != 'events_id' AND sql IS NOT NULL").pluck().all() as string[]);
  db.exec(`${sql}; INSERT INTO events_16 SELECT * FROM events; DROP TABLE events; ALTER TABLE events_16 RENAME TO events; ${indexes.join('; ')}`);
  db.pragma('user_version = 16');
}

/** Puts back what schema 16 changed: the time index without the action, and the action's own index. */
function asSchema15(db: Database.Database): void {
  asSchema17(db);
  db.exec('DROP INDEX events_ts; CREATE INDEX events_ts ON events(ts); CREATE INDEX events_action_ts ON events(action, ts) WHERE action IS NOT NULL');
  db.pragma('user_version = 15');
}

describe('schema upgrades that shrink the store', () => {
  it('keeps cross-version keys as their first 96 bits (schema 15): a store of schema 14 upgrades, and API 2.0 copies of its API 1.0 events are still duplicates', async () => {
    const path = await storeOfV1('schema-15');
    const raw = new Database(path);
    asSchema15(raw);
    const rows = (raw.prepare('SELECT count(*) FROM cross_ids').pluck().get() as number);
    assert.ok(rows > 1000);
    // As schema 14 kept them: the whole 16-byte keys, whose first 12 bytes are the ones schema 15 keeps.
    const widen = raw.prepare('UPDATE cross_ids SET key = ? WHERE key = ?');
    for (const key of raw.prepare('SELECT DISTINCT key FROM cross_ids').pluck().all() as Buffer[]) widen.run(Buffer.concat([key, randomBytes(4)]), key);
    raw.pragma('user_version = 14');
    raw.close();
    const store = new Store(path);
    try {
      assert.deepEqual(store.db.prepare('SELECT length(key) AS bytes, count(*) AS n FROM cross_ids GROUP BY 1').all(), [{ bytes: 12, n: rows }]);
      const v2 = await processInput('v2-batch.ndjson', events.map((e, i) => JSON.stringify(toV2Record(e, { shape: 'batch', partition: 3, offset: i }))).join('\n'));
      const counts = store.writeUnit(v2);
      assert.equal(counts.stored, v2.events.length - rows, 'only the events API 1.0 did not serve are new');
      assert.equal(counts.duplicates, rows);
    } finally {
      store.close();
    }
  });

  it('keeps the action in the time index (schema 16): a store of schema 15 upgrades, and search --action answers as before', async () => {
    const path = await storeOfV1('schema-16');
    const raw = new Database(path);
    asSchema15(raw);
    const before = (action: string) => search(raw, { action, limit: 30 }).map((r) => r.id);
    const expected = { Rej: before('Rej'), Acc: before('Acc'), Hld: before('Hld') };
    assert.ok(expected.Rej.length > 0 && expected.Acc.length === 30);
    raw.close();
    const store = new Store(path);
    try {
      assert.equal(store.db.prepare("SELECT count(*) FROM sqlite_schema WHERE name = 'events_action_ts'").pluck().get(), 0);
      for (const [action, ids] of Object.entries(expected)) assert.deepEqual(search(store.db, { action, limit: 30 }).map((r) => r.id), ids, action);
      const plan = store.db.prepare("EXPLAIN QUERY PLAN SELECT rowid FROM events e WHERE e.action = 3 ORDER BY e.ts DESC, e.rowid DESC LIMIT 50").all() as { detail: string }[];
      assert.ok(plan.some((p) => /USING COVERING INDEX events_ts/.test(p.detail)), JSON.stringify(plan));
    } finally {
      store.close();
    }
  });

  it('indexes the first 8 bytes of event ids (schema 17): a store of schema 16 upgrades, answers as before, and still finds each id as a duplicate', async () => {
    const path = await storeOfV1('schema-17');
    const raw = new Database(path);
    // The answers of the current schema (its readers look keys up as it keeps them), before it is put back.
    const newest = search(raw, { limit: 40 });
    const sample = newest.flatMap((r) => [r.message_id, r.acode, r.id]).filter((q): q is string => q !== null);
    assert.ok(sample.length > 40);
    const ask = (db: Database.Database) => ({
      byId: newest.map((r) => eventById(db, r.id)),
      traces: sample.map((q) => trace(db, q)),
      who: sample.slice(0, 6).map((q) => whoElse(db, q)),
    });
    const expected = ask(raw);
    assert.ok(expected.byId.every((d) => d !== undefined));
    asSchema16(raw);
    assert.equal(raw.prepare("SELECT count(*) FROM sqlite_schema WHERE name = 'sqlite_autoindex_events_1'").pluck().get(), 1);
    raw.close();
    const store = new Store(path);
    try {
      const objects = store.db.prepare("SELECT name FROM sqlite_schema WHERE tbl_name = 'events' AND type = 'index' ORDER BY name").pluck().all();
      assert.deepEqual(objects, ['events_acode', 'events_id', 'events_message', 'events_ts']);
      assert.deepEqual(ask(store.db), expected);
      assert.equal(store.db.pragma('freelist_count', { simple: true }), 0, 'the old table\'s pages are given back to the file system');
      const plan = store.db.prepare(`EXPLAIN QUERY PLAN SELECT rowid FROM events e WHERE ${EVENT_BY_ID}`).all(...byId(Buffer.alloc(16))) as { detail: string }[];
      assert.ok(plan.some((p) => /USING INDEX events_id/.test(p.detail)), JSON.stringify(plan));
      const again = store.writeUnit(await processInput('v1.log', events.map(toKeyValueLine).join('\n')));
      assert.equal(again.stored, 0);
      assert.equal(again.duplicates, store.db.prepare('SELECT count(*) FROM events').pluck().get());
    } finally {
      store.close();
    }
  });

  it('keys cross_ids by the events rowid, reads the log type from the time index and drops the digest (schema 18): a store of schema 17 upgrades, answers as before, and copies from either API are still duplicates', async () => {
    const path = join(tempDir('schema-18'), 's.db');
    const v2Batch = async (from: number, to: number) => processInput('v2-batch.ndjson', events.slice(from, to).map((e, i) => JSON.stringify(toV2Record(e, { shape: 'batch', partition: 3, offset: from + i }))).join('\n'));
    const first = new Store(path);
    first.writeUnit(await processInput('v1.log', events.slice(0, 1200).map(toKeyValueLine).join('\n')));
    const mixed = first.writeUnit(await v2Batch(0, events.length));
    first.close();
    assert.ok(mixed.duplicates > 500 && mixed.stored > 100, 'API 2.0 copies recognised (rows of cross_copies) and API 2.0 events of its own stored');
    const raw = new Database(path);
    // The answers of the current schema (its readers look keys up as it keeps them), before it is put back.
    const newest = search(raw, { limit: 40 });
    const sample = newest.flatMap((r) => [r.message_id, r.acode]).filter((q): q is string => q !== null);
    // Three time ranges, each a quarter of the events (their times are not spread evenly).
    const quartile = (q: number) => raw.prepare('SELECT ts FROM events ORDER BY ts LIMIT 1 OFFSET (SELECT count(*) FROM events) * ? / 4').pluck().get(q) as number;
    const thirds = [0, 1, 2].map((q) => ({ from: quartile(q), to: quartile(q + 1) }));
    const ask = (db: Database.Database) => ({
      byType: ['delivery', 'receipt', 'process'].flatMap((type) => [search(db, { type, limit: 30 }), ...thirds.map((range) => search(db, { type, ...range, limit: 30 }))]).map((rows) => rows.map((r) => r.id)),
      threats: threats(db),
      traces: sample.slice(0, 20).map((q) => trace(db, q)),
      who: sample.slice(0, 6).map((q) => whoElse(db, q)),
    });
    const expected = ask(raw);
    assert.ok(expected.byType.every((ids) => ids.length > 0));
    asSchema17(raw);
    // The upgrade to 18 looks each id up through 17's index on 8 bytes, which the lookup names beside 19's 4.
    const plan17 = raw.prepare(`EXPLAIN QUERY PLAN SELECT rowid FROM events e WHERE ${EVENT_BY_ID}`).all(...byId(Buffer.alloc(16))) as { detail: string }[];
    assert.ok(plan17.some((p) => /USING INDEX events_id/.test(p.detail)), JSON.stringify(plan17));
    const rowsBefore = raw.prepare('SELECT lower(hex(key)) || api || lower(hex(id)) FROM cross_ids ORDER BY 1').pluck().all() as string[];
    assert.equal(rowsBefore.length, (raw.prepare('SELECT count(*) FROM events').pluck().get() as number) + mixed.duplicates);
    raw.close();
    const store = new Store(path);
    try {
      const objects = store.db.prepare("SELECT name FROM sqlite_schema WHERE tbl_name = 'events' AND type = 'index' ORDER BY name").pluck().all();
      assert.deepEqual(objects, ['events_acode', 'events_id', 'events_message', 'events_ts']);
      assert.equal(store.db.prepare("SELECT count(*) FROM pragma_table_info('events') WHERE name = 'digest'").pluck().get(), 0, 'the digest (the id\'s own first 64 bits) is gone from the row');
      assert.deepEqual(ask(store.db), expected);
      const plan = store.db.prepare('EXPLAIN QUERY PLAN SELECT rowid FROM events e WHERE e.type = 3 AND e.ts >= 0 AND e.ts < 1 ORDER BY e.ts DESC, e.rowid DESC LIMIT 50').all() as { detail: string }[];
      assert.ok(plan.some((p) => /USING COVERING INDEX events_ts/.test(p.detail)), JSON.stringify(plan));
      // Each row names what it did: a stored event by its rowid, a recognised copy by its id's tag.
      const tags = new Map((store.db.prepare('SELECT id FROM cross_copies').pluck().all() as Buffer[]).map((id) => [idTag(id), id.toString('hex')]));
      const described = (store.db.prepare('SELECT lower(hex(c.key)) AS key, c.api, c.event, lower(hex(e.id)) AS id FROM cross_ids c LEFT JOIN events e ON e.rowid = c.event').safeIntegers(true).all() as { key: string; api: bigint; event: bigint; id: string | null }[])
        .map((r) => `${r.key}${r.api}${r.event > 0n ? r.id : tags.get(r.event)}`).sort();
      assert.deepEqual(described, rowsBefore);
      assert.equal(tags.size, mixed.duplicates);
      const again = [store.writeUnit(await processInput('v1.log', events.map(toKeyValueLine).join('\n'))), store.writeUnit(await v2Batch(0, events.length))];
      assert.deepEqual(again.map((c) => [c.stored, c.duplicates]), [[0, events.length], [0, events.length]]);
      // API 1.0's lines of the events only API 2.0 served before: copies met now, one row each.
      assert.equal(store.db.prepare('SELECT count(*) FROM cross_ids').pluck().get(), rowsBefore.length + events.length - 1200);
    } finally {
      store.close();
    }
  });

  it('tells two ids that share their first 4 bytes (the index\'s, schema 19) apart: each is found as itself, and a new one is stored, not taken for the other', async () => {
    const path = await storeOfV1('id-prefix');
    const store = new Store(path);
    try {
      const [a, b] = store.db.prepare('SELECT rowid, id FROM events ORDER BY rowid LIMIT 2').all() as { rowid: number; id: Buffer }[];
      const docOf = (id: Buffer) => JSON.parse(eventById(store.db, id.toString('hex'))!.doc) as { event: { id: string } };
      const aDoc = docOf(a!.id);
      // a's row (the older) as if its id began as b's does (ids that share 32 bits: about n²/2³³ pairs over a store's life).
      const twin = Buffer.concat([b!.id.subarray(0, 4), a!.id.subarray(4)]);
      store.db.prepare('UPDATE events SET id = ? WHERE rowid = ?').run(twin, a!.rowid);
      assert.equal(docOf(b!.id).event.id, b!.id.toString('hex'));
      assert.deepEqual(docOf(twin), aDoc);
      assert.equal(eventById(store.db, a!.id.toString('hex')), undefined);
      const again = store.writeUnit(await processInput('v1.log', events.map(toKeyValueLine).join('\n')));
      assert.equal(again.collisions, 0, 'b is a duplicate of itself, not a collision with the twin found first');
      assert.equal(store.db.prepare('SELECT count(*) FROM collisions').pluck().get(), 0);
    } finally {
      store.close();
    }
  });
});
