/**
 * `mimelog run`: a config file with three sources (API 1.0, API 2.0 batch, API 2.0 stream, each
 * its own simulator with faults on) in one process; kill -9 at random moments, a real Prometheus
 * scraping /metrics, horizon headroom on /readyz, and config mistakes refused with their path.
 */
import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { appendFileSync, chmodSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import Database from 'better-sqlite3';
import { BIN, ROOT, freePort, killWhileDelivering, runCli, tempDir } from '../support/helpers.js';
import { buildCatalog, fileBody } from '../../src/simulator/catalog.js';
import { type Running, expectedIds, logLines, query, startSimulator, storedIds } from '../support/simulator.js';

const PROMETHEUS = process.env.MIMELOG_PROMETHEUS ?? '/usr/bin/prometheus';

async function expectedV2(r: Running): Promise<string[]> {
  const dir = join(r.dir, 'expected-v2');
  r.sim.v2.writeExpected(dir);
  const db = join(r.dir, 'expected-v2.db');
  const res = await runCli(['ingest', '--db', db, dir, '--summary', 'none']);
  assert.equal(res.code, 0, res.stderr);
  return storedIds(db);
}

interface Sims {
  v1: Running;
  batch: Running;
  stream: Running;
  expected: string[];
}

/** Writes a config with the three sources; secrets as files (mode 600) and ${VAR}s. */
function writeConfig(dir: string, sims: Sims, o: { db: string; listen: string; pollS?: number; retryBaseMs?: number; console?: string }): { file: string; env: NodeJS.ProcessEnv } {
  const secret = (name: string, value: string) => {
    const f = join(dir, name);
    writeFileSync(f, `${value}\n`, { mode: 0o600 });
    return f;
  };
  const c1 = sims.v1.info.credentials;
  const fast = `    poll_interval_s: ${o.pollS ?? 1}\n    retry_base_ms: ${o.retryBaseMs ?? 20}\n    retry_max_ms: 300\n    timeout_s: 5\n`;
  const file = join(dir, 'mimelog.yaml');
  writeFileSync(file, `# three sources, one store
store: ${o.db}
listen: ${o.listen}
${o.console ? `console:\n  listen: ${o.console}\n` : ''}sources:
  - name: acme-v1
    kind: mimecast-v1
    url: ${sims.v1.info.url}
    credentials:
      app_id: \${ACME_APP_ID}
      app_key_file: ${secret('app-key', c1.appKey)}
      access_key_file: ${secret('access-key', c1.accessKey)}
      secret_key_file: ${secret('secret-key', c1.secretKey)}
${fast}  - name: globex-batch
    kind: mimecast-v2-batch
    url: ${sims.batch.info.url}
    credentials:
      client_id: ${sims.batch.info.v2Credentials.clientId}
      client_secret_file: ${secret('globex-secret', sims.batch.info.v2Credentials.clientSecret)}
    page_size: 10
${fast}  - name: initech-stream
    kind: mimecast-v2-stream
    url: ${sims.stream.info.url}
    credentials:
      client_id: ${sims.stream.info.v2Credentials.clientId}
      client_secret: \${INITECH_SECRET}
    page_size: 300
${fast}`);
  return { file, env: { ACME_APP_ID: c1.appId, INITECH_SECRET: sims.stream.info.v2Credentials.clientSecret } };
}

let sims: Sims;

before(async () => {
  const v1 = await startSimulator({ seed: 301, events: 15_000, eventsPerFile: 300, faults: { enabled: ['429', '5xx', 'reset', 'empty', 'fail200'], rate: 0.15, seed: 1 } });
  const batch = await startSimulator({ seed: 302, events: 15_000, eventsPerFile: 300, faults: { enabled: ['429', '5xx', 'expired-url', 'empty-page', 'token-expiry'], rate: 0.15, seed: 2 }, v2: { urlTtlMs: 2000, tokenTtlMs: 4000 } });
  const stream = await startSimulator({ seed: 303, events: 10_000, eventsPerFile: 300, faults: { enabled: ['429', '5xx', 'token-expiry'], rate: 0.15, seed: 3 }, v2: { tokenTtlMs: 4000 } });
  const expected = [...new Set([...(await expectedIds(v1)), ...(await expectedV2(batch)), ...(await expectedV2(stream))])].sort();
  assert.equal(expected.length, 40_000, 'three simulators with distinct events');
  sims = { v1, batch, stream, expected };
});

after(async () => {
  for (const s of [sims?.v1, sims?.batch, sims?.stream]) await s?.sim.stop();
});

describe('mimelog run: the config file', () => {
  it('refuses mistakes with their path and the fix, all at once, and the run does not start', async () => {
    const dir = tempDir('run-config');
    const loose = join(dir, 'loose');
    writeFileSync(loose, 'secret');
    chmodSync(loose, 0o644);
    const file = join(dir, 'bad.yaml');
    writeFileSync(file, `store: ${join(dir, 'x.db')}
lisen: 127.0.0.1:9464
sources:
  - name: a
    kind: mimecast-v2-batch
    url: http://127.0.0.1:1
    credentials: { client_id: id, client_secret: "\${NOT_SET_ANYWHERE}" }
    types: [receipt, spm]
    poll_interval_s: soon
  - name: b
    kind: mimecast-v1
    region: eu
    credentials: { app_id: a, app_key: b, access_key: c, secret_key_file: ${loose} }
`);
    chmodSync(file, 0o644); // others may read it: the secrets written in it are refused
    const r = await runCli(['run', '--config', file, '--check']);
    assert.equal(r.code, 1);
    const problems = r.stderr.split('\n').slice(1).map((l) => l.trim()).filter(Boolean).sort();
    assert.deepEqual(problems, [
      'lisen: unknown key',
      'sources[0].credentials.client_secret: ${NOT_SET_ANYWHERE} is not set in the environment',
      'sources[0].poll_interval_s: expected a number, not "soon"',
      'sources[0].types[1]: unknown type "spm", expected one of "receipt", "process", "delivery", "journal", "av", "spam", "internal email protect", "impersonation protect", "url protect", "attachment protect", "entities", "mailflow", "urlclick"',
      `sources[1].credentials.access_key: a secret written in a config file others can read (mode 644): give it as access_key_file or \${ENV_VAR}, or run chmod 600 ${file}`,
      `sources[1].credentials.app_key: a secret written in a config file others can read (mode 644): give it as app_key_file or \${ENV_VAR}, or run chmod 600 ${file}`,
      `sources[1].credentials.secret_key_file: ${loose} is readable by others: run chmod 600 ${loose}`,
    ]);
    assert.match(r.stderr, /^mimelog: config .*bad\.yaml: 7 problems:/);
    const none = await runCli(['run', '--config', join(dir, 'nope.yaml')]);
    assert.equal(none.code, 1);
    assert.match(none.stderr, /nope\.yaml: no such file/);
  });

  it("a batch source's types belong to its product (Cloud Gateway or Cloud Integrated)", async () => {
    const dir = tempDir('run-product');
    const file = join(dir, 'p.yaml');
    const source = (product: string, types: string) => `store: ${join(dir, 'x.db')}
sources:
  - name: ci
    kind: mimecast-v2-batch
    product: ${product}
    url: http://127.0.0.1:1
    credentials: { client_id: id, client_secret: secret }
    types: ${types}
`;
    writeFileSync(file, source('ci', '[entities, receipt]'), { mode: 0o600 }); // its secret is written in it: only its owner may read it
    const wrong = await runCli(['run', '--config', file, '--check']);
    assert.equal(wrong.code, 1);
    assert.match(wrong.stderr, /sources\[0\]\.types\[1\]: "receipt" is not a type of product ci, expected one of "entities", "mailflow", "urlclick"/);
    writeFileSync(file, source('ci', '[entities, mailflow]'));
    const right = await runCli(['run', '--config', file, '--check']);
    assert.equal(right.code, 0, right.stderr);
  });

  it('accepts the example config the repository ships (deploy/mimelog.example.yaml)', async () => {
    const dir = tempDir('run-example');
    const text = readFileSync(join(ROOT, 'deploy', 'mimelog.example.yaml'), 'utf8').replaceAll('/etc/mimelog/', `${dir}/`).replaceAll('/var/lib/mimelog/', `${dir}/`);
    for (const f of ['acme-app-key', 'acme-access-key', 'acme-secret-key', 'globex-client-secret']) writeFileSync(join(dir, f), 'a-secret-value\n', { mode: 0o600 });
    writeFileSync(join(dir, 'mimelog.yaml'), text);
    mkdirSync(join(dir, 'spool')); // the spool's path must exist (the unit's StateDirectory makes it)
    const r = await runCli(['run', '--config', join(dir, 'mimelog.yaml'), '--check'], { env: { ACME_APP_ID: 'app-id', GLOBEX_CLIENT_ID: 'client-id' } });
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /ok, 4 sources \(acme: mimecast-v1, globex: mimecast-v2-batch, globex-feeds: mimecast-v2-feeds, dropbox: spool\)/);
  });

  it('--check says what it would run', async () => {
    const dir = tempDir('run-check');
    const { file, env } = writeConfig(dir, sims, { db: join(dir, 's.db'), listen: '127.0.0.1:0' });
    const r = await runCli(['run', '--config', file, '--check'], { env });
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /ok, 3 sources \(acme-v1: mimecast-v1, globex-batch: mimecast-v2-batch, initech-stream: mimecast-v2-stream\)/);
  });
});

describe('mimelog run: three sources in one process', () => {
  it('kill -9 at 20 random moments, then a last run: every event stored once, secrets never logged', async () => {
    const dir = tempDir('run-kill');
    const db = join(dir, 's.db');
    const { file, env } = writeConfig(dir, sims, { db, listen: '127.0.0.1:0' });
    const kills = await killWhileDelivering(['run', '--config', file, '--once'], { kills: 20, db, total: sims.expected.length, seed: 7, env });
    assert.equal(kills, 20, 'the run was still going at each kill');
    const last = await runCli(['run', '--config', file, '--once'], { env });
    assert.equal(last.code, 0, last.stderr.slice(-2000));
    assert.deepEqual(storedIds(db), sims.expected);
    const lines = last.stderr.split('\n').filter((l) => l.startsWith('{')).map((l) => JSON.parse(l) as Record<string, unknown>);
    const fromSources = lines.filter((l) => l.msg === 'collecting' || l.msg === 'source stopped');
    assert.deepEqual(new Set(fromSources.map((l) => l.source)), new Set(['acme-v1', 'globex-batch', 'initech-stream']), 'every source line names its source');
    for (const secret of [sims.v1.info.credentials.secretKey, sims.v1.info.credentials.appKey, sims.batch.info.v2Credentials.clientSecret, sims.stream.info.v2Credentials.clientSecret]) {
      assert.ok(!last.stderr.includes(secret), 'no secret in the log');
    }
    // Each source kept its own named checkpoints.
    const d = new Database(db, { readonly: true });
    const names = (d.prepare('SELECT source FROM checkpoints ORDER BY source').all() as { source: string }[]).map((r) => r.source);
    d.close();
    assert.ok(names.some((n) => n.startsWith('mimecast-v1 ') && n.endsWith('[acme-v1]')));
    assert.ok(names.some((n) => n.startsWith('mimecast-v2-stream ') && n.endsWith('[initech-stream]')));
    assert.equal(names.filter((n) => n.startsWith('mimecast-v2 ') && n.includes('[globex-batch]')).length, 10, 'one per API 2.0 type');
  });
});

describe('mimelog run: health and metrics', () => {
  let dir: string;
  let service: ChildProcess | undefined;
  let prometheus: ChildProcess | undefined;
  let stderr = '';

  before(() => {
    dir = tempDir('run-metrics');
  });

  after(async () => {
    for (const p of [prometheus, service]) {
      if (p && p.exitCode === null) {
        p.kill('SIGKILL');
        await new Promise((r) => p.once('exit', r));
      }
    }
  });

  it('a real Prometheus scrapes /metrics: its series equal stats --json; /readyz turns degraded when a checkpoint nears the horizon; SIGTERM exits 0', async () => {
    const db = join(dir, 's.db');
    const port = await freePort();
    const consolePort = await freePort();
    const { file, env } = writeConfig(dir, sims, { db, listen: `127.0.0.1:${port}`, pollS: 600, console: `127.0.0.1:${consolePort}` });
    service = spawn(process.execPath, [BIN, 'run', '--config', file], { cwd: ROOT, env: { ...process.env, ...env }, stdio: ['ignore', 'ignore', 'pipe'] });
    service.stderr!.on('data', (c: Buffer) => (stderr += c.toString()));
    const base = `http://127.0.0.1:${port}`;
    // Caught up: every source ok and every event stored.
    const deadline = Date.now() + 120_000;
    let ready: { status: string; sources: { name: string; state: string; reason?: string }[] } | undefined;
    for (;;) {
      assert.ok(Date.now() < deadline, `not caught up in time: ${JSON.stringify(ready)} ${stderr.slice(-1500)}`);
      await new Promise((r) => setTimeout(r, 500));
      const res = await fetch(`${base}/readyz`).catch(() => undefined);
      if (!res) continue;
      ready = (await res.json()) as typeof ready;
      if (ready!.status === 'ok' && storedIds(db).length === sims.expected.length) break;
    }
    assert.equal((await fetch(`${base}/healthz`)).status, 200);

    const promPort = await freePort();
    writeFileSync(join(dir, 'prometheus.yml'), `global:\n  scrape_interval: 1s\nscrape_configs:\n  - job_name: mimelog\n    static_configs:\n      - targets: ['127.0.0.1:${port}']\n`);
    prometheus = spawn(PROMETHEUS, [`--config.file=${join(dir, 'prometheus.yml')}`, `--storage.tsdb.path=${join(dir, 'tsdb')}`, `--web.listen-address=127.0.0.1:${promPort}`],
      { stdio: 'ignore' });
    const query = async (q: string) => {
      const res = await fetch(`http://127.0.0.1:${promPort}/api/v1/query?query=${encodeURIComponent(q)}`).catch(() => undefined);
      if (!res?.ok) return [];
      return ((await res.json()) as { data: { result: { metric: Record<string, string>; value: [number, string] }[] } }).data.result;
    };
    let byType: Record<string, number> = {};
    for (let i = 0; i < 60 && Object.keys(byType).length === 0; i++) {
      await new Promise((r) => setTimeout(r, 1000));
      byType = Object.fromEntries((await query('mimelog_store_events')).map((s) => [s.metric.log_type!, Number(s.value[1])]));
    }
    const stats = JSON.parse((await runCli(['stats', '--db', db, '--json'])).stdout) as { events: number; by_type: Record<string, number>; dead_letters: number; api_streams: { stream: string; caught_up: boolean }[] };
    assert.deepEqual(byType, stats.by_type);
    const stored = await query('sum(mimelog_records_total{outcome="stored"})');
    assert.equal(Number(stored[0]!.value[1]), stats.events, 'every stored record was counted by its source');
    const perSource = Object.fromEntries((await query('sum by (source) (mimelog_records_total)')).map((s) => [s.metric.source!, Number(s.value[1])]));
    assert.deepEqual(Object.keys(perSource).sort(), ['acme-v1', 'globex-batch', 'initech-stream']);
    const headroom = await query('min by (source) (mimelog_horizon_headroom_seconds)');
    assert.equal(headroom.length, 3);
    // Caught up per checkpoint, as `stats` says it (1/0), for every checkpoint stats lists.
    const caughtUp = Object.fromEntries((await query('mimelog_caught_up')).map((s) => [s.metric.checkpoint!, Number(s.value[1])]));
    assert.deepEqual(caughtUp, Object.fromEntries(stats.api_streams.map((a) => [a.stream, a.caught_up ? 1 : 0])));
    assert.ok(Object.values(caughtUp).includes(1), 'the finished passes show as caught up');
    assert.ok((await query('mimelog_process_resident_memory_bytes')).length === 1, 'the library\'s process metrics too');
    // Every API call is counted by source, endpoint and outcome; the faults made retries.
    const calls = Object.fromEntries((await query('sum by (endpoint) (mimelog_api_calls_total)')).map((x) => [x.metric.endpoint!, Number(x.value[1])]));
    assert.deepEqual(Object.keys(calls).sort(), ['batch-file', 'batch-list', 'get-siem-logs', 'oauth', 'stream']);
    assert.ok(Object.values(calls).every((n) => n > 0));
    assert.ok(Number((await query('sum(mimelog_api_retries_total)'))[0]?.value[1] ?? 0) > 0, 'retries after the injected faults are counted');
    // The service serves the web console too (configured), over the same store.
    const overview = (await (await fetch(`http://127.0.0.1:${consolePort}/api/overview`)).json()) as { stats: { events: number; by_type: Record<string, number> } };
    assert.equal(overview.stats.events, stats.events);
    assert.deepEqual(overview.stats.by_type, stats.by_type);

    // The API 1.0 checkpoint last moved six days ago: 1 day of 7 left, under the 25% warning.
    const w = new Database(db);
    w.prepare("UPDATE checkpoints SET updated_at = ? WHERE source LIKE 'mimecast-v1 %'").run(Date.now() - 6 * 86_400_000);
    w.close();
    const degraded = (await (await fetch(`${base}/readyz`)).json()) as NonNullable<typeof ready>;
    assert.equal(degraded.status, 'degraded');
    const v1 = degraded.sources.find((s) => s.name === 'acme-v1')!;
    assert.equal(v1.state, 'degraded');
    assert.match(v1.reason!, /24\.0 h left before Mimecast drops data not yet collected \(horizon 168\.0 h/);
    assert.ok(degraded.sources.filter((s) => s.name !== 'acme-v1').every((s) => s.state === 'ok'));
    // Past the horizon it is failing, and /readyz answers 503.
    const w2 = new Database(db);
    w2.prepare("UPDATE checkpoints SET updated_at = ? WHERE source LIKE 'mimecast-v1 %'").run(Date.now() - 8 * 86_400_000);
    w2.close();
    const failing = await fetch(`${base}/readyz`);
    assert.equal(failing.status, 503);
    assert.match(JSON.stringify(await failing.json()), /past Mimecast's horizon/);
    // One log line says so, naming the source (the watch runs every 10 s).
    for (let i = 0; i < 30 && !/"msg":"source (degraded|failing)".*"source":"acme-v1"/.test(stderr); i++) await new Promise((r) => setTimeout(r, 500));
    assert.match(stderr, /"msg":"source (degraded|failing)".*"source":"acme-v1"/);

    service.kill('SIGTERM');
    const code = await new Promise<number | null>((r) => service!.once('exit', (c) => r(c)));
    assert.equal(code, 0, stderr.slice(-1500));
  });
});

describe('mimelog run: horizons and gaps', () => {
  it('the stream clock moves past the window while nothing runs: the exact missing interval is a gap, everything still held is collected, and every report says so', async () => {
    const HOUR = 3_600_000;
    const start = Date.UTC(2026, 10, 1);
    const r = await startSimulator({ seed: 310, events: 3000, eventsPerFile: 200, spacingMs: 240_000, startMs: start, clockMs: start + 10 * HOUR, v2: { streamWindowMs: 24 * HOUR } });
    try {
      const dir = tempDir('run-gap');
      const db = join(dir, 's.db');
      const port = await freePort();
      const file = join(dir, 'gap.yaml');
      writeFileSync(file, `store: ${db}\nlisten: 127.0.0.1:${port}\nsources:\n  - name: stream\n    kind: mimecast-v2-stream\n    url: ${r.info.url}\n` +
        `    credentials: { client_id: ${r.info.v2Credentials.clientId}, client_secret: ${r.info.v2Credentials.clientSecret} }\n    page_size: 200\n    poll_interval_s: 600\n    retry_base_ms: 20\n    timeout_s: 5\n`, { mode: 0o600 }); // its secret is written in it
      // Every event of the stream with its time, from the simulator's files.
      await expectedV2(r);
      const events = query<{ id: string; ts: number }>(join(r.dir, 'expected-v2.db'), 'SELECT lower(hex(id)) AS id, ts FROM events ORDER BY ts');
      assert.ok(events.at(-1)!.ts > start + 40 * HOUR, 'the data spans more than the clock will reach');

      const first = await runCli(['run', '--config', file, '--once']);
      assert.equal(first.code, 0, first.stderr.slice(-1500));
      const before = storedIds(db);
      assert.deepEqual(before, events.filter((e) => e.ts <= start + 10 * HOUR).map((e) => e.id).sort(), 'what the clock had reached');

      // Stopped for 30 hours: the window now starts at start + 16 h.
      r.sim.advanceClock(30 * HOUR);
      const second = await runCli(['run', '--config', file, '--once']);
      assert.equal(second.code, 4, `a new gap makes the exit status 4: ${second.stderr.slice(-1500)}`);
      assert.match(second.stderr, /"msg":"gap recorded: events aged out at Mimecast before they were collected"/);
      const newestStored = Math.max(...events.filter((e) => e.ts <= start + 10 * HOUR).map((e) => e.ts));
      const oldestHeld = Math.min(...events.filter((e) => e.ts >= start + 16 * HOUR).map((e) => e.ts));
      const clock = start + 40 * HOUR; // nothing newer exists yet at the source
      const stats = JSON.parse((await runCli(['stats', '--db', db, '--json'])).stdout) as { gaps: { from: string; to: string; source: string }[] };
      assert.deepEqual(stats.gaps.map((g) => [g.from, g.to]), [[new Date(newestStored).toISOString(), new Date(oldestHeld).toISOString()]]);
      const lost = events.filter((e) => e.ts > newestStored && e.ts < oldestHeld);
      assert.ok(lost.length > 100, 'hours of events were lost');
      assert.deepEqual(storedIds(db), events.filter((e) => e.ts <= newestStored || (e.ts >= oldestHeld && e.ts <= clock)).map((e) => e.id).sort(), 'everything still held was collected');

      // The service shows it: /readyz degraded with the interval, /metrics counts the gap.
      const service = spawn(process.execPath, [BIN, 'run', '--config', file], { cwd: ROOT, stdio: ['ignore', 'ignore', 'pipe'] });
      let err = '';
      service.stderr!.on('data', (c: Buffer) => (err += c.toString()));
      try {
        let ready: { status: string; sources: { state: string; reason?: string; gaps: number }[] } | undefined;
        for (let i = 0; i < 100 && !ready; i++) {
          await new Promise((res) => setTimeout(res, 200));
          ready = await fetch(`http://127.0.0.1:${port}/readyz`).then((res) => res.json() as Promise<typeof ready>, () => undefined);
        }
        assert.equal(ready!.status, 'degraded', err);
        assert.equal(ready!.sources[0]!.gaps, 1);
        assert.match(ready!.sources[0]!.reason!, new RegExp(`the events between ${new Date(newestStored).toISOString()} and ${new Date(oldestHeld).toISOString()} aged out at Mimecast`));
        const metrics = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
        assert.match(metrics, /^mimelog_gaps\{source="stream"\} 1$/m);
        assert.match(metrics, new RegExp(`^mimelog_gap_seconds\\{source="stream"\\} ${Math.round((oldestHeld - newestStored) / 1000)}$`, 'm'));
      } finally {
        service.kill('SIGTERM');
        assert.equal(await new Promise((res) => service.once('exit', res)), 0, err.slice(-1500));
      }
    } finally {
      await r.sim.stop();
    }
  });
});

describe('mimelog run: a spool directory', () => {
  it('reads what is dropped into it, each file once: a file that grows is read on from where it was, one untouched is not opened again', async () => {
    const dir = tempDir('run-spool');
    const spool = join(dir, 'spool');
    mkdirSync(spool);
    const catalog = buildCatalog({ seed: 320, events: 3000, eventsPerFile: 400, startMs: Date.UTC(2026, 10, 1) });
    const body = (i: number) => fileBody(catalog[i]!, 'key_value');
    const db = join(spool, 'store.db'); // the store inside the spool is never read as input
    const file = join(dir, 'spool.yaml');
    writeFileSync(file, `store: ${db}\nlisten: 127.0.0.1:${await freePort()}\nsources:\n  - name: drop\n    kind: spool\n    path: ${spool}\n    poll_interval_s: 1\n`);
    writeFileSync(join(spool, 'a.log'), body(0));
    writeFileSync(join(spool, 'b.log'), body(1));
    const first = await runCli(['run', '--config', file, '--once']);
    assert.equal(first.code, 0, first.stderr.slice(-1500));

    // One file grows, one is new, one is untouched.
    appendFileSync(join(spool, 'a.log'), body(2));
    writeFileSync(join(spool, 'c.log'), body(3));
    const second = await runCli(['run', '--config', file, '--once']);
    assert.equal(second.code, 0, second.stderr.slice(-1500));
    const pass = logLines(second.stderr).find((l) => l.msg === 'spool pass');
    assert.equal(pass?.files, 2, 'only the grown and the new file are read');
    const expected = join(dir, 'expected');
    mkdirSync(expected);
    for (const i of [0, 1, 2, 3]) writeFileSync(join(expected, `${i}.log`), body(i));
    const expectedDb = join(dir, 'expected.db');
    assert.equal((await runCli(['ingest', '--db', expectedDb, expected, '--summary', 'none'])).code, 0);
    assert.deepEqual(storedIds(db), storedIds(expectedDb));
    const stats = JSON.parse((await runCli(['stats', '--db', db, '--json'])).stdout) as { duplicates: number };
    assert.equal(stats.duplicates, 0, 'nothing was read twice');
    assert.match((await runCli(['run', '--config', file, '--check'])).stdout, /drop: spool/);
  });

  it('retain_days: after the sources, events older than that leave the store; a shorter retention is refused', async () => {
    const dir = tempDir('run-retain');
    const spool = join(dir, 'spool');
    mkdirSync(spool);
    // Files from 20 days ago and from yesterday.
    const old = buildCatalog({ seed: 321, events: 800, eventsPerFile: 400, startMs: Date.now() - 20 * 86_400_000 });
    const recent = buildCatalog({ seed: 322, events: 800, eventsPerFile: 400, startMs: Date.now() - 86_400_000 });
    writeFileSync(join(spool, 'old.log'), old.map((f) => fileBody(f, 'key_value')).join(''));
    writeFileSync(join(spool, 'recent.log'), recent.map((f) => fileBody(f, 'key_value')).join(''));
    const db = join(dir, 'store.db');
    const file = join(dir, 'retain.yaml');
    const config = (days: number) => `store: ${db}\nretain_days: ${days}\nlisten: 127.0.0.1:${0}\nsources:\n  - name: drop\n    kind: spool\n    path: ${spool}\n`;
    writeFileSync(file, config(7));
    const refused = await runCli(['run', '--config', file, '--check']);
    assert.equal(refused.code, 1);
    assert.match(refused.stderr, /retain_days: at least 8 days/);
    writeFileSync(file, config(10));
    const res = await runCli(['run', '--config', file, '--once']);
    assert.equal(res.code, 0, res.stderr.slice(-1500));
    const pass = logLines(res.stderr).find((l) => l.msg === 'retention pass');
    assert.equal(pass?.events_removed, 800, 'the 20-day-old events');
    const stats = JSON.parse((await runCli(['stats', '--db', db, '--json'])).stdout) as { events: number; store: { retention_removed: number; oldest_event: string } };
    assert.equal(stats.events, 800);
    assert.equal(stats.store.retention_removed, 800);
    assert.ok(Date.parse(stats.store.oldest_event) > Date.now() - 10 * 86_400_000);
  });
});
