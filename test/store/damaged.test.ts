/**
 * A damaged record block names itself and what is wrong, says what to do, and stops nothing else:
 * export, search, trace and who give every other event and list what they left out; retain removes past it.
 * Two retention passes never race: the second is refused plainly, a locked store is said as such.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { copyFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { before, describe, it } from 'node:test';
import Database from 'better-sqlite3';
import { takeEvents, toKeyValueLine } from '../../src/simulator/generate.js';
import { lines, runCli, tempDir } from '../support/helpers.js';

const dir = tempDir('damaged');
/** A store of 3,000 events from January 2026 (all older than any retention), never changed: each test copies it. */
const pristine = join(dir, 'pristine.db');
const TOTAL = 3000;
let copies = 0;

function copy(): string {
  const db = join(dir, `s${copies++}.db`);
  copyFileSync(pristine, db);
  return db;
}

function sql<T>(db: string, text: string, ...params: unknown[]): T[] {
  const d = new Database(db);
  try {
    const s = d.prepare(text);
    return (s.reader ? s.all(...params) : (s.run(...params), [])) as T[];
  } finally {
    d.close();
  }
}

/** Damages block 3 as a disk would: its bytes no longer inflate. Returns how many events it held. */
function damageBlock(db: string): number {
  sql(db, "UPDATE record_blocks SET records = X'deadbeef00112233' WHERE rowid = 3");
  return sql<{ n: number }>(db, 'SELECT count(*) AS n FROM events WHERE block = 3')[0]!.n;
}

before(async () => {
  const file = join(dir, 'in.log');
  writeFileSync(file, takeEvents({ seed: 8, startMs: Date.UTC(2026, 0, 1) }, TOTAL).map(toKeyValueLine).join('\n'));
  const r = await runCli(['ingest', '--workers', '1', '--db', pristine, file]);
  assert.equal(r.code, 0, r.stderr);
  sql(pristine, 'PRAGMA wal_checkpoint(TRUNCATE)');
});

describe('a damaged record block', () => {
  it('export and search skip it, name it with its events, give advice, exit 1; the rest is all there', async () => {
    const db = copy();
    const lost = damageBlock(db);
    assert.ok(lost > 0);
    const exported = await runCli(['export', '--db', db]);
    const found = await runCli(['search', '--db', db, '--limit', String(TOTAL), '--json']);
    for (const [name, r] of Object.entries({ exported, found })) {
      assert.equal(r.code, 1, `${name}: ${r.stderr}`);
      assert.equal(lines(r.stdout).length, TOTAL - lost, name);
      for (const l of lines(r.stdout)) JSON.parse(l);
      assert.match(r.stderr, new RegExp(`left out ${lost} events whose record blocks are damaged`));
      assert.match(r.stderr, /record block 3: its compressed bytes do not inflate \(invalid block type\) \(\d+ events, 2026-01-01T\S+ to 2026-01-01T\S+\)/);
      assert.match(r.stderr, /`mimelog check` lists every damaged block/);
    }
  });

  it('trace skips it: every other step of the journey, the block named with advice, exit 1', async () => {
    const db = copy();
    // trace by a sender with events in block 3 and in other blocks.
    const address = sql<{ a: string }>(db, `SELECT ad.address AS a FROM event_addresses ea JOIN addresses ad ON ad.code = ea.address JOIN events e ON e.rowid = ea.event
      WHERE ea.role = 0 GROUP BY ea.address HAVING sum(e.block = 3) > 0 AND sum(e.block <> 3) > 0 LIMIT 1`)[0]!.a;
    const whole = await runCli(['trace', '--db', db, '--json', address]);
    assert.equal(whole.code, 0, whole.stderr);
    const lost = new Set(sql<{ id: string }>(db, 'SELECT lower(hex(id)) AS id FROM events WHERE block = 3').map((r) => r.id));
    damageBlock(db);
    const r = await runCli(['trace', '--db', db, '--json', address]);
    assert.equal(r.code, 1, r.stderr);
    const steps = (out: string) => (JSON.parse(out) as { steps: { id: string }[] }).steps.map((x) => x.id);
    const expected = steps(whole.stdout).filter((id) => !lost.has(id));
    assert.ok(expected.length > 0 && expected.length < steps(whole.stdout).length);
    assert.deepEqual(steps(r.stdout), expected);
    assert.match(r.stderr, /^mimelog: trace answered without the events of damaged record blocks \(it may be incomplete\):\n  record block 3: its compressed bytes do not inflate \(invalid block type\) \(\d+ events, 2026-01-01T\S+ to 2026-01-01T\S+\)\n`mimelog check` lists every damaged block/m);
    const table = await runCli(['trace', '--db', db, address]);
    assert.equal(table.code, 1);
    assert.match(table.stdout, /^trace .* \(matched by address;/m);
    assert.match(table.stderr, /record block 3: /);
  });

  it('who skips it: the messages it can show, the block named with advice, exit 1', async () => {
    const db = copy();
    // who from an event outside block 3 whose sender also sent events now in block 3.
    const id = sql<{ id: string }>(db, `SELECT lower(hex(e.id)) AS id FROM events e JOIN event_addresses ea ON ea.event = e.rowid AND ea.role = 0
      WHERE e.block <> 3 AND ea.address IN (SELECT a3.address FROM event_addresses a3 JOIN events e3 ON e3.rowid = a3.event WHERE e3.block = 3 AND a3.role = 0) LIMIT 1`)[0]!.id;
    const whole = await runCli(['who', '--db', db, '--json', id]);
    assert.equal(whole.code, 0, whole.stderr);
    damageBlock(db);
    const r = await runCli(['who', '--db', db, '--json', id]);
    assert.equal(r.code, 1, r.stderr);
    const messages = (out: string) => (JSON.parse(out) as { messages: unknown[] }).messages.length;
    assert.ok(messages(r.stdout) > 0 && messages(r.stdout) <= messages(whole.stdout));
    assert.match(r.stderr, /^mimelog: who answered without the events of damaged record blocks \(it may be incomplete\):\n  record block 3: its compressed bytes do not inflate/m);
    assert.match(r.stderr, /`mimelog check` lists every damaged block/);
    const table = await runCli(['who', '--db', db, id]);
    assert.equal(table.code, 1);
    assert.match(table.stdout, /^who else received /m);
  });

  it('retain removes its events by their rows and the block with them; check is clean afterwards', async () => {
    const db = copy();
    const lost = damageBlock(db);
    const damaged = await runCli(['check', '--db', db]);
    assert.equal(damaged.code, 1);
    assert.match(damaged.stderr, /record block 3 cannot be read: its compressed bytes do not inflate \(invalid block type\)\n`mimelog check` lists every damaged block/);
    const r = await runCli(['retain', '--days', '8', '--db', db, '--json']);
    assert.equal(r.code, 0, r.stderr);
    const result = JSON.parse(r.stdout) as { eventsRemoved: number; damagedEventsRemoved: number };
    assert.equal(result.eventsRemoved, TOTAL);
    assert.equal(result.damagedEventsRemoved, lost);
    assert.deepEqual(sql(db, 'SELECT (SELECT count(*) FROM record_blocks) AS blocks, (SELECT count(*) FROM event_addresses) AS addresses, (SELECT count(*) FROM event_indicators) AS indicators'), [{ blocks: 0, addresses: 0, indicators: 0 }]);
    const check = await runCli(['check', '--db', db]);
    assert.equal(check.code, 0, check.stderr);
  });
});

describe('two retention passes', () => {
  it('a pass while another one runs is refused plainly and removes nothing', async () => {
    const db = copy();
    // Another process (alive) holds the lease and renewed it just now.
    const other = spawn(process.execPath, ['-e', 'setTimeout(() => {}, 60000)'], { stdio: 'ignore' });
    try {
      sql(db, "INSERT INTO counters (name, value) VALUES ('retention_pass_pid', ?), ('retention_pass_beat', ?)", other.pid, Date.now());
      const r = await runCli(['retain', '--days', '8', '--db', db]);
      assert.equal(r.code, 1, r.stderr);
      assert.match(r.stderr, new RegExp(`^mimelog: another retention pass is running on this store \\(process ${other.pid}, active \\d+ s ago\\): this one removed nothing`, 'm'));
      assert.doesNotMatch(r.stderr, /damaged|missing/);
      assert.equal(sql<{ n: number }>(db, 'SELECT count(*) AS n FROM events')[0]!.n, TOTAL);
    } finally {
      other.kill();
    }
    // Once that process is gone, its lease is taken over.
    await new Promise((r) => other.once('exit', r));
    const after = await runCli(['retain', '--days', '8', '--db', db]);
    assert.equal(after.code, 0, after.stderr);
    assert.deepEqual(sql(db, "SELECT name FROM counters WHERE name LIKE 'retention_pass_%'"), []);
  });

  it('two passes started together: never a report of damage, every event removed once, the counts agree', async () => {
    const db = copy();
    const [a, b] = await Promise.all([runCli(['retain', '--days', '8', '--db', db]), runCli(['retain', '--days', '8', '--db', db])]);
    for (const r of [a, b]) {
      assert.ok(r.code === 0 || /another retention pass is running/.test(r.stderr), r.stderr);
      assert.doesNotMatch(r.stderr, /damaged|missing/);
    }
    assert.deepEqual(sql(db, 'SELECT (SELECT count(*) FROM events) AS events, (SELECT coalesce(sum(events), 0) FROM event_counts) AS counted, (SELECT count(*) FROM record_blocks) AS blocks'), [{ events: 0, counted: 0, blocks: 0 }]);
    assert.equal((await runCli(['check', '--db', db])).code, 0);
  });

  it('a store locked by another writer beyond the busy timeout is said plainly', { timeout: 60_000 }, async () => {
    const db = copy();
    const holder = new Database(db);
    holder.exec('BEGIN IMMEDIATE');
    try {
      const r = await runCli(['retain', '--days', '8', '--db', db]);
      assert.equal(r.code, 1, r.stderr);
      assert.match(r.stderr, /^mimelog: the store stayed locked by another writer/m);
    } finally {
      holder.exec('ROLLBACK');
      holder.close();
    }
  });
});

describe('a store whose pages do not read', () => {
  it('stats and search say the store is damaged and send the user to mimelog check, exit 1', async () => {
    const { openSync, closeSync, writeSync, statSync } = await import('node:fs');
    const dir = tempDir('damaged-pages');
    const db = join(dir, 's.db');
    const file = join(dir, 'in.log');
    writeFileSync(file, takeEvents({ seed: 9, startMs: Date.UTC(2026, 2, 1) }, 500).map(toKeyValueLine).join('\n'));
    assert.equal((await runCli(['ingest', '--db', db, file])).code, 0);
    const fd = openSync(db, 'r+');
    writeSync(fd, Buffer.alloc(statSync(db).size - 4096, 0x5a), 0, undefined, 4096); // every page after the header's
    closeSync(fd);
    for (const args of [['stats', '--db', db], ['search', '--db', db, '--text', 'x']]) {
      const r = await runCli(args);
      assert.equal(r.code, 1, `${args[0]}: ${r.stderr}`);
      assert.match(r.stderr, /^mimelog: the store is damaged \(.+\): run mimelog check --db <the store>/, args[0]);
    }
  });
});
