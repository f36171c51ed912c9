/**
 * The search-engine sink against a real OpenSearch 2.19 node: the documents it holds (the shared
 * suite), plus TLS and credentials, tested once through a TLS front on this node (the
 * Elasticsearch test nodes have no x-pack).
 */
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { createServer as createHttpsServer } from 'node:https';
import { join } from 'node:path';
import { it } from 'node:test';
import { ROOT, runCli, tempDir } from '../support/helpers.js';
import { describeSearchSink } from './search-engine-suite.js';

const FIXTURES = join(ROOT, 'test', 'sinks', 'fixtures');
const tmp = () => tempDir('search-tls');

describeSearchSink('opensearch', 'documents', (node) => {
  it('speaks TLS with a CA file (or --insecure when asked), sends basic auth or an API key, and never prints a secret', { timeout: 120_000 }, async () => {
    const dir = tmp();
    const file = join(dir, 'in.log');
    writeFileSync(file, 'datetime=2024-05-01T10:00:00+0000|aCode=t1|acc=C1|Subject=tls|Sender=a@x.test|Rcpt=b@y.test|Act=Acc');
    // A TLS front that checks credentials, in front of the real node (as a secured cluster would be).
    const seen: string[] = [];
    const accepted = new Set(['Basic ' + Buffer.from('ingest:s3cret-pass').toString('base64'), 'ApiKey k3y-value-123']);
    const front = createHttpsServer({ cert: readFileSync(join(FIXTURES, 'loopback-cert.pem')), key: readFileSync(join(FIXTURES, 'loopback-key.pem')) }, async (req, res) => {
      seen.push(req.headers.authorization ?? '');
      if (!accepted.has(req.headers.authorization ?? '')) return void res.writeHead(401, { 'content-type': 'application/json' }).end('{"error":"unauthorized"}');
      const chunks: Buffer[] = [];
      for await (const c of req) chunks.push(c as Buffer);
      const upstream = await fetch(`${node().urls[0]}${req.url}`, { method: req.method, headers: { 'content-type': req.headers['content-type'] ?? 'application/json' }, body: chunks.length ? Buffer.concat(chunks) : undefined });
      res.writeHead(upstream.status, { 'content-type': 'application/json' }).end(Buffer.from(await upstream.arrayBuffer()));
    });
    await new Promise<void>((resolve) => front.listen(0, '127.0.0.1', resolve));
    const url = `https://127.0.0.1:${(front.address() as { port: number }).port}`;
    const args = (...extra: string[]) => ['ingest', '--db', join(dir, 't.db'), '--sink', 'opensearch', '--search-url', url, '--index', 'tls-{yyyy}.{MM}.{dd}', '--template', 'tls', ...extra, file];
    try {
      const basic = { MIMELOG_SEARCH_PASSWORD: 's3cret-pass' };
      const withCa = await runCli(args('--search-ca', join(FIXTURES, 'loopback-cert.pem'), '--search-user', 'ingest'), { env: basic });
      assert.equal(withCa.code, 0, withCa.stderr);
      assert.equal(await node().count('tls-*'), 1);
      const noCa = await runCli(args('--search-user', 'ingest'), { env: basic });
      assert.equal(noCa.code, 1);
      assert.match(noCa.stderr, /self-signed certificate|SELF_SIGNED/i);
      const insecure = await runCli(args('--insecure', '--search-user', 'ingest'), { env: basic });
      assert.equal(insecure.code, 0, insecure.stderr);
      const apiKey = await runCli(args('--insecure'), { env: { MIMELOG_SEARCH_API_KEY: 'k3y-value-123' } });
      assert.equal(apiKey.code, 0, apiKey.stderr);
      assert.ok(seen.includes('ApiKey k3y-value-123'));
      const wrong = await runCli(args('--insecure', '--search-user', 'ingest'), { env: { MIMELOG_SEARCH_PASSWORD: 'wrong-pass-456' } });
      assert.equal(wrong.code, 1);
      assert.match(wrong.stderr, /refused the credentials \(HTTP 401\)/);
      for (const out of [withCa, noCa, insecure, apiKey, wrong]) {
        for (const secret of ['s3cret-pass', 'k3y-value-123', 'wrong-pass-456']) assert.ok(!(out.stderr + out.stdout).includes(secret), `secret printed: ${secret}`);
      }
      assert.equal(await node().count('tls-*'), 1, 'sent three times, stored once');
    } finally {
      front.close();
    }
  });
});
