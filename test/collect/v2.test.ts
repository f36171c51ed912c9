import assert from 'node:assert/strict';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { OAUTH_PATH_V2 as OAUTH_PATH } from '../../src/mimecast/endpoints.js';
import { SIEM_PRODUCTS } from '../../src/mimecast/products.js';
import { V2_FAULTS } from '../../src/simulator/faults.js';
import { killWhileDelivering, runCli } from '../support/helpers.js';
import { type Running, logLines, query, startSimulator, storedIds } from '../support/simulator.js';

const BATCH_PATH = SIEM_PRODUCTS.cg.batchPath;

function v2Env(r: Running): NodeJS.ProcessEnv {
  return { MIMECAST_CLIENT_ID: r.info.v2Credentials.clientId, MIMECAST_CLIENT_SECRET: r.info.v2Credentials.clientSecret };
}

function collectV2(r: Running, db: string, extra: string[] = []) {
  return runCli(['collect', '--api', 'v2', '--url', r.info.url, '--db', db, '--once', '--retry-base-ms', '20', '--retry-max-ms', '300', '--timeout', '5', ...extra], { env: v2Env(r) });
}

async function token(r: Running): Promise<string> {
  const res = await fetch(new URL(OAUTH_PATH, r.info.url), {
    method: 'POST',
    body: new URLSearchParams({ client_id: r.info.v2Credentials.clientId, client_secret: r.info.v2Credentials.clientSecret, grant_type: 'client_credentials' }),
  });
  return ((await res.json()) as { access_token: string }).access_token;
}

/** The expected v2 event set; files with a malformed line (fault `malformed-line`) dead-letter it here too. */
async function expectedV2(r: Running): Promise<string[]> {
  const dir = join(r.dir, 'expected-v2');
  r.sim.v2.writeExpected(dir);
  const db = join(r.dir, 'expected-v2.db');
  const res = await runCli(['ingest', '--db', db, dir, '--summary', 'none']);
  assert.ok(res.code === 0 || res.code === 2, res.stderr);
  return storedIds(db);
}

describe('API 2.0 (simulator and batch collector)', () => {
  it('simulates OAuth2, the batch listing and pre-signed URLs that expire and refuse Authorization', async () => {
    // URLs live 2 s: long enough for the calls below to fetch one in time on a loaded machine (300 ms
    // was not always), and the test waits for the listed expiry itself before trying an expired one.
    const r = await startSimulator({ seed: 90, events: 3000, eventsPerFile: 200, v2: { urlTtlMs: 2_000 } });
    const bad = await fetch(new URL(OAUTH_PATH, r.info.url), { method: 'POST', body: new URLSearchParams({ client_id: 'x', client_secret: 'y', grant_type: 'client_credentials' }) });
    assert.equal(bad.status, 401);
    const list = (t?: string, next?: string) =>
      fetch(`${r.info.url}${BATCH_PATH}?type=receipt&pageSize=2${next ? `&nextPage=${next}` : ''}`, { headers: t ? { authorization: `Bearer ${t}` } : {} });
    assert.equal((await list()).status, 401);
    const t = await token(r);
    const page = (await (await list(t)).json()) as { value: { url: string; expiry: string }[]; '@nextPage': string; isCaughtUp: boolean };
    assert.equal(page.value.length, 2);
    assert.equal(page.isCaughtUp, false);
    const withAuth = await fetch(page.value[0]!.url, { headers: { authorization: `Bearer ${t}` } });
    assert.equal(withAuth.status, 400);
    const file = await fetch(page.value[0]!.url);
    assert.equal(file.status, 200);
    assert.equal(Buffer.from(await file.arrayBuffer()).subarray(0, 2).toString('hex'), '1f8b');
    const expiry = Date.parse(page.value[1]!.expiry);
    while (Date.now() <= expiry) await new Promise((res) => setTimeout(res, expiry + 1 - Date.now()));
    assert.equal((await fetch(page.value[1]!.url)).status, 403, 'expired');
    // Paging to the end: the last page is empty, caught up, and still carries @nextPage.
    let next = page['@nextPage'];
    let last = page;
    for (let i = 0; i < 100 && !last.isCaughtUp; i++) {
      last = (await (await list(t, next)).json()) as typeof page;
      next = last['@nextPage'];
    }
    const empty = (await (await list(t, next)).json()) as typeof page;
    assert.deepEqual([empty.value.length, empty.isCaughtUp, empty['@nextPage']], [0, true, next]);
    await r.sim.stop();
  });

  it('collects every type equal to the expected set while tokens and URLs expire; a second run adds nothing', { timeout: 180_000 }, async () => {
    const r = await startSimulator({ seed: 91, events: 20_000, eventsPerFile: 250, v2: { tokenTtlMs: 1500, urlTtlMs: 120 } });
    const db = join(r.dir, 'v2.db');
    const res = await collectV2(r, db, ['--page-size', '10']);
    assert.equal(res.code, 0, res.stderr.slice(-1500));
    const lines = logLines(res.stderr);
    assert.ok(lines.some((l) => l.msg === 'listing the page again for fresh URLs'), 'URLs expired and were listed again');
    assert.deepEqual(storedIds(db), await expectedV2(r));
    const sources = query<{ s: string }>(db, 'SELECT DISTINCT log_type_source AS s FROM stored_events');
    assert.deepEqual(sources, [{ s: 'record' }]);
    const done = query<{ n: number }>(db, "SELECT count(*) AS n FROM work_items WHERE state = 'done'")[0]!.n;
    assert.equal(done, r.sim.catalog.length);
    const again = await collectV2(r, db);
    assert.equal(again.code, 0);
    assert.equal(logLines(again.stderr).find((l) => l.msg === 'done')!.records, 0, 'resumed from the stored page tokens');
    // stats: per type, the queue is empty, every file done, the type caught up, the lag known.
    const stats = JSON.parse((await runCli(['stats', '--db', db, '--json'])).stdout) as { api_streams: { stream: string; caught_up: boolean; lag_seconds: number; pending: number; done: number }[] };
    assert.equal(stats.api_streams.length, 10);
    assert.ok(stats.api_streams.every((a) => a.caught_up && a.pending === 0 && a.lag_seconds > 0), JSON.stringify(stats.api_streams[0]));
    assert.equal(stats.api_streams.reduce((n, a) => n + a.done, 0), r.sim.catalog.length);
    const text = (await runCli(['stats', '--db', db])).stdout;
    assert.match(text, /API stream\s+caught up\s+lag\s+files pending\s+done\s+dead-lettered/);
    for (const out of [res.stderr, res.stdout]) assert.ok(!out.includes(r.info.v2Credentials.clientSecret));
    await r.sim.stop();
  });

  it('ends with exactly the expected set after 20+ kill -9 during a batch collection', { timeout: 600_000 }, async () => {
    const r = await startSimulator({ seed: 93, events: 30_000, eventsPerFile: 200, v2: { urlTtlMs: 2000 } });
    const db = join(r.dir, 'k.db');
    const kills = await killWhileDelivering(['collect', '--api', 'v2', '--url', r.info.url, '--db', db, '--once', '--retry-base-ms', '20', '--timeout', '5'], {
      kills: 22, db, total: 30_000, seed: 8, env: v2Env(r),
    });
    assert.ok(kills >= 20, `only ${kills} kills landed`);
    const final = await collectV2(r, db);
    assert.equal(final.code, 0, final.stderr.slice(-1000));
    assert.deepEqual(storedIds(db), await expectedV2(r));
    await r.sim.stop();
  });

  it('collects ≥ 50,000 events in batch mode with every API 2.0 fault switched on, equal to the expected set', { timeout: 600_000 }, async () => {
    // The fault expires only tokens older than 1 s, and the client renews a token at half its life:
    // with a 4 s life, a loaded machine (test files run in parallel) listed with fresh tokens only.
    const r = await startSimulator({ seed: 94, events: 52_000, eventsPerFile: 400, faults: { enabled: [...V2_FAULTS], rate: 0.25, seed: 4 }, v2: { tokenTtlMs: 10_000, urlTtlMs: 3000 } });
    try {
      const db = join(r.dir, 'faults.db');
      const res = await collectV2(r, db, ['--page-size', '4', '--concurrency', '3']);
      assert.equal(res.code, 2, res.stderr.slice(-1500)); // 2: the malformed lines were dead-lettered
      for (const f of ['429', '5xx', 'expired-url', 'truncated-gzip', 'empty-page', 'token-expiry']) {
        assert.ok((r.sim.injectedFaults[f] ?? 0) > 0, `fault ${f} never happened: ${JSON.stringify(r.sim.injectedFaults)}`);
      }
      const expected = await expectedV2(r);
      assert.equal(expected.length, 52_000);
      assert.deepEqual(storedIds(db), expected);
      // Each malformed line is one dead letter with its file and line; no file was dead-lettered whole.
      const dead = query<{ source: string; position: number; reason: string }>(db, 'SELECT source, position, reason FROM dead_letters ORDER BY source');
      const malformed = r.sim.catalog.filter((f) => f.index % 11 === 2).length;
      assert.equal(dead.length, malformed, JSON.stringify(dead.slice(0, 3)));
      assert.ok(dead.every((d) => d.position === 2), 'the broken line is the second of its file');
      const long = query<{ n: number }>(db, 'SELECT max(length(subject)) AS n FROM stored_events')[0]!.n;
      assert.ok(long > 1 << 20, 'the line over 1 MiB was stored whole');
      assert.equal(query<{ n: number }>(db, "SELECT count(*) AS n FROM work_items WHERE state = 'done'")[0]!.n, r.sim.catalog.length);
    } finally {
      await r.sim.stop();
    }
  });

  it('collects ≥ 50,000 events in stream mode with faults, equal to the expected set; a second run adds nothing', { timeout: 600_000 }, async () => {
    const r = await startSimulator({ seed: 95, events: 51_000, eventsPerFile: 300, faults: { enabled: ['429', '5xx', 'empty-page', 'token-expiry', 'long-line'], rate: 0.15, seed: 5 } });
    try {
      const db = join(r.dir, 'stream.db');
      const res = await collectV2(r, db, ['--mode', 'stream', '--page-size', '700']);
      assert.equal(res.code, 0, res.stderr.slice(-1500));
      for (const f of ['429', '5xx', 'empty-page', 'token-expiry']) assert.ok((r.sim.injectedFaults[f] ?? 0) > 0, `fault ${f} never happened`);
      const expected = await expectedV2(r);
      assert.equal(expected.length, 51_000);
      assert.deepEqual(storedIds(db), expected);
      assert.deepEqual(query(db, 'SELECT DISTINCT log_type_source AS s FROM stored_events'), [{ s: 'record' }]);
      const again = await collectV2(r, db, ['--mode', 'stream']);
      assert.equal(again.code, 0);
      assert.equal(logLines(again.stderr).find((l) => l.msg === 'done')!.records, 0, 'resumed from the stored page token');
    } finally {
      await r.sim.stop();
    }
  });

  it('ends with exactly the expected set after 20+ kill -9 during a stream collection', { timeout: 600_000 }, async () => {
    const r = await startSimulator({ seed: 98, events: 30_000, eventsPerFile: 200, faults: { enabled: ['429', '5xx', 'empty-page'], rate: 0.05, seed: 6 } });
    try {
      const args = (db: string) => ['collect', '--api', 'v2', '--mode', 'stream', '--page-size', '300', '--url', r.info.url, '--db', db, '--once', '--retry-base-ms', '20', '--timeout', '5'];
      const db = join(r.dir, 'k.db');
      const kills = await killWhileDelivering(args(db), { kills: 22, db, total: 30_000, seed: 9, env: v2Env(r) });
      assert.ok(kills >= 20, `only ${kills} kills landed`);
      const final = await runCli(args(db), { env: v2Env(r) });
      assert.equal(final.code, 0, final.stderr.slice(-1000));
      assert.deepEqual(storedIds(db), await expectedV2(r));
    } finally {
      await r.sim.stop();
    }
  });

  it('collects types concurrently within one rate budget: the limit is respected, not discovered by 429s', { timeout: 300_000 }, async () => {
    const r = await startSimulator({ seed: 96, events: 6000, eventsPerFile: 100, rateLimit: { limit: 5, windowMs: 1000 } });
    try {
      const db = join(r.dir, 'rate.db');
      const res = await collectV2(r, db, ['--page-size', '1', '--concurrency', '4']);
      assert.equal(res.code, 0, res.stderr.slice(-1500));
      assert.deepEqual(storedIds(db), await expectedV2(r));
      // Several windows were used up; callers waited together, so at most the calls already in flight met a 429.
      assert.ok(r.sim.rateLimited <= 3, `${r.sim.rateLimited} calls refused by the rate limit`);
    } finally {
      await r.sim.stop();
    }
  });

  it('dead-letters a file that never decodes with its bytes, after fetching it whole, and stores everything else', { timeout: 120_000 }, async () => {
    const r = await startSimulator({ seed: 97, events: 3000, eventsPerFile: 200, v2: { corruptFiles: [4] } });
    try {
      const db = join(r.dir, 'corrupt.db');
      const res = await collectV2(r, db, ['--decode-retries', '1']);
      assert.equal(res.code, 2, res.stderr.slice(-1500));
      const dead = query<{ source: string; reason: string; raw: Buffer }>(db, 'SELECT source, reason, raw FROM dead_letters');
      assert.equal(dead.length, 1);
      assert.match(dead[0]!.reason, /input broken after line \d+/);
      assert.equal(dead[0]!.raw.subarray(0, 2).toString('hex'), '1f8b', 'the dead letter holds the file as served');
      assert.deepEqual(query(db, "SELECT state FROM work_items WHERE state != 'done'"), [{ state: 'dead' }]);
      // Every event of the other files is stored; of the broken one, those before the break.
      const expected = new Set(await expectedV2(r));
      const stored = storedIds(db);
      assert.ok(stored.every((id) => expected.has(id)));
      const brokenFile = r.sim.catalog[4]!.events.length;
      assert.ok(stored.length >= expected.size - brokenFile && stored.length < expected.size, `${stored.length} of ${expected.size}`);
    } finally {
      await r.sim.stop();
    }
  });

  it('says clearly when the client credentials are wrong or missing', async () => {
    const r = await startSimulator({ seed: 92, events: 200 });
    const wrong = await runCli(['collect', '--api', 'v2', '--url', r.info.url, '--db', join(r.dir, 'w.db'), '--once'], { env: { MIMECAST_CLIENT_ID: 'nobody', MIMECAST_CLIENT_SECRET: 'wrong-secret-value' } });
    assert.equal(wrong.code, 1);
    assert.match(wrong.stderr, /OAuth token refused \(invalid_client\): check MIMECAST_CLIENT_ID and MIMECAST_CLIENT_SECRET/);
    assert.ok(!wrong.stderr.includes('wrong-secret-value'));
    const missing = await runCli(['collect', '--api', 'v2', '--url', r.info.url, '--db', join(r.dir, 'm.db')], { env: { MIMECAST_CLIENT_ID: '' } });
    assert.match(missing.stderr, /set MIMECAST_CLIENT_ID and MIMECAST_CLIENT_SECRET/);
    await r.sim.stop();
  });
});
