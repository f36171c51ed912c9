/**
 * Issue 27: moving from API 1.0 to API 2.0 with one simulator and one store. API 1.0 (part of the
 * data) → API 2.0 batch → API 2.0 stream, and the reverse, store each event exactly once; the
 * hand-over starts API 2.0 where API 1.0 ends, stops API 1.0 once covered, and records a gap when
 * API 2.0's horizon no longer reaches back.
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import Database from 'better-sqlite3';
import type { SimulatorOptions } from '../../src/simulator/server.js';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { writeFileSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { BIN, killWhileDelivering, runCli } from '../support/helpers.js';
import { type Running, collect, logLines, query, withSimulator } from '../support/simulator.js';

const DAY = 86_400_000;

function v2(r: Running): Running {
  return { ...r, env: { ...r.env, MIMECAST_CLIENT_ID: r.info.v2Credentials.clientId, MIMECAST_CLIENT_SECRET: r.info.v2Credentials.clientSecret } };
}

/** Per cross-version key, how many copies an API served (rows of `cross_ids` of one store). */
function keyCounts(db: string, api: 1 | 2): Map<string, number> {
  const d = new Database(db, { readonly: true });
  const rows = d.prepare('SELECT lower(hex(key)) AS k, count(*) AS n FROM cross_ids WHERE api = ? GROUP BY key').all(api) as { k: string; n: number }[];
  d.close();
  return new Map(rows.map((r) => [r.k, r.n]));
}

/** Per key, the stored events of a store (each stored event has its own row, by its rowid: schema 18). */
function storedKeyCounts(db: string): Map<string, number> {
  const d = new Database(db, { readonly: true });
  const rows = d.prepare('SELECT lower(hex(c.key)) AS k, count(*) AS n FROM events e JOIN cross_ids c ON c.event = e.rowid GROUP BY c.key').all() as { k: string; n: number }[];
  d.close();
  return new Map(rows.map((r) => [r.k, r.n]));
}

/**
 * The expected set: every file as each API serves it, ingested into two stores. Per key, the
 * distinct events are the most copies either API holds (two API 2.0 lines that API 1.0 writes
 * alike are two events); the union of both stores' ids is every id a correct store may use.
 */
async function expected(r: Running): Promise<{ keys: Map<string, number>; ids: Set<string>; events: number }> {
  const dirs = { v1: join(r.dir, 'exp-v1'), v2: join(r.dir, 'exp-v2') };
  r.sim.writeExpected(dirs.v1, 'key_value');
  r.sim.v2.writeExpected(dirs.v2);
  const ids = new Set<string>();
  const counts: Map<string, number>[] = [];
  for (const api of ['v1', 'v2'] as const) {
    const db = join(r.dir, `exp-${api}.db`);
    const res = await runCli(['ingest', '--db', db, dirs[api], '--summary', 'none']);
    assert.equal(res.code, 0, res.stderr);
    for (const row of query<{ id: string }>(db, 'SELECT id FROM stored_events')) ids.add(row.id);
    counts.push(keyCounts(db, api === 'v1' ? 1 : 2));
  }
  const keys = new Map<string, number>();
  for (const k of new Set([...counts[0]!.keys(), ...counts[1]!.keys()])) keys.set(k, Math.max(counts[0]!.get(k) ?? 0, counts[1]!.get(k) ?? 0));
  return { keys, ids, events: [...keys.values()].reduce((a, b) => a + b, 0) };
}

/** The store holds exactly the expected set: per key as many events as expected, each a real copy, no collision. */
function assertExactly(db: string, want: Awaited<ReturnType<typeof expected>>, what: string): void {
  const stored = query<{ id: string }>(db, 'SELECT id FROM stored_events').map((row) => row.id);
  assert.equal(stored.length, want.events, `${what}: one stored event per distinct event`);
  assert.deepEqual(stored.filter((id) => !want.ids.has(id)), [], `${what}: every stored event is one an API served`);
  assert.deepEqual(storedKeyCounts(db), want.keys, `${what}: per cross-version key, exactly the distinct events`);
  assert.deepEqual(query(db, 'SELECT count(*) AS n FROM collisions'), [{ n: 0 }]);
}

/** A few hours of mail; the clock first at 40 % of it (API 1.0 collects part), files kept 7 days, a 24-hour stream. */
function scenario(seed: number): SimulatorOptions {
  return { seed, events: 3000, eventsPerFile: 150, spacingMs: 10_000, fileRetentionMs: 7 * DAY, v2: { streamWindowMs: DAY } };
}

async function moveClockTo(r: Running, share: number): Promise<void> {
  const first = r.sim.catalog[0]!.events[0]!.timeMs;
  const last = Math.max(...r.sim.catalog.map((f) => f.events.at(-1)!.timeMs));
  r.sim.advanceClock(first + (last - first) * share - r.sim.clock);
}

describe('moving from API 1.0 to API 2.0: one store, no gap, no duplicate', () => {
  it('API 1.0 (part) → API 2.0 batch → API 2.0 stream with --hand-over: exactly the expected set; API 1.0 then stops', { timeout: 120_000 }, async () => {
    await withSimulator({ ...scenario(2701), clockMs: 0 }, async (r) => {
      await moveClockTo(r, 0.4);
      const db = join(r.dir, 'store.db');
      const first = await collect(r, db, ['--api', 'v1']);
      assert.equal(first.code, 0, first.stderr.slice(-1500));
      const v1Stored = query<{ n: number }>(db, 'SELECT count(*) AS n FROM stored_events')[0]!.n;
      assert.ok(v1Stored > 300 && v1Stored < 2700, `API 1.0 collected part of the data (${v1Stored})`);
      await moveClockTo(r, 1);
      const batch = await collect(v2(r), db, ['--api', 'v2', '--hand-over']);
      assert.equal(batch.code, 0, batch.stderr.slice(-1500));
      const stream = await collect(v2(r), db, ['--api', 'v2', '--mode', 'stream', '--hand-over']);
      assert.equal(stream.code, 0, stream.stderr.slice(-1500));
      assert.ok(logLines(stream.stderr).some((l) => /^hand-over complete/.test(l.msg)), 'the hand-over says it is complete');
      const want = await expected(r);
      assertExactly(db, want, 'forward');
      // API 1.0 stops: it collects nothing more, and says why.
      const after = await collect(r, db, ['--api', 'v1']);
      assert.equal(after.code, 0, after.stderr.slice(-1500));
      assert.ok(logLines(after.stderr).some((l) => l.msg === 'API 1.0 handed over to API 2.0: this source stops'));
      assertExactly(db, want, 'after API 1.0 stopped');
      const stats = JSON.parse((await runCli(['stats', '--db', db, '--json'])).stdout) as { handover: { complete: boolean; types: { state: string; v1_newest: string }[] }; gaps: unknown[] };
      assert.equal(stats.handover.complete, true);
      assert.ok(stats.handover.types.every((t) => t.state === 'handed-over' && t.v1_newest), 'stats says per type where API 1.0 ended');
      assert.deepEqual(stats.gaps, []);
      const text = (await runCli(['stats', '--db', db])).stdout;
      assert.match(text, /hand-over API 1\.0 → API 2\.0 .*complete/);
    });
  });

  it('the reverse order, API 2.0 batch → API 1.0 → API 2.0 stream (json files): exactly the expected set', { timeout: 120_000 }, async () => {
    await withSimulator(scenario(2702), async (r) => {
      const db = join(r.dir, 'store.db');
      for (const args of [['--api', 'v2'], ['--api', 'v1', '--format', 'json'], ['--api', 'v2', '--mode', 'stream']]) {
        const res = await collect(v2(r), db, args);
        assert.equal(res.code, 0, `${args.join(' ')}: ${res.stderr.slice(-1500)}`);
      }
      assertExactly(db, await expected(r), 'reverse');
    });
  });

  it('records the gap when API 2.0 no longer reaches back to API 1.0\'s newest event: per type, never silent, exit 4 once', { timeout: 120_000 }, async () => {
    const start = Date.UTC(2026, 4, 1);
    // Two events an hour over 10 days; API 1.0 stops after day 2; API 2.0's stream starts on day 10 (it keeps 24 hours).
    await withSimulator({ seed: 2703, events: 1500, eventsPerFile: 60, spacingMs: 1_800_000, startMs: start, clockMs: start + 2 * DAY, fileRetentionMs: 7 * DAY, v2: { streamWindowMs: DAY } }, async (r) => {
      const db = join(r.dir, 'store.db');
      assert.equal((await collect(r, db, ['--api', 'v1'])).code, 0);
      r.sim.advanceClock(8 * DAY);
      const stream = await collect(v2(r), db, ['--api', 'v2', '--mode', 'stream', '--hand-over']);
      assert.equal(stream.code, 4, stream.stderr.slice(-1500));
      const gaps = query<{ log_type: string; from_ms: number; to_ms: number; source: string }>(db, 'SELECT log_type, from_ms, to_ms, source FROM gaps ORDER BY log_type');
      const types = query<{ log_type: string; newest: number }>(db, "SELECT log_type, max(ts) AS newest FROM stored_events WHERE rowid IN (SELECT event FROM cross_ids WHERE api = 1) GROUP BY log_type ORDER BY log_type");
      assert.deepEqual(gaps.map((g) => [g.log_type, g.from_ms]), types.map((t) => [t.log_type, t.newest]), 'one gap per type, from API 1.0\'s newest event of it');
      assert.ok(gaps.every((g) => g.to_ms > r.sim.clock - DAY - 60_000 && g.source === 'hand-over API 1.0 → API 2.0'), 'to API 2.0\'s oldest event (inside the 24-hour window)');
      const again = await collect(v2(r), db, ['--api', 'v2', '--mode', 'stream', '--hand-over']);
      assert.equal(again.code, 0, 'the gap is recorded once');
      assert.equal(query(db, 'SELECT * FROM gaps').length, gaps.length);
    });
  });

  it('mimelog run: API 1.0 and API 2.0 batch and stream (hand_over) in one service, 20 kill -9, then exactly the expected set', { timeout: 300_000 }, async () => {
    await withSimulator(scenario(2704), async (r) => {
      const db = join(r.dir, 'store.db');
      const c = r.info.credentials;
      const v2c = r.info.v2Credentials;
      const fast = '    poll_interval_s: 1\n    retry_base_ms: 20\n    retry_max_ms: 300\n    timeout_s: 5\n';
      const file = join(r.dir, 'mimelog.yaml');
      writeFileSync(file, `store: ${db}
listen: 127.0.0.1:0
sources:
  - name: acme-v1
    kind: mimecast-v1
    url: ${r.info.url}
    credentials: { app_id: ${c.appId}, app_key: ${c.appKey}, access_key: ${c.accessKey}, secret_key: ${c.secretKey} }
${fast}  - name: acme-batch
    kind: mimecast-v2-batch
    hand_over: true
    url: ${r.info.url}
    credentials: { client_id: ${v2c.clientId}, client_secret: ${v2c.clientSecret} }
${fast}  - name: acme-stream
    kind: mimecast-v2-stream
    hand_over: true
    url: ${r.info.url}
    credentials: { client_id: ${v2c.clientId}, client_secret: ${v2c.clientSecret} }
    page_size: 200
${fast}`, { mode: 0o600 });
      const want = await expected(r);
      const kills = await killWhileDelivering(['run', '--config', file, '--once'], { kills: 20, db, total: want.events, seed: 2704 });
      assert.ok(kills >= 20, `killed ${kills} times while delivering`);
      const last = await runCli(['run', '--config', file, '--once']);
      assert.equal(last.code, 0, last.stderr.slice(-1500));
      assertExactly(db, want, 'after 20 kill -9');
      const stats = JSON.parse((await runCli(['stats', '--db', db, '--json'])).stdout) as { handover?: { types: unknown[] } };
      assert.ok(stats.handover && stats.handover.types.length > 0, 'stats shows the hand-over');
      // The service keeps running: its API 1.0 source has stopped by itself, and /readyz says where the hand-over happened.
      const service = spawn(process.execPath, [BIN, 'run', '--config', file], { stdio: ['ignore', 'ignore', 'pipe'] });
      try {
        let log = '';
        const url = await new Promise<string>((resolve, reject) => {
          service.stderr!.on('data', (d: Buffer) => {
            log += d;
            const m = /"msg":"service listening","url":"([^"]+)"/.exec(log);
            if (m) resolve(m[1]!);
          });
          service.once('exit', () => reject(new Error(`service exited: ${log.slice(-1500)}`)));
        });
        let ready: { handover?: { complete: boolean } } | undefined;
        for (let i = 0; i < 100 && !/"source":"acme-v1".*"msg":"source stopped"/.test(log); i++) await sleep(100);
        ready = (await (await fetch(new URL('/readyz', url))).json()) as typeof ready;
        assert.equal(ready!.handover?.complete, true, JSON.stringify(ready));
        assert.match(log, /"msg":"API 1.0 handed over to API 2.0: this source stops"/);
      } finally {
        service.kill('SIGTERM');
        await once(service, 'exit');
      }
    });
  });
});
