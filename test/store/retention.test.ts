/**
 * Retention: events older than N days leave the store with everything that points at them
 * (addresses, full-text entries, hourly counts); what is kept is untouched; dead letters,
 * collisions and gaps stay; the space is given back; a retention shorter than the horizon is refused.
 */
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import Database from 'better-sqlite3';
import { takeEvents, toKeyValueLine } from '../../src/simulator/generate.js';
import { MIGRATIONS } from '../../src/store/schema.js';
import { search } from '../../src/store/queries.js';
import { Store } from '../../src/store/store.js';
import { runCli, tempDir } from '../support/helpers.js';

const DAY = 86_400_000;

/** Every stored event as the store returns it, by id. */
function events(db: string): { id: string; ts: number; doc: string; original: string }[] {
  const store = new Store(db, { readonly: true });
  const all = search(store.db, { limit: 1e9 }).map(({ id, ts, doc, original }) => ({ id, ts, doc, original }));
  store.close();
  return all.sort((a, b) => a.id.localeCompare(b.id));
}

function rows<T>(db: string, sql: string): T[] {
  const d = new Database(db, { readonly: true });
  const r = d.prepare(sql).all() as T[];
  d.close();
  return r;
}

describe('retention (mimelog retain)', () => {
  it('removes events older than N days with their addresses, words and counts; keeps every other row as it was; gives the space back', { timeout: 120_000 }, async () => {
    const dir = tempDir('retain');
    const db = join(dir, 'r.db');
    const input = join(dir, 'in.log');
    // About 30 days of mail up to now (6,000 lines, an email every half hour or so), and one bad line.
    const lines = takeEvents({ seed: 31, startMs: Date.now() - 30 * DAY, spacingMs: 30 * DAY / 1400 }, 6000).filter((e) => e.timeMs < Date.now()).map(toKeyValueLine);
    writeFileSync(input, `${lines.join('\n')}\nthis is not a record\n`);
    // The oldest event alone first: its small block becomes the first dictionary, the next (longer) block
    // the second, so the store holds a dictionary that only old blocks were deflated against.
    writeFileSync(join(dir, 'first.log'), `${lines[0]}\n`);
    assert.equal((await runCli(['ingest', '--db', db, join(dir, 'first.log'), '--summary', 'none'])).code, 0);
    assert.equal((await runCli(['ingest', '--db', db, input, '--summary', 'none'])).code, 2, 'the bad line is a dead letter');
    const raw = new Database(db);
    raw.prepare("INSERT INTO gaps (source, from_ms, to_ms, reason, recorded_at, log_type) VALUES ('s', 1, 2, 'test', 3, NULL)").run();
    raw.prepare("INSERT INTO collisions (id, stored_hash, new_hash, stored_doc, new_doc, new_original, source, position, seen_at) VALUES ('x', 'a', 'b', '{}', '{}', '', 's', 0, 0)").run();
    raw.close();
    assert.equal(rows<{ v: number }>(db, 'SELECT auto_vacuum AS v FROM pragma_auto_vacuum')[0]!.v, 2, 'a new store gives freed pages back');
    const before = events(db);
    const dictionariesBefore = rows<{ n: number }>(db, 'SELECT count(*) AS n FROM record_dictionaries')[0]!.n;

    const started = Date.now();
    const res = await runCli(['retain', '--db', db, '--days', '10', '--json']);
    assert.equal(res.code, 0, res.stderr);
    const result = JSON.parse(res.stdout) as { cutoffMs: number; eventsRemoved: number; batches: number; bytesBefore: number; bytesAfter: number };
    assert.ok(result.cutoffMs >= started - 10 * DAY && result.cutoffMs <= Date.now() - 10 * DAY);
    const kept = before.filter((e) => e.ts >= result.cutoffMs);
    assert.ok(kept.length > 1000 && before.length - kept.length > 3000, `${kept.length} kept of ${before.length}`);
    assert.equal(result.eventsRemoved, before.length - kept.length);
    assert.ok(result.batches >= 2, 'in several small transactions');
    assert.ok(result.bytesAfter < result.bytesBefore * 0.6, `space given back: ${result.bytesBefore} → ${result.bytesAfter}`);
    assert.deepEqual(events(db), kept, 'what is kept is byte for byte as it was');

    // Nothing points at a removed event any more; the counts equal the events (check says ok).
    assert.deepEqual(rows(db, 'SELECT count(*) AS n FROM event_addresses WHERE event NOT IN (SELECT rowid FROM events)'), [{ n: 0 }]);
    // The full-text index holds one document per kept subject (its docsize table: one row per indexed row) and is whole.
    assert.deepEqual(rows(db, 'SELECT count(*) AS n FROM events_fts_docsize'), [{ n: kept.filter((e) => (JSON.parse(e.doc) as { email?: { subject?: string } }).email?.subject).length }]);
    assert.deepEqual(rows(db, 'SELECT count(*) AS n FROM event_indicators WHERE event NOT IN (SELECT rowid FROM events)'), [{ n: 0 }]);
    assert.deepEqual(rows(db, 'SELECT count(*) AS n FROM events WHERE block NOT IN (SELECT rowid FROM record_blocks)'), [{ n: 0 }]);
    assert.deepEqual(rows(db, 'SELECT count(*) AS n FROM record_blocks b WHERE live != (SELECT count(*) FROM events WHERE block = b.rowid) OR live = 0'), [{ n: 0 }], 'a block lives as long as its events');
    assert.deepEqual(rows(db, 'SELECT count(*) AS n FROM events_fts_docsize WHERE id NOT IN (SELECT rowid FROM events)'), [{ n: 0 }]);
    // A dictionary is a copy of an old block's records: none outlives the blocks deflated against it (the newest stays for the writer).
    assert.ok(dictionariesBefore >= 2, `${dictionariesBefore} dictionaries before`);
    assert.deepEqual(rows(db, `SELECT count(*) AS n FROM record_dictionaries WHERE id < (SELECT max(id) FROM record_dictionaries)
      AND id NOT IN (SELECT dictionary FROM record_blocks WHERE dictionary IS NOT NULL)`), [{ n: 0 }], 'no dictionary outlives its blocks');
    const integrity = new Database(db);
    integrity.exec("INSERT INTO events_fts(events_fts) VALUES ('integrity-check')"); // throws when the index is damaged
    integrity.close();
    assert.equal((await runCli(['check', '--db', db])).code, 0, 'quick_check and the hourly counts agree');
    const oldAddress = rows<{ address: string }>(db, 'SELECT a.address FROM events e JOIN addresses a ON a.code = e.sender LIMIT 1')[0]!.address;
    const found = (await runCli(['search', '--db', db, '--address', oldAddress, '--json', '--limit', '100000'])).stdout.trim().split('\n').filter(Boolean);
    const times = found.map((line) => Date.parse((JSON.parse(line) as { '@timestamp': string })['@timestamp']));
    assert.ok(times.length > 0);
    assert.ok(times.every((t) => t >= result.cutoffMs), 'an address search finds only kept events');

    // The record of what happened stays: dead letters, collisions, gaps; stats says what retention did and how far back the store reaches.
    assert.deepEqual(rows(db, 'SELECT (SELECT count(*) FROM dead_letters) AS d, (SELECT count(*) FROM collisions) AS c, (SELECT count(*) FROM gaps) AS g'), [{ d: 1, c: 1, g: 1 }]);
    const stats = JSON.parse((await runCli(['stats', '--db', db, '--json'])).stdout) as { events: number; store: { retention_removed: number; oldest_event: string; bytes: number; approx_bytes_by_day: Record<string, number>; last_retention: { events_removed: number } } };
    assert.equal(stats.events, kept.length);
    assert.equal(stats.store.retention_removed, result.eventsRemoved);
    assert.equal(stats.store.last_retention.events_removed, result.eventsRemoved);
    assert.equal(Date.parse(stats.store.oldest_event), Math.min(...kept.map((e) => e.ts)));
    assert.ok(Object.keys(stats.store.approx_bytes_by_day).length >= 10 && Object.keys(stats.store.approx_bytes_by_day).length <= 11);

    // A second pass finds nothing to remove.
    const again = JSON.parse((await runCli(['retain', '--db', db, '--days', '10', '--json'])).stdout) as { eventsRemoved: number };
    assert.equal(again.eventsRemoved, 0);
  });

  it('refuses a retention shorter than the 7-day horizon (deleted events would come back as new), saying why', async () => {
    const dir = tempDir('retain-short');
    const res = await runCli(['retain', '--db', join(dir, 'x.db'), '--days', '7']);
    assert.equal(res.code, 1);
    assert.match(res.stderr, /--days: at least 8 days \(allowed: from 8 to 36500 days\): a collector that restarts re-reads up to 7 days/);
  });

  it('works on a store written by the previous schema (upgraded in place), reusing freed pages', async () => {
    const dir = tempDir('retain-old');
    const db = join(dir, 'old.db');
    const old = new Database(db);
    for (const m of MIGRATIONS.slice(0, 7)) old.exec(m as string);
    old.pragma('user_version = 7');
    old.close();
    const store = new Store(db); // upgrades to the current schema
    store.close();
    assert.equal(rows<{ v: number }>(db, 'SELECT auto_vacuum AS v FROM pragma_auto_vacuum')[0]!.v, 0, 'an existing store keeps its vacuum mode');
    const input = join(dir, 'in.log');
    writeFileSync(input, takeEvents({ seed: 32, startMs: Date.now() - 20 * DAY, spacingMs: 20 * DAY / 1000 }, 1000).filter((e) => e.timeMs < Date.now()).map(toKeyValueLine).join('\n'));
    assert.equal((await runCli(['ingest', '--db', db, input, '--summary', 'none'])).code, 0);
    const res = JSON.parse((await runCli(['retain', '--db', db, '--days', '10', '--json', '--compact'])).stdout) as { eventsRemoved: number; bytesAfter: number; bytesBefore: number };
    assert.ok(res.eventsRemoved > 0);
    assert.ok(res.bytesAfter < res.bytesBefore);
    assert.equal(rows<{ v: number }>(db, 'SELECT auto_vacuum AS v FROM pragma_auto_vacuum')[0]!.v, 2, '--compact turns on giving space back');
    assert.equal((await runCli(['check', '--db', db])).code, 0);
  });
});

describe('retention and the cross-version rows', () => {
  it("keeps a removed event's cross-version row by its id's tag, never by a rowid SQLite can hand out again", { timeout: 60_000 }, async () => {
    const dir = tempDir('retain-cross');
    const db = join(dir, 'r.db');
    const receipts = (startMs: number, n: number) => takeEvents({ seed: 18, startMs, spacingMs: 60_000 }, n * 4).filter((e) => e.logType === 'receipt').slice(0, n);
    // A backfill of old mail read last: its events hold the largest rowids, and retention removes them all.
    writeFileSync(join(dir, 'recent.log'), `${receipts(Date.now() - 2 * DAY, 50).map(toKeyValueLine).join('\n')}\n`);
    writeFileSync(join(dir, 'old.log'), `${receipts(Date.now() - 40 * DAY, 50).map(toKeyValueLine).join('\n')}\n`);
    for (const f of ['recent.log', 'old.log']) assert.equal((await runCli(['ingest', '--db', db, join(dir, f), '--summary', 'none'])).code, 0);
    const crossRows = () => rows<{ event: number; removed: number }>(db, 'SELECT c.event, e.rowid IS NULL AS removed FROM cross_ids c LEFT JOIN events e ON e.rowid = c.event');
    assert.equal(crossRows().filter((r) => r.event > 0).length, 100, 'a row per stored event, by its rowid');
    const res = await runCli(['retain', '--db', db, '--days', '10', '--json']);
    assert.equal(res.code, 0, res.stderr);
    assert.equal((JSON.parse(res.stdout) as { eventsRemoved: number }).eventsRemoved, 50);
    const after = crossRows();
    assert.equal(after.length, 100, 'every event met stays met');
    assert.deepEqual(after.filter((r) => r.event > 0 && r.removed), [], 'no row names a removed event by its rowid');
    assert.equal(after.filter((r) => r.event < 0).length, 50, "the removed events' rows name them by their ids' tags");
    // New mail takes the rowids the backfill had (SQLite reuses the largest once it is gone): its rows are its own.
    writeFileSync(join(dir, 'new.log'), `${receipts(Date.now() - DAY, 50).map(toKeyValueLine).join('\n')}\n`);
    assert.equal((await runCli(['ingest', '--db', db, join(dir, 'new.log'), '--summary', 'none'])).code, 0);
    assert.deepEqual(rows<{ n: number }>(db, 'SELECT count(*) AS n FROM cross_ids c JOIN events e ON e.rowid = c.event GROUP BY c.event HAVING n > 1'), [], 'one row per stored event');
    assert.equal(crossRows().filter((r) => r.event > 0).length, 100);
  });
});
