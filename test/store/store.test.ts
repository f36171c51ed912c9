import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import Database from 'better-sqlite3';
import { MIGRATIONS } from '../../src/store/schema.js';
import { Store } from '../../src/store/store.js';
import { search, stats } from '../../src/store/queries.js';
import { takeEvents, toKeyValueLine } from '../../src/simulator/generate.js';
import { asSchema17 } from './older-schema.js';
import { tempDir, SAMPLES, lines, processInput, runCli } from '../support/helpers.js';

const tmp = () => tempDir('store')

function corpus(dir: string, n: number, seed = 21): string {
  const file = join(dir, 'events.log');
  writeFileSync(file, takeEvents({ seed, startMs: Date.UTC(2026, 3, 1) }, n).map(toKeyValueLine).join('\n'));
  return file;
}

async function statsOf(db: string): Promise<Record<string, any>> {
  const r = await runCli(['stats', '--db', db, '--json']);
  assert.equal(r.code, 0, r.stderr);
  return JSON.parse(r.stdout);
}

describe('embedded SQLite store', () => {
  it('is idempotent: ingesting twice leaves the events unchanged and counts duplicates', async () => {
    const dir = tmp();
    const db = join(dir, 'm.db');
    const file = corpus(dir, 3000);
    const first = await runCli(['ingest', '--db', db, file, '--summary', 'json']);
    assert.equal(first.code, 0, first.stderr);
    const before = await statsOf(db);
    assert.equal(before.events, 3000);
    const second = await runCli(['ingest', '--db', db, file, '--summary', 'json']);
    assert.equal(JSON.parse(lines(second.stderr).at(-1)!).duplicates, 3000);
    const after = await statsOf(db);
    assert.equal(after.events, 3000);
    assert.equal(after.duplicates, 3000);
    assert.deepEqual(after.by_type, before.by_type);
  });

  it('keeps both sides of a forged collision, overwrites nothing, and reports it', async () => {
    const dir = tmp();
    const path = join(dir, 'c.db');
    const store = new Store(path);
    const a = await processInput('a.log', 'datetime=2017-05-26T16:47:41+0100|acc=C0A0|aCode=A|Subject=first');
    const b = await processInput('b.log', 'datetime=2017-05-26T16:47:41+0100|acc=C0A0|aCode=A|Subject=second');
    // Force the second event onto the first one's id, as a fingerprint collision would.
    const forged = { ...b, events: [{ ...b.events[0]!, id: a.events[0]!.id }] };
    assert.deepEqual(store.writeUnit(a), { stored: 1, duplicates: 0, collisions: 0, deadLetters: 0 });
    assert.deepEqual(store.writeUnit(forged), { stored: 0, duplicates: 0, collisions: 1, deadLetters: 0 });
    const kept = search(store.db, {}).map((r) => r.subject);
    assert.deepEqual(kept, ['first']);
    const c = store.db.prepare('SELECT id, stored_doc, new_doc, new_original FROM collisions').get() as Record<string, string>;
    assert.equal(c.id, a.events[0]!.id);
    assert.match(c.stored_doc!, /first/);
    assert.match(c.new_doc!, /second/);
    assert.match(c.new_original!, /Subject=second/);
    assert.equal(stats(store).collisions, 1);
    store.close();
    assert.equal((await statsOf(path)).collisions, 1);
  });

  it('stores dead letters with source, position, reason and raw bytes; replay recovers them after the tables are extended', async () => {
    const dir = tmp();
    const db = join(dir, 'd.db');
    const file = join(dir, 'mixed.log');
    const good = takeEvents({ seed: 4, startMs: Date.UTC(2026, 0, 1) }, 5).map(toKeyValueLine);
    const novel = 'datetime=2026-01-01T00:00:00+0000|acc=C0A0|quarantineId=q1|policyVerdict=block|scanEngine=x';
    writeFileSync(file, [good[0], 'not a record at all', novel, ...good.slice(1)].join('\n'));
    const r = await runCli(['ingest', '--db', db, '--unknown-types', 'dead-letter', file]);
    assert.equal(r.code, 2);
    const store = new Store(db, { readonly: true });
    const rows = store.db.prepare('SELECT source, position, reason, raw FROM dead_letters ORDER BY position').all() as Record<string, any>[];
    store.close();
    assert.deepEqual(rows.map((x) => [x.source, x.position, x.raw.toString()]), [[file, 2, 'not a record at all'], [file, 3, novel]]);
    assert.match(rows[1]!.reason, /unknown log type \(keys: acc,datetime,policyVerdict,quarantineId,scanEngine\)/);
    assert.equal((await statsOf(db)).events, 5);
    await runCli(['ingest', '--db', db, '--unknown-types', 'dead-letter', file]);
    assert.equal((await statsOf(db)).dead_letters, 2, 'the same bad records read twice are kept once');

    const types = join(dir, 'types.json');
    writeFileSync(types, JSON.stringify({ types: [{ name: 'dlp', keys: ['quarantineId', 'policyVerdict', 'scanEngine'] }] }));
    const replay = await runCli(['replay', '--db', db, '--types-file', types, '--unknown-types', 'dead-letter', '--json']);
    assert.deepEqual(JSON.parse(replay.stdout), { attempted: 2, recovered: 1, still_failing: 1, events_stored: 1, duplicates: 0 });
    const after = await statsOf(db);
    assert.equal(after.events, 6);
    assert.equal(after.by_type.dlp, 1);
    assert.equal(after.dead_letters, 1);
  });

  it('runs migrations on open and refuses a store from a newer mimelog', () => {
    const path = join(tmp(), 'v.db');
    new Store(path).close();
    const raw = new Database(path);
    assert.equal(raw.pragma('user_version', { simple: true }), MIGRATIONS.length);
    assert.equal(raw.pragma('journal_mode', { simple: true }), 'wal');
    raw.pragma(`user_version = ${MIGRATIONS.length + 1}`);
    raw.close();
    assert.throws(() => new Store(path), /newer mimelog/);
  });

  it('gives each checkpoint the kind of its source: old rows on upgrade from schema 9, new ones from the driver, never from their names', async () => {
    const dir = tmp();
    const path = join(dir, 'kinds.db');
    // A schema-9 store as the previous mimelog left it: checkpoints without a kind.
    new Store(path).close();
    const old = new Database(path);
    asSchema17(old);
    old.exec('ALTER TABLE checkpoints DROP COLUMN kind');
    old.exec('ALTER TABLE checkpoints DROP COLUMN untrusted_time_events'); // added by migration 11
    old.exec('DROP TABLE destination_counts'); // added by migration 12
    old.exec('DROP TABLE record_dictionaries; ALTER TABLE record_blocks DROP COLUMN dictionary'); // added by migration 14
    old.pragma('user_version = 9');
    const cp = old.prepare('INSERT INTO checkpoints (source, position, complete, updated_at) VALUES (?, 0, 1, 1)');
    for (const name of ['mimecast-v1 https://api.mimecast.com', 'mimecast-v2 https://api.services.mimecast.com receipt', 'mimecast-v2-stream https://api.services.mimecast.com',
      'mimecast-v2-feed https://api.services.mimecast.com [eu] audit', '/var/spool/mimecast/2026-11-30.log']) cp.run(name);
    old.close();
    const store = new Store(path);
    try {
      const kinds = Object.fromEntries((store.db.prepare('SELECT source, kind FROM checkpoints').all() as { source: string; kind: string }[]).map((r) => [r.source, r.kind]));
      assert.deepEqual(kinds, {
        'mimecast-v1 https://api.mimecast.com': 'mimecast-v1',
        'mimecast-v2 https://api.services.mimecast.com receipt': 'mimecast-v2',
        'mimecast-v2-stream https://api.services.mimecast.com': 'mimecast-v2-stream',
        'mimecast-v2-feed https://api.services.mimecast.com [eu] audit': 'mimecast-v2-feed',
        '/var/spool/mimecast/2026-11-30.log': 'file',
      });
      // From now on the kind comes with the state: a name that looks like an API stream's is still a file.
      store.writeUnit({ source: 'mimecast-v1 lookalike.log', events: [], deadLetters: [], position: 3, last: true }, { kind: 'file' });
      store.writeUnit({ source: 'x', events: [], deadLetters: [], position: 0, last: false }, { key: 'tenant-b audit', kind: 'mimecast-v2-feed', windowEndMs: 1796000000000 });
      assert.equal(store.registry.checkpoint('tenant-b audit')?.kind, 'mimecast-v2-feed');
      assert.deepEqual(stats(store).api_streams.map((a) => [a.stream, a.kind]), [
        ['mimecast-v1 https://api.mimecast.com', 'mimecast-v1'],
        ['mimecast-v2 https://api.services.mimecast.com receipt', 'mimecast-v2'],
        ['mimecast-v2-feed https://api.services.mimecast.com [eu] audit', 'mimecast-v2-feed'],
        ['mimecast-v2-stream https://api.services.mimecast.com', 'mimecast-v2-stream'],
        ['tenant-b audit', 'mimecast-v2-feed'],
      ]);
    } finally {
      store.close();
    }
  });

  it('keeps hourly counts that equal the events: filled on upgrade from schema 4, kept by every unit, checked by mimelog check', async () => {
    const dir = tmp();
    const path = join(dir, 'old.db');
    // A schema-4 store with events in it, as the previous version left it (times on both sides of 1970 and of midnight).
    const old = new Database(path);
    for (const m of MIGRATIONS.slice(0, 4)) old.exec(m as string);
    old.pragma('user_version = 4');
    const insert = old.prepare(`INSERT INTO events (id, hash, ts, log_type, log_type_source, doc, source, position) VALUES (?, ?, ?, ?, 'fields', '{}', 's', 0)`);
    const times = [-1, 0, 3_599_999, 3_600_000, Date.UTC(2026, 10, 29, 23, 59, 59), Date.UTC(2026, 10, 30)];
    times.forEach((ts, i) => insert.run(`id${i}`, `h${i}`, ts, i % 2 ? 'receipt' : 'delivery'));
    old.close();
    // The first reader (stats opens the store read-only) upgrades it.
    const s = await statsOf(path);
    assert.equal(s.events, times.length);
    assert.deepEqual(s.by_day, { '1969-12-31': 1, '1970-01-01': 3, '2026-11-29': 1, '2026-11-30': 1 });
    assert.deepEqual(s.by_type, { delivery: 3, receipt: 3 });
    // New units keep adding to them.
    const store = new Store(path);
    store.writeUnit(await processInput('x.log', takeEvents({ seed: 4, startMs: Date.UTC(2026, 10, 30, 23) }, 500).map(toKeyValueLine).join('\n')));
    const hourly = store.db.prepare('SELECT sum(events) AS n FROM event_counts').get() as { n: number };
    const actual = store.db.prepare('SELECT count(*) AS n FROM events').get() as { n: number };
    store.close();
    assert.equal(hourly.n, actual.n);
    assert.equal((await statsOf(path)).events, actual.n);
    assert.equal((await runCli(['check', '--db', path])).code, 0);
    // Counts that disagree with the events are damage, and check says which.
    const raw = new Database(path);
    raw.prepare("UPDATE event_counts SET events = events + 1 WHERE (hour, log_type, type_source) = (SELECT hour, log_type, type_source FROM event_counts WHERE log_type = 'receipt' LIMIT 1)").run();
    raw.close();
    const bad = await runCli(['check', '--db', path]);
    assert.equal(bad.code, 1);
    assert.match(bad.stderr, /event_counts says \d+ receipt events, the store holds \d+/);
  });

  it('lets a reader hold a snapshot while the writer commits (WAL)', async () => {
    const path = join(tmp(), 'w.db');
    const writer = new Store(path);
    const unit = await processInput('x.log', takeEvents({ seed: 9, startMs: 0 }, 200).map(toKeyValueLine).join('\n'));
    writer.writeUnit({ ...unit, events: unit.events.slice(0, 100) });
    const reader = new Database(path, { readonly: true });
    const iter = reader.prepare('SELECT id FROM events').iterate();
    iter.next(); // a read transaction is now open
    writer.writeUnit({ ...unit, events: unit.events.slice(100) });
    let seen = 1;
    while (!iter.next().done) seen++;
    assert.equal(seen, 100, 'the reader kept its snapshot');
    assert.equal((reader.prepare('SELECT count(*) AS n FROM events').get() as { n: number }).n, 200);
    reader.close();
    writer.close();
  });

  it('searches by type, address, message id, aCode, action, time and subject words; newest first', async () => {
    const dir = tmp();
    const db = join(dir, 's.db');
    await runCli(['ingest', '--db', db, `${SAMPLES}understanding-siem-logs.kv`]);
    const q = async (...args: string[]) => {
      const r = await runCli(['search', '--db', db, '--json', ...args]);
      assert.equal(r.code, 0, r.stderr);
      return lines(r.stdout).map((l) => JSON.parse(l));
    };
    assert.deepEqual((await q('--type', 'delivery')).map((d) => d.event.outcome), ['success', 'failure']);
    assert.equal((await q('--address', 'AUSER@mimecast.com')).length, 6);
    assert.equal((await q('--message-id', 'ABCDEF@domain.tld')).length, 1);
    assert.equal((await q('--acode', 'BY81J52RPjSmp7MrubnlZg')).length, 2);
    assert.deepEqual((await q('--action', 'Rej')).map((d) => d.mimecast.log_type), ['receipt']);
    assert.equal((await q('--from', '2021-01-01', '--to', '2021-03-05')).length, 1);
    assert.deepEqual((await q('--text', 'opportunity VP')).map((d) => d.mimecast.log_type), ['spam', 'impersonation-protect']);
    assert.equal((await q('--limit', '3')).length, 3);
    const times = (await q()).map((d) => d['@timestamp']);
    assert.deepEqual(times, [...times].sort().reverse());
  });

  it('traces an email from receipt to delivery, by message id, aCode or address', async () => {
    const dir = tmp();
    const db = join(dir, 't.db');
    const events = takeEvents({ seed: 33, startMs: Date.UTC(2026, 4, 1) }, 2000);
    writeFileSync(join(dir, 'e.log'), events.map(toKeyValueLine).join('\n'));
    await runCli(['ingest', '--db', db, join(dir, 'e.log')]);
    const retried = events.find((e) => e.logType === 'delivery' && e.fields.some(([k, v]) => k === 'Attempt' && v === '2'))!;
    const aCode = retried.fields.find(([k]) => k === 'aCode')![1];
    const msgId = retried.fields.find(([k]) => k === 'MsgId')![1];
    const expected = events.filter((e) => e.fields.some(([k, v]) => (k === 'aCode' && v === aCode) || (/^(MsgId|msgid)$/.test(k) && v === msgId)));
    for (const query of [msgId, aCode]) {
      const r = await runCli(['trace', '--db', db, query, '--json']);
      const t = JSON.parse(r.stdout);
      assert.equal(t.steps.length, expected.length, query);
      assert.equal(t.steps[0].log_type, 'receipt');
      assert.ok(t.steps.findIndex((s: any) => s.log_type === 'delivery') > t.steps.findIndex((s: any) => s.log_type === 'receipt'));
      assert.ok(t.steps.filter((s: any) => s.log_type === 'delivery').length >= 2);
      assert.ok(t.outcome.length > 0);
    }
    const text = await runCli(['trace', '--db', db, msgId]);
    assert.match(text.stdout, /receipt[\s\S]*delivery[\s\S]*outcome: /);
    const none = await runCli(['trace', '--db', db, 'nobody@nowhere']);
    assert.equal(none.code, 1);
  });

  it('exports the stored documents, equal to what the ndjson sink writes', async () => {
    const dir = tmp();
    const db = join(dir, 'x.db');
    const file = corpus(dir, 500, 77);
    await runCli(['ingest', '--db', db, file]);
    const exported = lines((await runCli(['export', '--db', db])).stdout).map((l) => JSON.parse(l));
    const direct = lines((await runCli(['ingest', '--sink', 'ndjson', file])).stdout).map((l) => JSON.parse(l));
    const byId = (docs: any[]) => new Map(docs.map((d) => [d.event.id, d]));
    assert.deepEqual(byId(exported), byId(direct));
    const lean = lines((await runCli(['export', '--db', db, '--no-original', '--type', 'receipt'])).stdout).map((l) => JSON.parse(l));
    assert.ok(lean.length > 0 && lean.every((d) => d.event.original === undefined && d.mimecast.log_type === 'receipt'));
    void readFileSync;
  });
});
