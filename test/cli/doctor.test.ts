/**
 * `mimelog doctor` through bin/mimelog against the simulator: every check ok, a feed or product the
 * application may not read, wrong credentials, an address nobody answers at, a gateway with a wrong
 * clock, and a run config's sources and places.
 */
import assert from 'node:assert/strict';
import Database from 'better-sqlite3';
import { writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { stringify } from 'yaml';
import type { SimulatorOptions } from '../../src/simulator/server.js';
import { lines, runCli, tempDir } from '../support/helpers.js';
import { type Running, collect, withSimulator } from '../support/simulator.js';

const BASE: SimulatorOptions = { seed: 29, events: 300 };

function v2Env(r: Running): NodeJS.ProcessEnv {
  return { MIMECAST_CLIENT_ID: r.info.v2Credentials.clientId, MIMECAST_CLIENT_SECRET: r.info.v2Credentials.clientSecret };
}

function doctor(r: Running, args: string[], env: NodeJS.ProcessEnv = { ...r.env, ...v2Env(r) }) {
  return runCli(['doctor', '--url', r.info.url, '--db', join(r.dir, 'none.db'), ...args], { env });
}

/** The result lines (continuation lines `→ what to do` stay with theirs). */
function results(stdout: string): string[] {
  return lines(stdout).filter((l) => /^(ok|warn|FAIL) /.test(l));
}

/** A loopback port nothing listens on. */
async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((done) => server.listen(0, '127.0.0.1', done));
  const { port } = server.address() as { port: number };
  await new Promise<void>((done) => server.close(() => done()));
  return port;
}

describe('mimelog doctor', () => {
  it('says ok for every check of a healthy account, API 1.0 and API 2.0 (batch, stream, feeds), and exits 0', async () => {
    await withSimulator(BASE, async (r) => {
      for (const args of [[], ['--api', 'v2'], ['--api', 'v2', '--mode', 'stream'], ['--api', 'v2', '--feeds', 'all']]) {
        const res = await doctor(r, args);
        assert.equal(res.code, 0, `${args.join(' ')}: ${res.stdout}${res.stderr}`);
        const found = results(res.stdout);
        assert.ok(found.length >= 3 && found.every((l) => l.startsWith('ok ')), res.stdout);
        assert.match(res.stdout, /credentials/);
        assert.match(res.stdout, /rate limit: \d+ of 10000 calls left/);
      }
      const json = JSON.parse((await doctor(r, ['--api', 'v2', '--json'])).stdout) as { results: { status: string; check: string }[] };
      assert.ok(json.results.some((c) => c.status === 'ok' && /read Cloud Gateway SIEM batch files/.test(c.check)));
    });
  });

  it('FAILs a feed and a product the application may not read, naming it and what to enable; the others stay ok', async () => {
    await withSimulator({ ...BASE, v2: { refused: ['ttp-url', 'cg'] } }, async (r) => {
      const feeds = await doctor(r, ['--api', 'v2', '--feeds', 'audit,ttp-url']);
      assert.equal(feeds.code, 1, feeds.stdout);
      assert.match(feeds.stdout, /^ok +mimecast-v2: read audit feed/m);
      assert.match(feeds.stdout, /^FAIL +mimecast-v2: read ttp-url feed \(\/api\/ttp\/url\/get-logs\): HTTP 403 err_insufficient_permissions/m);
      assert.match(feeds.stdout, /→ enable the licence for Targeted Threat Protection: URL Protect logs/);
      const batch = await doctor(r, ['--api', 'v2']);
      assert.equal(batch.code, 1, batch.stdout);
      assert.match(batch.stdout, /^FAIL +mimecast-v2: read Cloud Gateway SIEM batch files: HTTP 403/m);
      assert.match(batch.stdout, /→ enable the Cloud Gateway SIEM logs product on the application/);
      assert.match(batch.stdout, /cannot be changed after saving/);
    });
  });

  it('FAILs wrong credentials (API 2.0 token call, API 1.0 signed call) with what to check, never printing the secret', async () => {
    await withSimulator(BASE, async (r) => {
      const v2 = await doctor(r, ['--api', 'v2'], { ...v2Env(r), MIMECAST_CLIENT_SECRET: 'not-the-secret-at-all' });
      assert.equal(v2.code, 1, v2.stdout);
      assert.match(v2.stdout, /^FAIL +mimecast-v2: credentials: the OAuth token call at 127\.0\.0\.1:\d+ answered HTTP 401/m);
      assert.match(v2.stdout, /MIMECAST_CLIENT_SECRET/);
      assert.doesNotMatch(v2.stdout + v2.stderr, /not-the-secret-at-all/);
      const wrongKey = Buffer.alloc(32, 7).toString('base64');
      const v1 = await doctor(r, [], { ...r.env, MIMECAST_SECRET_KEY: wrongKey });
      assert.equal(v1.code, 1, v1.stdout);
      assert.match(v1.stdout, /^FAIL +mimecast-v1: credentials: .*HTTP 401 err_xdk_signature_mismatch/m);
      assert.match(v1.stdout, /→ the signature does not match: check MIMECAST_SECRET_KEY/);
      assert.doesNotMatch(v1.stdout + v1.stderr, new RegExp(wrongKey.replace(/[+/=]/g, '.')));
    });
  });

  it('FAILs an address nobody answers at, naming the host and the regions without failover', async () => {
    const port = await closedPort();
    const env = { MIMECAST_CLIENT_ID: 'id', MIMECAST_CLIENT_SECRET: 'secret' };
    const res = await runCli(['doctor', '--api', 'v2', '--url', `http://127.0.0.1:${port}`], { env });
    assert.equal(res.code, 1, res.stdout + res.stderr);
    assert.match(res.stdout, new RegExp(`^FAIL +mimecast-v2: connection: cannot reach 127\\.0\\.0\\.1:${port}: ECONNREFUSED`, 'm'));
    assert.match(res.stdout, /uk and us are pinned for data residency and have no failover/);
  });

  it("warns (exit 2) when the gateway's clock is more than a minute off this machine's", async () => {
    await withSimulator({ ...BASE, dateSkewMs: -5 * 60_000 }, async (r) => {
      for (const api of ['v1', 'v2']) {
        const res = await doctor(r, ['--api', api]);
        assert.equal(res.code, 2, res.stdout);
        assert.match(res.stdout, new RegExp(`^warn +mimecast-${api}: clock: Mimecast's clock is 30\\d s behind this machine's`, 'm'));
        assert.match(res.stdout, /→ set this machine's clock right \(NTP\)/);
      }
    });
  });

  it('checks every source of a run config and its places: a refused feed and a missing spool folder are FAILs', async () => {
    await withSimulator({ ...BASE, v2: { refused: ['dlp'] } }, async (r) => {
      const dir = tempDir('doctor');
      const v2 = { url: r.info.url, credentials: { client_id: r.info.v2Credentials.clientId, client_secret: r.info.v2Credentials.clientSecret } };
      const config = (spool: string) => stringify({
        store: join(dir, 'mimelog.db'),
        listen: '127.0.0.1:0',
        sources: [
          { name: 'gateway', kind: 'mimecast-v2-batch', ...v2 },
          { name: 'feeds', kind: 'mimecast-v2-feeds', feeds: ['audit', 'dlp'], ...v2 },
          { name: 'drop', kind: 'spool', path: spool },
        ],
      });
      writeFileSync(join(dir, 'bad.yaml'), config(join(dir, 'no-such-folder')), { mode: 0o600 });
      const bad = await runCli(['doctor', '--config', join(dir, 'bad.yaml')]);
      assert.equal(bad.code, 1, bad.stdout + bad.stderr);
      assert.match(bad.stdout, /^FAIL +config: sources\[2\]\.path: .*no-such-folder does not exist/m);
      writeFileSync(join(dir, 'good.yaml'), config(dir), { mode: 0o600 });
      const good = await runCli(['doctor', '--config', join(dir, 'good.yaml')]);
      assert.equal(good.code, 1, good.stdout + good.stderr);
      assert.match(good.stdout, /^ok +config: /m);
      assert.match(good.stdout, /^ok +gateway: read Cloud Gateway SIEM batch files/m);
      assert.match(good.stdout, /^ok +feeds: read audit feed/m);
      assert.match(good.stdout, /^FAIL +feeds: read dlp feed .*HTTP 403/m);
      assert.match(good.stdout, /Data Leak Prevention/);
    });
  });

  it("gives each stored checkpoint's horizon headroom: ok when fresh, warn under a quarter of the horizon, FAIL past it", async () => {
    await withSimulator(BASE, async (r) => {
      const db = join(r.dir, 'collected.db');
      const collected = await collect(r, db);
      assert.equal(collected.code, 0, collected.stderr);
      const fresh = await doctor(r, ['--db', db]);
      assert.equal(fresh.code, 0, fresh.stdout);
      assert.match(fresh.stdout, /^ok +mimecast-v1: horizon: mimecast-v1 http:\/\/127\.0\.0\.1:\d+: last read \d+ min ago; API 1\.0 get-siem-logs files are kept 168\.0 h/m);
      const age = (days: number) => {
        const d = new Database(db);
        d.prepare('UPDATE checkpoints SET updated_at = ?').run(Date.now() - days * 86_400_000);
        d.close();
      };
      age(6);
      const low = await doctor(r, ['--db', db]);
      assert.equal(low.code, 2, low.stdout);
      assert.match(low.stdout, /^warn +mimecast-v1: horizon: .*24\.0 h of headroom/m);
      age(8);
      const gone = await doctor(r, ['--db', db]);
      assert.equal(gone.code, 1, gone.stdout);
      assert.match(gone.stdout, /^FAIL +mimecast-v1: horizon: .*0 min of headroom\n +→ data older than the horizon is gone at Mimecast/m);
    });
  });

  it('finds the checkpoints collect keeps under --source-name by their account', async () => {
    await withSimulator(BASE, async (r) => {
      const db = join(r.dir, 'named.db');
      const collected = await collect(r, db, ['--source-name', 'tenant-a']);
      assert.equal(collected.code, 0, collected.stderr);
      const found = await doctor(r, ['--db', db]);
      assert.equal(found.code, 0, found.stdout);
      assert.match(found.stdout, /^ok +mimecast-v1: horizon: mimecast-v1 tenant-a: last read \d+ min ago/m);
      assert.doesNotMatch(found.stdout, /no checkpoint in/);
    });
  });

  it('warns when little of the rate limit is left, and when a read meets a 429', async () => {
    await withSimulator({ ...BASE, rateLimit: { limit: 12, windowMs: 3_600_000 } }, async (r) => {
      const first = await doctor(r, ['--api', 'v2', '--feeds', 'all']); // 9 calls: 3 left
      assert.equal(first.code, 0, first.stdout);
      assert.match(first.stdout, /^ok +mimecast-v2: rate limit: 3 of 12 calls left in the window/m);
      const second = await doctor(r, ['--api', 'v2', '--feeds', 'all']);
      assert.equal(second.code, 2, second.stdout);
      assert.match(second.stdout, /^warn +mimecast-v2: rate limit: 0 of 12 calls left in the window\n +→ another program uses the same application/m);
      assert.match(second.stdout, /^warn +mimecast-v2: read dlp feed .*HTTP 429/m);
    });
  });

  it("FAILs an account that lives in another region, saying which gateway was tried and what to use", async () => {
    await withSimulator({ ...BASE, otherRegion: true }, async (r) => {
      const v1 = await doctor(r, []);
      assert.equal(v1.code, 1, v1.stdout);
      assert.match(v1.stdout, /^FAIL +mimecast-v1: credentials: the signed get-siem-logs call at 127\.0\.0\.1:\d+ answered HTTP 200 err_audit_log_incorrect_region\n +→ the account lives in another region: use --region of the account/m);
      const v2 = await doctor(r, ['--api', 'v2']);
      assert.equal(v2.code, 1, v2.stdout);
      assert.match(v2.stdout, /^FAIL +mimecast-v2: credentials: the OAuth token call at 127\.0\.0\.1:\d+ answered HTTP 401/m);
      assert.match(v2.stdout, /uk and us are pinned for data residency and have no failover: use the gateway the application was created for/);
    });
  });

  it('FAILs API 1.0 keys whose binding Mimecast says has expired (HTTP 418), with what to do', async () => {
    await withSimulator({ ...BASE, expireBindingAfter: 0 }, async (r) => {
      const res = await doctor(r, []);
      assert.equal(res.code, 1, res.stdout);
      assert.match(res.stdout, /^FAIL +mimecast-v1: credentials: .*HTTP 418 err_xdk_binding_expired\n +→ the API 1\.0 keys have expired: create new access and secret keys/m);
    });
  });
});
