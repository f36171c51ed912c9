/**
 * `mimelog replay` of an API 2.0 feed's dead letters, kept by a real collection from the simulator:
 * each keeps its feed (schema 20), and replay reads its bytes as that feed's records again: their
 * log type, dataset and category are the feed's, whether the dead letter is one record or a whole
 * page kept when its window was given up. A store of schema 19 upgrades in place, its older feed
 * dead letters replayed as their feed's too (read from their page's name).
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import Database from 'better-sqlite3';
import { feedNamed } from '../../src/mimecast/feeds.js';
import { MIGRATIONS } from '../../src/store/schema.js';
import { Store } from '../../src/store/store.js';
import { runCli } from '../support/helpers.js';
import { type Running, query, startSimulator, storedIds } from '../support/simulator.js';
import { asSchema19 } from './older-schema.js';

const env = (r: Running): NodeJS.ProcessEnv => ({ MIMECAST_CLIENT_ID: r.info.v2Credentials.clientId, MIMECAST_CLIENT_SECRET: r.info.v2Credentials.clientSecret });

/** `collect --api v2 --feeds <feeds>` of the simulator into `db`, once. */
function collectFeeds(r: Running, db: string, feeds: string, extra: string[] = []) {
  return runCli(['collect', '--api', 'v2', '--feeds', feeds, '--url', r.info.url, '--db', db, '--once', '--retry-base-ms', '20', '--retry-max-ms', '200', '--timeout', '5', ...extra], { env: env(r) });
}

/** Stored events per log type, with how the type was decided. */
const perType = (db: string) => query<{ log_type: string; s: string; n: number }>(db, 'SELECT log_type, log_type_source AS s, count(*) AS n FROM stored_events GROUP BY 1, 2 ORDER BY 1, 2');

/** What replay recovered: each stored event's type, dataset and category (from its document). */
function documentsOf(db: string, type: string): { dataset: string; category: string[] }[] {
  return query<{ doc: string }>(db, 'SELECT doc FROM stored_events WHERE log_type = ?', type).map((r) => (JSON.parse(r.doc) as { event: { dataset: string; category: string[] } }).event);
}

/** The ids of the feeds' records as `mimelog ingest` of the simulator's expected files stores them (deep records included). */
async function expected(r: Running, feeds: readonly string[]): Promise<string[]> {
  const dir = join(r.dir, 'expected');
  r.sim.v2.feeds.writeExpected(dir);
  const db = join(r.dir, 'expected.db');
  assert.equal((await runCli(['ingest', '--db', db, ...feeds.map((f) => join(dir, `${f}.ndjson`)), '--summary', 'none', '--max-json-depth', '300'])).code, 0);
  const ids = storedIds(db);
  assert.equal(ids.length, feeds.length * 20);
  return ids;
}

describe('replay of API 2.0 feed dead letters', () => {
  it("a record of a feed dead-lettered (nested deeper than --max-json-depth) keeps its feed; replayed with a higher bound it is stored as the feed's event, with the feed's dataset and category, where it was read", { timeout: 60_000 }, async () => {
    const r = await startSimulator({ seed: 811, events: 2, v2: { feeds: { records: 20, deepRecordIn: ['audit'] } } });
    try {
      const db = join(r.dir, 'feeds.db');
      const res = await collectFeeds(r, db, 'audit', ['--max-json-depth', '200']);
      assert.equal(res.code, 2, res.stderr.slice(-1500));
      const dead = query<{ position: number; feed: string | null; reason: string }>(db, 'SELECT position, feed, reason FROM dead_letters');
      assert.equal(dead.length, 1);
      assert.match(dead[0]!.reason, /nested deeper than 200/);
      assert.equal(dead[0]!.feed, 'audit', 'the dead letter keeps its feed');
      const listed = await runCli(['dead-letters', '--db', db]);
      assert.match(listed.stdout, /source {2}mimecast-v2-feed .* page 0 {2}\(feed audit\)/, 'the listing shows it');

      const replay = await runCli(['replay', '--db', db, '--max-json-depth', '300', '--json']);
      assert.equal(replay.code, 0, replay.stderr);
      assert.deepEqual(JSON.parse(replay.stdout), { attempted: 1, recovered: 1, still_failing: 0, events_stored: 1, duplicates: 0 });
      assert.deepEqual(perType(db), [{ log_type: 'audit', s: 'feed', n: 20 }], 'its log type is the feed\'s, decided by the feed');
      const spec = feedNamed('audit')!;
      assert.ok(documentsOf(db, 'audit').every((e) => e.dataset === spec.dataset && JSON.stringify(e.category) === JSON.stringify(spec.category)));
      assert.deepEqual(query(db, "SELECT position FROM stored_events WHERE original LIKE '%\"nested\"%'"), [{ position: dead[0]!.position }], 'placed where the dead letter was');
      assert.deepEqual(storedIds(db), await expected(r, ['audit']));
    } finally {
      await r.sim.stop();
    }
  });

  it("a whole page kept when its window was given up is replayed as that feed's records, data[] or data[0].<recordsAt>; one that still does not parse stays, said why; a runaway's note is refused, said why", { timeout: 60_000 }, async () => {
    const r = await startSimulator({ seed: 812, events: 2, v2: { feeds: { records: 20, deepRecordIn: ['audit', 'ttp-url'] } } });
    try {
      // Whole pages, as a version that bounded a page's depth gave them up for its deep record (a
      // page that does not parse today, a repeated key, stays one): the simulator's answers, kept
      // with their feed (a store kept before dead letters had one: test/store/feed-page-names).
      const db = join(r.dir, 'feeds.db');
      new Store(db).close();
      const page = (feed: string) => {
        const records = r.sim.v2.feeds.expectedRecords(feed).map((x) => x.line).join(',');
        const recordsAt = feedNamed(feed)!.recordsAt;
        return `{"meta":{"status":200,"pagination":{"pageSize":50}},"data":${recordsAt === undefined ? `[${records}]` : `[{"${recordsAt}":[${records}],"resultCount":20}]`},"fail":[]}`;
      };
      const repeated = page('audit').replace('"meta":', '"meta":{},"meta":');
      const old = new Database(db);
      const insert = old.prepare("INSERT INTO dead_letters (source, position, reason, raw, raw_is_text, raw_digest, created_at, feed) VALUES (?, 0, 'audit: page could not be read', ?, 1, ?, 0, ?)");
      const source = (feed: string) => `mimecast-v2-feed https://sim.example/ ${feed} window 2026-12-01T00:00:00+0000 page 0`;
      insert.run(source('audit'), Buffer.from(page('audit')), 'a', 'audit');
      insert.run(source('ttp-url'), Buffer.from(page('ttp-url')), 'b', 'ttp-url');
      insert.run(source('audit'), Buffer.from(repeated), 'c', 'audit');
      old.close();

      const replay = await runCli(['replay', '--db', db, '--max-json-depth', '300', '--json']);
      assert.equal(replay.code, 2, replay.stderr);
      const report = JSON.parse(replay.stdout) as { recovered: number; still_failing: number; events_stored: number };
      assert.deepEqual([report.recovered, report.still_failing, report.events_stored], [2, 1, 40]);
      assert.deepEqual(perType(db), [{ log_type: 'audit', s: 'feed', n: 20 }, { log_type: 'ttp-url', s: 'feed', n: 20 }], "each page's records are its feed's (ttp-url's sit in data[0].clickLogs)");
      assert.deepEqual(storedIds(db), await expected(r, ['audit', 'ttp-url']), 'exactly the records the pages held');
      assert.ok(documentsOf(db, 'ttp-url').every((e) => e.dataset === feedNamed('ttp-url')!.dataset));
      assert.deepEqual(query(db, 'SELECT reason, replay_attempts FROM dead_letters'), [{ reason: 'audit: the page still does not parse: JSON object with a duplicate key', replay_attempts: 1 }]);

      // A window given up for a runaway page token keeps a note of the token, not a page: nothing to replay.
      const runawayDb = join(r.dir, 'runaway.db');
      assert.equal((await collectFeeds(r, runawayDb, 'rejections', ['--page-size', '5', '--max-pages-per-window', '1'])).code, 4);
      const again = await runCli(['replay', '--db', runawayDb, '--json']);
      assert.equal(again.code, 2);
      const kept = query<{ feed: string; reason: string; replay_attempts: number }>(runawayDb, 'SELECT feed, reason, replay_attempts FROM dead_letters');
      assert.ok(kept.length >= 1);
      for (const k of kept) {
        assert.equal(k.feed, 'rejections');
        assert.equal(k.reason, 'rejections: not a page of records (no "data" list): nothing to replay; the window it was kept for is recorded as a gap');
        assert.equal(k.replay_attempts, 1);
      }
    } finally {
      await r.sim.stop();
    }
  });

  it('a store of schema 19 upgrades in place (dead_letters gains a feed column, its rows kept); its feed dead letters kept before are replayed as their feed\'s, read from their page\'s name', { timeout: 60_000 }, async () => {
    const r = await startSimulator({ seed: 813, events: 2, v2: { feeds: { records: 20, deepRecordIn: ['audit'] } } });
    try {
      const db = join(r.dir, 'feeds.db');
      assert.equal((await collectFeeds(r, db, 'audit', ['--max-json-depth', '200'])).code, 2);
      // As schema 19 kept it: no feed column.
      const raw = new Database(db);
      asSchema19(raw);
      const rows = raw.prepare('SELECT source, position, reason, raw FROM dead_letters').all();
      raw.close();
      new Store(db).close();
      const upgraded = new Database(db, { readonly: true });
      assert.equal(upgraded.pragma('user_version', { simple: true }), MIGRATIONS.length);
      assert.equal(MIGRATIONS.length, 20);
      assert.deepEqual(upgraded.prepare('SELECT source, position, reason, raw FROM dead_letters').all(), rows, 'its rows as they were');
      assert.deepEqual(upgraded.prepare('SELECT feed FROM dead_letters').all(), [{ feed: 'audit' }], "its feed, from its page's name (a page of a feed the store collected)");
      upgraded.close();

      const replay = await runCli(['replay', '--db', db, '--max-json-depth', '300', '--json']);
      assert.equal(replay.code, 0, replay.stderr);
      assert.deepEqual(perType(db), [{ log_type: 'audit', s: 'feed', n: 20 }]);
    } finally {
      await r.sim.stop();
    }
  });
});
