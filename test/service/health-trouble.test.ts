/**
 * Health that turns red in minutes: a source whose calls to Mimecast fail is degraded at the first
 * failed call, with the host and the error, and failing once no call has succeeded for
 * `failing_after_s`, while its collector is still retrying (not after all its retries).
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createServer } from 'node:http';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { BIN, ended, freePort, tempDir } from '../support/helpers.js';

interface Ready { status: string; sources: { name: string; state: string; reason?: string }[] }

/** A Mimecast that issues tokens and then answers every call 503. */
async function refusingMimecast(): Promise<{ url: string; host: string; close(): Promise<void> }> {
  const server = createServer((req, res) => {
    req.resume();
    if (req.url?.includes('oauth')) {
      res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ access_token: 'tok-123', expires_in: 1800 }));
      return;
    }
    res.writeHead(503, { 'content-type': 'application/json' }).end('{"fail":[{"code":"unavailable"}]}');
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const host = `127.0.0.1:${(server.address() as { port: number }).port}`;
  return { url: `http://${host}`, host, close: () => new Promise((resolve) => server.close(() => resolve())) };
}

async function readyUntil(base: string, want: (r: Ready) => boolean, timeoutMs: number): Promise<{ ready: Ready; code: number; atMs: number }> {
  const start = Date.now();
  for (;;) {
    const res = await fetch(`${base}/readyz`).catch(() => undefined);
    if (res) {
      const ready = (await res.json()) as Ready;
      if (want(ready)) return { ready, code: res.status, atMs: Date.now() - start };
    }
    if (Date.now() - start > timeoutMs) throw new Error(`/readyz never turned as expected in ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

describe('source health while Mimecast fails', () => {
  const dir = tempDir('health-trouble');

  it('degraded at the first failed call (host and error named), failing after failing_after_s, /readyz 503', async () => {
    const mimecast = await refusingMimecast();
    const listen = `127.0.0.1:${await freePort()}`;
    const file = join(dir, 'mimelog.yaml');
    writeFileSync(file, `store: ${join(dir, 'store.db')}
listen: ${listen}
failing_after_s: 2
sources:
  - name: acme
    kind: mimecast-v2-stream
    url: ${mimecast.url}
    retry_base_ms: 50
    retry_max_ms: 200
    max_retries: 10000
    credentials:
      client_id: id-1
      client_secret: \${TEST_SECRET}
`, { mode: 0o600 });
    const child = spawn(BIN, ['run', '--config', file], { env: { ...process.env, TEST_SECRET: 'secret-abcdef' }, stdio: ['ignore', 'ignore', 'pipe'] });
    const exit = ended(child);
    try {
      const base = `http://${listen}`;
      const degraded = await readyUntil(base, (r) => r.sources[0]?.state === 'degraded', 10_000);
      assert.equal(degraded.code, 200);
      const reason = degraded.ready.sources[0]!.reason!;
      assert.ok(reason.includes(mimecast.host), reason);
      assert.match(reason, /503/);
      assert.match(reason, /failing after 2 s/);
      const failing = await readyUntil(base, (r) => r.sources[0]?.state === 'failing', 10_000);
      assert.equal(failing.code, 503);
      assert.ok(failing.ready.sources[0]!.reason!.includes(mimecast.host));
      assert.match(failing.ready.sources[0]!.reason!, /no successful call to Mimecast for \d+ s/);
    } finally {
      child.kill('SIGTERM');
      const { code, stderr } = await exit;
      await mimecast.close();
      assert.ok(!stderr.includes('secret-abcdef'));
      assert.notEqual(code, null, stderr);
    }
  });
});
