import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import type { Fault } from '../../src/simulator/faults.js';
import { BIN, killWhileDelivering, runCli } from '../support/helpers.js';
import { FAST, type Running, collect, expectedIds, logLines, query, startSimulator, storedIds } from '../support/simulator.js';

const ALL: Fault[] = ['429', '5xx', 'reset', 'slow', 'empty', 'truncated-zip', 'truncated-json', 'fail200', 'invalid-token'];

async function withFault(fault: Fault, extra: Partial<Parameters<typeof startSimulator>[0]> = {}): Promise<Running> {
  return startSimulator({ seed: 40 + ALL.indexOf(fault), events: 4000, eventsPerFile: 400, faults: { enabled: [fault], rate: 0.4, seed: 7 }, slowMs: 1500, ...extra });
}

describe('API 1.0 collector against the simulator', () => {
  it('collects ≥ 50,000 events with every fault switched on, equal to the expected set', { timeout: 300_000 }, async () => {
    const r = await startSimulator({ seed: 2026, events: 52_000, eventsPerFile: 500, faults: { enabled: ALL, rate: 0.15, seed: 11 }, slowMs: 300 });
    const db = join(r.dir, 'c.db');
    const res = await collect(r, db);
    assert.equal(res.code, 0, res.stderr.slice(-2000));
    const injected = r.sim.injectedFaults;
    for (const f of ['429', '5xx', 'reset', 'slow', 'empty', 'truncated-zip', 'fail200'] as Fault[]) assert.ok((injected[f] ?? 0) > 0, `fault ${f} never happened: ${JSON.stringify(injected)}`);
    const expected = await expectedIds(r);
    assert.equal(expected.length, 52_000);
    assert.deepEqual(storedIds(db), expected);
    const stats = JSON.parse((await runCli(['stats', '--db', db, '--json'])).stdout) as { api_streams: { caught_up: boolean; lag_seconds: number }[] };
    assert.equal(stats.api_streams.length, 1);
    assert.ok(stats.api_streams[0]!.caught_up && stats.api_streams[0]!.lag_seconds > 0, JSON.stringify(stats.api_streams));
    await r.sim.stop();
  });

  it('ends with exactly the expected set after 20+ kill -9 at random moments while it delivers', { timeout: 600_000 }, async () => {
    const r = await startSimulator({ seed: 77, events: 52_000, eventsPerFile: 200, faults: { enabled: ['429', '5xx', 'reset', 'empty'], rate: 0.05, seed: 3 } });
    const db = join(r.dir, 'k.db');
    const kills = await killWhileDelivering(['collect', '--url', r.info.url, '--db', db, ...FAST], { kills: 22, db, total: 52_000, seed: 5, env: r.env });
    assert.ok(kills >= 20, `only ${kills} kills landed`);
    const final = await collect(r, db);
    assert.equal(final.code, 0, final.stderr.slice(-2000));
    assert.deepEqual(storedIds(db), await expectedIds(r));
    await r.sim.stop();
  });

  for (const fault of ['429', '5xx', 'reset', 'empty', 'fail200'] as Fault[]) {
    it(`retries through ${fault} and loses nothing`, { timeout: 120_000 }, async () => {
      const r = await withFault(fault);
      const db = join(r.dir, 'f.db');
      const res = await collect(r, db);
      assert.equal(res.code, 0, res.stderr.slice(-1500));
      assert.ok((r.sim.injectedFaults[fault] ?? 0) > 0, 'the fault happened');
      const retries = logLines(res.stderr).filter((l) => l.msg === 'retrying');
      assert.ok(retries.length >= (r.sim.injectedFaults[fault] ?? 0), 'each fault was retried');
      if (fault === '429') assert.ok(retries.every((l) => l.reason.includes('429') && l.wait_ms === 200), 'waited X-RateLimit-Reset');
      else assert.ok(retries.every((l) => l.wait_ms >= 10), 'never a tight loop');
      assert.deepEqual(storedIds(db), await expectedIds(r));
      await r.sim.stop();
    });
  }

  it('times out slow responses and retries them', { timeout: 120_000 }, async () => {
    const r = await withFault('slow');
    const db = join(r.dir, 's.db');
    const res = await collect(r, db, ['--timeout', '1']);
    assert.equal(res.code, 0, res.stderr.slice(-1500));
    assert.ok(logLines(res.stderr).some((l) => /timed out after 1000 ms/.test(l.reason ?? '')));
    assert.deepEqual(storedIds(db), await expectedIds(r));
    await r.sim.stop();
  });

  it('re-fetches a file that arrived truncated once (transient corruption)', { timeout: 120_000 }, async () => {
    const r = await withFault('truncated-zip', { faults: { enabled: ['truncated-zip'], rate: 0.3, seed: 7 } });
    const db = join(r.dir, 't.db');
    const res = await collect(r, db, ['--decode-retries', '8']);
    assert.equal(res.code, 0, res.stderr.slice(-1500));
    assert.ok(logLines(res.stderr).some((l) => l.msg === 'file does not decode; fetching it again'));
    assert.deepEqual(storedIds(db), await expectedIds(r));
    await r.sim.stop();
  });

  for (const [label, args, format] of [
    ['a zip', [], 'key_value'],
    ['a json file', ['--format', 'json', '--no-compress'], 'json'],
  ] as const) {
    it(`dead-letters ${label} that never decodes, whole, with its token and name, and carries on`, { timeout: 120_000 }, async () => {
      const r = await startSimulator({ seed: 61, events: 3000, eventsPerFile: 300, corruptFiles: [2] });
      const db = join(r.dir, 'p.db');
      const res = await collect(r, db, [...args]);
      assert.equal(res.code, 2, res.stderr.slice(-1500));
      const dead = query<{ source: string; reason: string; raw: Buffer }>(db, 'SELECT source, reason, raw FROM dead_letters');
      assert.equal(dead.length, 1);
      assert.match(dead[0]!.reason, new RegExp(`token ${r.sim.token(2)}`));
      assert.ok(dead[0]!.raw.length > 100, 'raw bytes kept');
      const corruptName = r.sim.catalog[2]!.name;
      assert.ok(dead[0]!.reason.includes(format === 'json' ? `${corruptName}.json` : '.zip'));
      // Everything else arrived: the expected set without the corrupt file.
      assert.deepEqual(storedIds(db), await expectedIds(r, format, (n) => n.startsWith(corruptName)));
      const cp = query<{ position: number }>(db, 'SELECT position FROM checkpoints')[0]!;
      assert.equal(cp.position, r.sim.catalog.length);
      await r.sim.stop();
    });
  }

  it('stops on an expired binding (418) with what the admin must do, keeping what it stored', { timeout: 60_000 }, async () => {
    const r = await startSimulator({ seed: 62, events: 3000, eventsPerFile: 300, expireBindingAfter: 4 });
    const db = join(r.dir, 'b.db');
    const res = await collect(r, db);
    assert.equal(res.code, 1);
    const last = res.stderr.trim().split('\n').at(-1)!;
    assert.match(last, /^mimelog: collect: err_xdk_binding_expired: the API keys have expired: an administrator must create new access and secret keys/);
    assert.equal(storedIds(db).length, r.sim.catalog.slice(0, 4).reduce((a, f) => a + f.events.length, 0));
    await r.sim.stop();
  });

  it('stops on bad keys with a clear message and never prints a secret', { timeout: 60_000 }, async () => {
    const r = await startSimulator({ seed: 63, events: 500 });
    const wrong = { ...r.env, MIMECAST_SECRET_KEY: Buffer.from('not the secret').toString('base64') };
    const res = await runCli(['collect', '--url', r.info.url, '--db', join(r.dir, 'x.db'), ...FAST, '--log-level', 'debug'], { env: wrong });
    assert.equal(res.code, 1);
    assert.match(res.stderr, /err_xdk_signature_mismatch: the request signature was refused: check MIMECAST_SECRET_KEY/);
    const ok = await collect(r, join(r.dir, 'y.db'), ['--log-level', 'debug']);
    for (const secret of [wrong.MIMECAST_SECRET_KEY, r.env.MIMECAST_SECRET_KEY!, r.env.MIMECAST_ACCESS_KEY!, r.env.MIMECAST_APP_KEY!]) {
      for (const out of [res.stdout, res.stderr, ok.stdout, ok.stderr]) assert.ok(!out.includes(secret), 'a secret was printed');
    }
    const missing = await runCli(['collect', '--url', r.info.url, '--db', join(r.dir, 'z.db')], { env: { MIMECAST_APP_ID: 'x' } });
    assert.match(missing.stderr, /missing Mimecast credentials: set MIMECAST_APP_KEY, MIMECAST_ACCESS_KEY, MIMECAST_SECRET_KEY/);
    await r.sim.stop();
  });

  it('restarts from the oldest data on an invalid token by default, or stops when told to', { timeout: 120_000 }, async () => {
    const r = await withFault('invalid-token', { faults: { enabled: ['invalid-token'], rate: 0.3, seed: 9 } });
    const db = join(r.dir, 'i.db');
    const res = await collect(r, db);
    assert.equal(res.code, 0, res.stderr.slice(-1500));
    assert.ok(logLines(res.stderr).some((l) => l.msg.startsWith('token refused: restarting')));
    assert.deepEqual(storedIds(db), await expectedIds(r));
    const dup = query<{ value: number }>(db, "SELECT value FROM counters WHERE name = 'duplicates'")[0];
    assert.ok((dup?.value ?? 0) > 0, 'the re-read came back as duplicates');
    await r.sim.stop();

    const s = await withFault('invalid-token', { faults: { enabled: ['invalid-token'], rate: 0.5, seed: 9 } });
    const stopped = await collect(s, join(s.dir, 'j.db'), ['--on-invalid-token', 'stop']);
    assert.equal(stopped.code, 1);
    assert.match(stopped.stderr, /err_audit_siem_invalid_token.*stopping/);
    await s.sim.stop();
  });

  it('finishes the file in hand and exits 0 on SIGTERM, resuming later where it stopped', { timeout: 120_000 }, async () => {
    const r = await startSimulator({ seed: 64, events: 20_000, eventsPerFile: 200, initialFiles: 5, growEveryMs: 100_000 });
    const db = join(r.dir, 'g.db');
    const child = spawn(process.execPath, [BIN, 'collect', '--url', r.info.url, '--db', db, '--poll-interval', '60'], { env: { ...process.env, ...r.env }, stdio: ['ignore', 'ignore', 'pipe'] });
    let err = '';
    child.stderr.on('data', (c: Buffer) => (err += c.toString()));
    await new Promise<void>((resolve) => {
      const check = setInterval(() => {
        if (err.includes('"caught up"')) {
          clearInterval(check);
          resolve();
        }
      }, 50);
    });
    child.kill('SIGTERM');
    const code = await new Promise<number | null>((resolve) => child.on('exit', (c) => resolve(c)));
    assert.equal(code, 0, err.slice(-1000));
    assert.equal(storedIds(db).length, r.sim.catalog.slice(0, 5).reduce((a, f) => a + f.events.length, 0));
    const cp = query<{ cursor: string }>(db, 'SELECT cursor FROM checkpoints')[0]!;
    assert.equal(cp.cursor, r.sim.token(5));
    await r.sim.stop();
  });
});
