/**
 * Files are kept about 7 days at Mimecast (API 1.0 and API 2.0 batch alike). A collector that was
 * down longer must record, per log type, an interval that holds every event it can no longer
 * fetch, collect everything still kept, and say so with exit status 4.
 */
import assert from 'node:assert/strict';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import Database from 'better-sqlite3';
import { fileBody, fileName } from '../../src/simulator/catalog.js';
import { v2FileBody } from '../../src/simulator/v2.js';
import { runCli } from '../support/helpers.js';
import type { SimulatorOptions } from '../../src/simulator/server.js';
import { type Running, collect, logLines, query, startSimulator, withSimulator, storedIds } from '../support/simulator.js';

const DAY = 86_400_000;
const START = Date.UTC(2026, 9, 1);

interface Row {
  id: string;
  ts: number;
  log_type: string;
}

/** The events of the catalog files `pick` selects, through `mimelog ingest`, as the API shape `api` serves them. */
async function eventsOf(r: Running, api: 'v1' | 'v2', name: string, pick: (lastEventMs: number) => boolean): Promise<Row[]> {
  const dir = join(r.dir, name);
  mkdirSync(dir, { recursive: true });
  for (const f of r.sim.catalog) {
    if (!pick(f.events.at(-1)!.timeMs)) continue;
    if (api === 'v1') writeFileSync(join(dir, fileName(f, 'key_value')), fileBody(f, 'key_value'));
    else writeFileSync(join(dir, `${f.name}.ndjson`), v2FileBody(f));
  }
  const db = join(r.dir, `${name}.db`);
  const res = await runCli(['ingest', '--db', db, dir, '--summary', 'none']);
  assert.equal(res.code, 0, res.stderr);
  return query<Row>(db, 'SELECT id, ts, log_type FROM stored_events ORDER BY ts');
}

interface GapRow {
  log_type: string | null;
  from_ms: number;
  to_ms: number;
}

/** Down for 10 days with a 7-day file retention: files published between day 3 and day 6 are gone. */
const SCENARIO: Omit<SimulatorOptions, 'seed'> = { events: 1200, eventsPerFile: 50, spacingMs: 2 * 3_600_000, startMs: START, clockMs: START + 3 * DAY, fileRetentionMs: 7 * DAY };

async function downTenDays(r: Running, api: 'v1' | 'v2') {
  const env = api === 'v2' ? { MIMECAST_CLIENT_ID: r.info.v2Credentials.clientId, MIMECAST_CLIENT_SECRET: r.info.v2Credentials.clientSecret } : {};
  const db = join(r.dir, 'store.db');
  const run = () => collect({ ...r, env: { ...r.env, ...env } }, db, api === 'v2' ? ['--api', 'v2'] : ['--format', 'key_value']);
  const before = await eventsOf(r, api, 'before', (t) => t <= START + 3 * DAY);
  const lost = await eventsOf(r, api, 'lost', (t) => t > START + 3 * DAY && t < START + 6 * DAY);
  const held = await eventsOf(r, api, 'held', (t) => t >= START + 6 * DAY && t <= START + 13 * DAY);
  assert.ok(lost.length > 50 && held.length > 50, 'the scenario loses and keeps events');

  const first = await run();
  assert.equal(first.code, 0, first.stderr.slice(-1500));
  assert.deepEqual(storedIds(db), before.map((e) => e.id).sort(), 'what the clock had reached');
  r.sim.advanceClock(10 * DAY);
  const second = await run();
  return { db, run, before, lost, held, second };
}

function assertLostInsideGaps(lost: readonly Row[], gaps: readonly GapRow[]): void {
  const outside = lost.filter((e) => !gaps.some((g) => g.log_type === e.log_type && g.from_ms < e.ts && e.ts < g.to_ms));
  assert.deepEqual(outside, [], 'every lost event lies inside a gap of its log type');
}

describe('file horizons: a collector down past 7 days', () => {
  it('API 2.0 batch: per type, the gap is exactly (newest stored, oldest held); everything held is collected; exit 4 once', async () => {
    await withSimulator({ ...SCENARIO, seed: 501 }, async (r) => {
      const { db, run, before, lost, held, second } = await downTenDays(r, 'v2');
      assert.equal(second.code, 4, second.stderr.slice(-2000));
      assert.ok(logLines(second.stderr).some((l) => l.msg === 'gap recorded: files aged out at Mimecast before they were collected'));
      assert.deepEqual(storedIds(db), [...before, ...held].map((e) => e.id).sort(), 'everything still kept is collected, nothing else');
      const gaps = query<GapRow>(db, 'SELECT log_type, from_ms, to_ms FROM gaps ORDER BY log_type');
      assertLostInsideGaps(lost, gaps);
      // Exact per type: a type's files never overlap in time.
      const lostTypes = [...new Set(lost.map((e) => e.log_type))].sort();
      assert.deepEqual(gaps.map((g) => g.log_type), lostTypes, 'one gap per type that lost files, and no other');
      for (const g of gaps) {
        const storedOfType = before.filter((e) => e.log_type === g.log_type);
        // A type never stored: every event of it before the oldest held may be missing.
        assert.equal(g.from_ms, storedOfType.length > 0 ? Math.max(...storedOfType.map((e) => e.ts)) : 0, `${g.log_type}: from the newest stored`);
        const heldOfType = held.filter((e) => e.log_type === g.log_type);
        if (heldOfType.length > 0) assert.equal(g.to_ms, Math.min(...heldOfType.map((e) => e.ts)), `${g.log_type}: to the oldest held`);
        else assert.ok(g.to_ms >= START + 13 * DAY, `${g.log_type}: nothing held, so up to the time of the run`);
      }
      // The files listed but never fetched are not left "pending" forever.
      assert.deepEqual(query(db, "SELECT count(*) AS n FROM work_items WHERE state = 'pending'"), [{ n: 0 }]);
      const third = await run();
      assert.equal(third.code, 0, `no new gap the next time: ${third.stderr.slice(-1500)}`);
      assert.equal(query(db, 'SELECT * FROM gaps').length, gaps.length);
      const stats = JSON.parse((await runCli(['stats', '--db', db, '--json'])).stdout) as { gaps: { log_type: string }[] };
      assert.deepEqual(stats.gaps.map((g) => g.log_type).sort(), lostTypes);
    });
  });

  it('API 1.0: the aged-out token is refused; the restart records per type an interval holding every lost event, and collects everything held', async () => {
    await withSimulator({ ...SCENARIO, seed: 502 }, async (r) => {
      const { db, run, before, lost, held, second } = await downTenDays(r, 'v1');
      assert.equal(second.code, 4, second.stderr.slice(-2000));
      assert.ok(logLines(second.stderr).some((l) => /token refused/.test(l.msg)));
      assert.deepEqual(storedIds(db), [...before, ...held].map((e) => e.id).sort(), 'everything still kept is collected, nothing else');
      const gaps = query<GapRow>(db, 'SELECT log_type, from_ms, to_ms FROM gaps');
      assertLostInsideGaps(lost, gaps);
      const newestBefore = Math.max(...before.map((e) => e.ts));
      const firstHeldFileEnd = Math.min(...r.sim.catalog.map((f) => f.events.at(-1)!.timeMs).filter((t) => t >= START + 6 * DAY));
      for (const g of gaps) {
        // Bounded by what is known: after the newest event of the type stored (an hour before the
        // newest of all, for a type never stored), and no later than the first file kept ends.
        const storedOfType = before.filter((e) => e.log_type === g.log_type);
        assert.equal(g.from_ms, storedOfType.length > 0 ? Math.max(...storedOfType.map((e) => e.ts)) : newestBefore - 3_600_000);
        assert.ok(g.to_ms <= firstHeldFileEnd, `${g.log_type}: ends by the first file kept`);
      }
      const third = await run();
      assert.equal(third.code, 0, third.stderr.slice(-1500));
      assert.equal(query(db, 'SELECT * FROM gaps').length, gaps.length);
    });
  });

  it('API 1.0: a token refused while every file is still kept records no gap (the restart re-reads stored files)', async () => {
    await withSimulator({ ...SCENARIO, seed: 503 }, async (r) => {
      const db = join(r.dir, 'store.db');
      assert.equal((await collect(r, db, ['--format', 'key_value'])).code, 0);
      r.sim.advanceClock(2 * DAY);
      // Every file is still kept, and the token is refused anyway (here: a token that was never issued).
      const store = new Database(db);
      store.prepare("UPDATE checkpoints SET cursor = 'bm90LWEtdG9rZW4' WHERE source LIKE 'mimecast-v1 %'").run();
      store.close();
      const res = await collect(r, db, ['--format', 'key_value']);
      assert.equal(res.code, 0, res.stderr.slice(-1500));
      assert.ok(logLines(res.stderr).some((l) => /token refused/.test(l.msg)), 'the token was refused');
      assert.equal(query(db, 'SELECT * FROM gaps').length, 0);
      assert.ok(query<{ n: number }>(db, "SELECT value AS n FROM counters WHERE name = 'duplicates'")[0]!.n > 0, 'the stored files were read again');
    });
  });
});
