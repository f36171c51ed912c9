/**
 * `run --check` reports every problem of a config in one pass: the schema's (duplicate names, a
 * source without url or region) and the places the service would use (store directory, spool
 * path, listen address in use), not one kind per attempt.
 */
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { runCli, tempDir } from '../support/helpers.js';

describe('run --check', () => {
  it('names every problem at once: duplicate name, missing url/region, store directory, spool path, listen address in use', async () => {
    const dir = tempDir('check');
    const busy = createServer();
    await new Promise<void>((resolve) => busy.listen(0, '127.0.0.1', resolve));
    const listen = `127.0.0.1:${(busy.address() as { port: number }).port}`;
    try {
      const file = join(dir, 'mimelog.yaml');
      writeFileSync(file, `store: ${join(dir, 'missing-dir', 'store.db')}
listen: ${listen}
sources:
  - name: acme
    kind: mimecast-v2-stream
    credentials:
      client_id: id-1
      client_secret: \${TEST_SECRET}
  - name: acme
    kind: spool
    path: ${join(dir, 'no-spool')}
`, { mode: 0o600 });
      const res = await runCli(['run', '--config', file, '--check'], { env: { ...process.env, TEST_SECRET: 'secret-abcdef' } });
      assert.equal(res.code, 1, res.stderr);
      assert.match(res.stderr, /5 problems/);
      assert.match(res.stderr, /sources\[0\]: say where Mimecast is: url or region/);
      assert.match(res.stderr, /sources\[1\]\.name: "acme" is already the name of sources\[0\]/);
      assert.ok(res.stderr.includes(`store: ${join(dir, 'missing-dir', 'store.db')}: its directory ${join(dir, 'missing-dir')} does not exist`), res.stderr);
      assert.ok(res.stderr.includes(`sources[1].path: ${join(dir, 'no-spool')} does not exist`), res.stderr);
      assert.ok(res.stderr.includes(`listen: cannot listen on ${listen}: the port is in use`), res.stderr);
      assert.ok(!res.stderr.includes('secret-abcdef'));
    } finally {
      await new Promise<void>((resolve) => busy.close(() => resolve()));
    }
  });

  it('a good config still passes', async () => {
    const dir = tempDir('check-ok');
    const file = join(dir, 'mimelog.yaml');
    writeFileSync(file, `store: ${join(dir, 'store.db')}\nlisten: 127.0.0.1:0\nsources:\n  - name: drop\n    kind: spool\n    path: ${dir}\n`, { mode: 0o600 });
    const res = await runCli(['run', '--config', file, '--check']);
    assert.equal(res.code, 0, res.stderr);
    assert.match(res.stdout, /ok, 1 source \(/);
  });
});
