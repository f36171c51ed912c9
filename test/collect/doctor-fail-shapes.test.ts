/**
 * `mimelog doctor` reads an answer's `fail` as `collect` does (firstFailError): an answer the
 * collector refuses (a fail that is not a list of errors, a first fail entry without errors, an
 * error without a code) is never said to be readable. A loopback server started here answers.
 */
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { runCli, tempDir } from '../support/helpers.js';

const FEED = '/api/audit/get-audit-events';
const V2_ENV = { MIMECAST_CLIENT_ID: 'doctor-client', MIMECAST_CLIENT_SECRET: 'doctor-secret' };

const servers: { close(): void }[] = [];
after(() => {
  for (const s of servers) s.close();
});

/** A loopback API 2.0: a good OAuth token, and the audit feed answered with `body`. */
async function server(body: string): Promise<string> {
  const s = createServer((req, res) => {
    req.resume();
    req.on('end', () => {
      const at = new URL(req.url ?? '/', 'http://x').pathname;
      res.writeHead(at === '/oauth/token' || at === FEED ? 200 : 404, { 'content-type': 'application/json' });
      res.end(at === '/oauth/token' ? JSON.stringify({ access_token: 'good-token', expires_in: 1800 }) : at === FEED ? body : '{}');
    });
  });
  await new Promise<void>((resolve) => s.listen(0, '127.0.0.1', resolve));
  servers.push({ close: () => (s.closeAllConnections(), s.close()) });
  return `http://127.0.0.1:${(s.address() as AddressInfo).port}`;
}

describe('doctor: a feed answer whose fail the collector refuses is not readable', () => {
  const cases = [
    ['a fail that is an object, not a list', '{"meta":{"status":200},"data":[],"fail":{"errors":"busy"}}', /HTTP 200 the answer's fail is not a list of errors: \{"errors":"busy"\}/],
    ['a first fail entry without errors, the code in the second', '{"meta":{"status":200},"data":[],"fail":[{"errors":[]},{"errors":[{"code":"err_insufficient_permissions"}]}]}', /HTTP 200 err_insufficient_permissions: the application may not read it/],
    ['an error without a code', '{"meta":{"status":200},"data":[],"fail":[{"errors":[{"message":"try later"}]}]}', /HTTP 200 try later/],
  ] as const;
  for (const [name, body, said] of cases) {
    it(`${name}: FAIL, as collect stops on it`, { timeout: 60_000 }, async () => {
      const url = await server(body);
      const res = await runCli(['doctor', '--api', 'v2', '--feeds', 'audit', '--url', url, '--db', join(tempDir('doctor-fail'), 'none.db')], { env: V2_ENV });
      assert.equal(res.code, 1, res.stdout + res.stderr);
      assert.match(res.stdout, /^FAIL +mimecast-v2: read audit feed/m);
      assert.match(res.stdout, said);
    });
  }
});
