/**
 * `collect`'s checkpoints follow the account, not the spelling of the URL: the same account under
 * another spelling continues (with a warning), another account at the same URL gets its own, and
 * `--source-name` keeps a source's checkpoints whatever the URL.
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { type RunResult, runCli, tempDir } from '../support/helpers.js';
import { type Running, logLines, query, startSimulator, storedIds } from '../support/simulator.js';

const FAST = ['--retry-base-ms', '20', '--retry-max-ms', '300', '--timeout', '5', '--once'];

function collectV1(r: Running, db: string, url: string, extra: string[] = []): Promise<RunResult> {
  return runCli(['collect', '--url', url, '--db', db, ...FAST, ...extra], { env: r.env });
}

const done = (res: RunResult) => logLines(res.stderr).find((l) => l.msg === 'done') as { records: number; stored: number } | undefined;
const warnings = (res: RunResult) => logLines(res.stderr).filter((l) => l.level === 'warn').map((l) => String(l.msg));
const checkpoints = (db: string) => query<{ source: string; identity: string | null }>(db, "SELECT source, identity FROM checkpoints WHERE kind = 'mimecast-v1' ORDER BY source");

describe('collect: the checkpoint follows the account', () => {
  it('the same account under another spelling of the URL continues its checkpoint, with a warning; the store keeps no secret', { timeout: 60_000 }, async () => {
    const r = await startSimulator({ seed: 2901, events: 400, eventsPerFile: 100 });
    try {
      const db = join(tempDir('acct'), 'a.db');
      const first = await collectV1(r, db, r.info.url);
      assert.equal(first.code, 0, first.stderr.slice(-1000));
      assert.equal(done(first)!.stored, 400);
      const [cp] = checkpoints(db);
      assert.equal(cp!.source, `mimecast-v1 ${r.info.url}`);
      assert.match(cp!.identity ?? '', /^account [0-9a-f]{16}$/, 'the account, as a digest');
      for (const secret of Object.values(r.env)) assert.ok(!cp!.identity!.includes(secret!));

      // A trailing slash and a path: the same origin, the same checkpoint, nothing said.
      const slash = await collectV1(r, db, `${r.info.url}/api/`);
      assert.equal(slash.code, 0, slash.stderr.slice(-1000));
      assert.equal(done(slash)!.records, 0, 'continued');
      assert.deepEqual(warnings(slash), []);

      // Another host name for the same gateway: the account's checkpoint is found and continued.
      const port = new URL(r.info.url).port;
      const other = await collectV1(r, db, `http://localhost:${port}/`);
      assert.equal(other.code, 0, other.stderr.slice(-1000));
      assert.equal(done(other)!.records, 0, 'continued, not read again from the start');
      assert.ok(warnings(other).some((w) => w.includes(`this account's mimecast-v1 checkpoints as "mimecast-v1 ${r.info.url}"`) && w.includes('--source-name')), JSON.stringify(warnings(other)));
      assert.equal(checkpoints(db).length, 1, 'no second source');
    } finally {
      await r.sim.stop();
    }
  });

  it('another account at the same URL is a source of its own; --source-name keeps a checkpoint whatever the URL', { timeout: 60_000 }, async () => {
    const a = await startSimulator({ seed: 2902, events: 300, eventsPerFile: 100 });
    const port = Number(new URL(a.info.url).port);
    const db = join(tempDir('acct'), 'b.db');
    try {
      const first = await collectV1(a, db, a.info.url);
      assert.equal(first.code, 0, first.stderr.slice(-1000));
    } finally {
      await a.sim.stop();
    }
    // Another account (other keys, other events) answers at the same address.
    const b = await startSimulator({ seed: 2903, events: 200, eventsPerFile: 100, port });
    try {
      const second = await collectV1(b, db, b.info.url);
      assert.equal(second.code, 0, second.stderr.slice(-1000));
      assert.equal(done(second)!.stored, 200, "the other account's events, all of them");
      assert.ok(warnings(second).some((w) => w.includes("another account's mimecast-v1 checkpoints")), JSON.stringify(warnings(second)));
      const both = checkpoints(db);
      assert.equal(both.length, 2, JSON.stringify(both));
      assert.notEqual(both[0]!.identity, both[1]!.identity);
      assert.equal(storedIds(db).length, 500);
      // Its next run finds its own checkpoint again.
      const again = await collectV1(b, db, b.info.url);
      assert.equal(done(again)!.records, 0);
      assert.equal(checkpoints(db).length, 2);

      const named = await collectV1(b, db, b.info.url, ['--source-name', 'tenant-b']);
      assert.equal(named.code, 0, named.stderr.slice(-1000));
      assert.ok(checkpoints(db).some((c) => c.source === 'mimecast-v1 tenant-b'));
    } finally {
      await b.sim.stop();
    }
    // The same account moves to another address: its named checkpoint stays.
    const moved = await startSimulator({ seed: 2903, events: 200, eventsPerFile: 100 });
    try {
      const res = await collectV1(moved, db, moved.info.url, ['--source-name', 'tenant-b']);
      assert.equal(res.code, 0, res.stderr.slice(-1000));
      assert.equal(done(res)!.records, 0, 'continued under its name');
      assert.deepEqual(warnings(res), []);
      // A name that holds another account's checkpoints is refused.
      const taken = await runCli(['collect', '--url', moved.info.url, '--db', db, ...FAST, '--source-name', 'tenant-b'], { env: { ...moved.env, MIMECAST_ACCESS_KEY: 'another-key' } });
      assert.equal(taken.code, 1, taken.stderr);
      assert.match(taken.stderr, /--source-name tenant-b: the store holds another account's mimecast-v1 checkpoints under that name/);
      const bad = await runCli(['collect', '--url', moved.info.url, '--db', db, '--source-name', 'two words'], { env: moved.env });
      assert.match(bad.stderr, /--source-name: one word/);
    } finally {
      await moved.sim.stop();
    }
  });
});
