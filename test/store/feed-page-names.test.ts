/**
 * A dead letter's feed is what its unit said (schema 20), never read from its source's name by
 * replay: a file may be named like a feed's page (`ingest` keeps the path as given, a spool's
 * sub-folder too), and its record would be typed as that feed's. Only the upgrade to schema 20
 * reads the names of older rows, once, and only of pages of a feed the store collected.
 */
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import Database from 'better-sqlite3';
import { Store } from '../../src/store/store.js';
import { runCli, tempDir } from '../support/helpers.js';
import { query } from '../support/simulator.js';
import { asSchema19 } from './older-schema.js';

const FEED_KEY = 'mimecast-v2-feed https://api.services.mimecast.com audit';
const pageName = (key: string) => `${key} window 2026-12-01T00:00:00+0000 page 0`;
/** An audit-looking record nested 40 deep: dead-lettered under --max-json-depth 20, stored under 300. */
const deepRecord = () => {
  const deep: Record<string, unknown> = { v: 0 };
  let at = deep;
  for (let i = 1; i < 40; i++) at = (at.n = { v: i }) as Record<string, unknown>;
  return JSON.stringify({ id: 'x1', auditType: 'Logon', eventTime: '2026-12-01T10:00:00Z', user: 'a@b.example', deep });
};

describe('a feed is never read from a dead letter\'s source name', () => {
  it('a file named like a feed\'s page: its dead letter has no feed, and replay types its record as a file\'s, not as the feed\'s', async () => {
    const dir = tempDir('feed-names');
    const name = pageName('mimecast-v2-feed x audit');
    writeFileSync(join(dir, name), `${deepRecord()}\n`);
    const db = join(dir, 'm.db');
    assert.equal((await runCli(['ingest', '--db', db, name, '--max-json-depth', '20', '--summary', 'none'], { cwd: dir })).code, 2);
    assert.deepEqual(query(db, 'SELECT source, feed FROM dead_letters'), [{ source: name, feed: null }]);
    const replay = await runCli(['replay', '--db', db, '--max-json-depth', '300', '--json'], { cwd: dir });
    assert.equal(replay.code, 0, replay.stderr);
    const stored = query<{ log_type: string; s: string }>(db, 'SELECT log_type, log_type_source AS s FROM stored_events');
    assert.equal(stored.length, 1);
    assert.notEqual(stored[0]!.s, 'feed', `typed as the file's record, not by a feed its name spells: ${JSON.stringify(stored)}`);
  });

  it('the upgrade from schema 19 gives an older page of a feed the store collected its feed, and a file named like one none', () => {
    const dir = tempDir('feed-names');
    const db = join(dir, 'm.db');
    new Store(db).close();
    const raw = new Database(db);
    asSchema19(raw);
    raw.prepare("INSERT INTO checkpoints (source, kind, position, complete, cursor, updated_at) VALUES (?, 'mimecast-v2-feed', 0, 0, '0', 0)").run(FEED_KEY);
    const insert = raw.prepare("INSERT INTO dead_letters (source, position, reason, raw, raw_is_text, raw_digest, created_at) VALUES (?, 1, 'too deep', ?, 1, ?, 0)");
    insert.run(pageName(FEED_KEY), Buffer.from(deepRecord()), 'a');
    insert.run(pageName('mimecast-v2-feed spool/x audit'), Buffer.from(deepRecord()), 'b');
    raw.close();
    new Store(db).close();
    assert.deepEqual(query(db, 'SELECT source, feed FROM dead_letters ORDER BY rowid'), [
      { source: pageName(FEED_KEY), feed: 'audit' },
      { source: pageName('mimecast-v2-feed spool/x audit'), feed: null },
    ]);
  });
});
