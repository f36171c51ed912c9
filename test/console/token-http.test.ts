/**
 * Who can read the console, over real HTTP on loopback (no browser): without a token, anyone who
 * can reach the port (every local user); `--require-token` (`console.require_token`) refuses to
 * start without a token, and with one every API answer needs it.
 */
import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { chmodSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { BIN, runCli, tempDir } from '../support/helpers.js';

const TOKEN = 'a-console-token-of-32-characters';

/** Starts `mimelog console` with `args` and resolves with its URL once it listens. */
function startConsole(args: readonly string[], env: NodeJS.ProcessEnv = {}): Promise<{ url: string; child: ChildProcess }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [BIN, 'console', ...args], { stdio: ['ignore', 'ignore', 'pipe'], env: { ...process.env, ...env } });
    let err = '';
    child.stderr!.on('data', (c: Buffer) => {
      err += c.toString();
      const m = /mimelog console: (http:\/\/[^/\s]+)/.exec(err);
      if (m) resolve({ url: m[1]!, child });
    });
    child.once('exit', (code) => reject(new Error(`console exited ${code}: ${err}`)));
  });
}

async function stop(child: ChildProcess): Promise<void> {
  const exited = new Promise((res) => child.once('exit', res));
  child.kill('SIGTERM');
  await exited;
}

async function storeWithDeadLetter(dir: string): Promise<string> {
  const db = join(dir, 'store.db');
  const input = join(dir, 'in.log');
  writeFileSync(input, 'this is not a Mimecast record\n');
  assert.equal((await runCli(['ingest', '--db', db, input, '--summary', 'none'])).code, 2);
  return db;
}

describe('console: who may read it', () => {
  it('on loopback without a token, every local user reads the dead letters (what the README says)', async () => {
    const dir = tempDir('console-open');
    const db = await storeWithDeadLetter(dir);
    const { url, child } = await startConsole(['--db', db, '--listen', '127.0.0.1:0']);
    try {
      const res = await fetch(`${url}/api/dead-letters`);
      assert.equal(res.status, 200);
      assert.match(await res.text(), /this is not a Mimecast record/);
    } finally {
      await stop(child);
    }
  });

  it('--require-token: refused without a token; with one, loopback answers only with the token', async () => {
    const dir = tempDir('console-token');
    const db = await storeWithDeadLetter(dir);
    const refused = await runCli(['console', '--db', db, '--listen', '127.0.0.1:0', '--require-token'], { env: { MIMELOG_CONSOLE_TOKEN: '' } });
    assert.equal(refused.code, 1);
    assert.match(refused.stderr, /--require-token: no token given \(--token-file or MIMELOG_CONSOLE_TOKEN\)/);

    const tokenFile = join(dir, 'token');
    writeFileSync(tokenFile, `${TOKEN}\n`);
    chmodSync(tokenFile, 0o600);
    const { url, child } = await startConsole(['--db', db, '--listen', '127.0.0.1:0', '--require-token', '--token-file', tokenFile]);
    try {
      for (const auth of [undefined, 'Bearer wrong-token-of-32-characters.', `Basic ${TOKEN}`]) {
        const res = await fetch(`${url}/api/dead-letters`, { headers: auth ? { authorization: auth } : {} });
        assert.equal(res.status, 401, `${auth}`);
        assert.doesNotMatch(await res.text(), /not a Mimecast record/);
      }
      const res = await fetch(`${url}/api/dead-letters`, { headers: { authorization: `Bearer ${TOKEN}` } });
      assert.equal(res.status, 200);
      assert.match(await res.text(), /this is not a Mimecast record/);
    } finally {
      await stop(child);
    }
  });

  it('the service: console.require_token without a token fails the config check', async () => {
    const dir = tempDir('console-config');
    const tokenFile = join(dir, 'token');
    writeFileSync(tokenFile, TOKEN);
    chmodSync(tokenFile, 0o600);
    const config = (extra: string) => `store: ${join(dir, 's.db')}\nconsole:\n  listen: 127.0.0.1:0\n  require_token: true\n${extra}sources:\n  - name: drop\n    kind: spool\n    path: ${dir}\n`;
    writeFileSync(join(dir, 'no-token.yaml'), config(''));
    const bad = await runCli(['run', '--config', join(dir, 'no-token.yaml'), '--check']);
    assert.equal(bad.code, 1);
    assert.match(bad.stderr, /console\.require_token is set but the console has no token/);
    writeFileSync(join(dir, 'token.yaml'), config(`  token_file: ${tokenFile}\n`));
    const good = await runCli(['run', '--config', join(dir, 'token.yaml'), '--check']);
    assert.equal(good.code, 0, good.stderr);
  });
});

describe('console: secrets of its environment', () => {
  it('a record holding a secret the environment gives (the collectors beside it) is served masked', async () => {
    const dir = tempDir('console-env-secret');
    const db = join(dir, 'store.db');
    const input = join(dir, 'in.log');
    const secret = 'S3cr"et\\Value!-of-the-client';
    writeFileSync(input, `garbage line with secret ${secret} and ${encodeURIComponent(secret).replace(/%[0-9A-F]{2}/g, (h) => h.toLowerCase())}\n`);
    assert.equal((await runCli(['ingest', '--db', db, input, '--summary', 'none'])).code, 2);
    const { url, child } = await startConsole(['--db', db, '--listen', '127.0.0.1:0'], { MIMECAST_CLIENT_SECRET: secret });
    try {
      const text = await (await fetch(`${url}/api/dead-letters`)).text();
      assert.match(text, /garbage line with secret \[redacted\] and \[redacted\]/);
      assert.ok(!text.includes('Value!'), text);
    } finally {
      await stop(child);
    }
  });
});
