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
import { search } from '../../src/store/queries.js';
import { Store } from '../../src/store/store.js';
import { processInput, tempDir } from '../support/helpers.js';

const events = takeEvents({ seed: 31, startMs: Date.UTC(2026, 5, 1) }, 1500);

/** A store of the current schema holding `events` as API 1.0 key_value lines. */
async function storeOfV1(name: string): Promise<string> {
  const path = join(tempDir(name), 's.db');
  const store = new Store(path);
  store.writeUnit(await processInput('v1.log', events.map(toKeyValueLine).join('\n')));
  store.close();
  return path;
}

/** Puts back what schema 16 changed: the time index without the action, and the action's own index. */
function asSchema15(db: Database.Database): void {
  db.exec('DROP INDEX events_ts; CREATE INDEX events_ts ON events(ts); CREATE INDEX events_action_ts ON events(action, ts) WHERE action IS NOT NULL');
  db.pragma('user_version = 15');
}

describe('schema upgrades that shrink the store', () => {
  it('keeps cross-version keys as their first 96 bits (schema 15): a store of schema 14 upgrades, and API 2.0 copies of its API 1.0 events are still duplicates', async () => {
    const path = await storeOfV1('schema-15');
    const raw = new Database(path);
    const rows = (raw.prepare('SELECT count(*) FROM cross_ids').pluck().get() as number);
    assert.ok(rows > 1000);
    asSchema15(raw);
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
});
