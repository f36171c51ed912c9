/**
 * The search-engine sink against a real OpenSearch 2.19 node, plus TLS and credentials, tested once
 * through a TLS front on this node (the Elasticsearch test nodes have no x-pack).
 */
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { createServer as createHttpsServer } from 'node:https';
import { join } from 'node:path';
import { it } from 'node:test';
import { spawn } from 'node:child_process';
import { setTimeout as sleep } from 'node:timers/promises';
import { BIN, ROOT, committedCount, runCli, tempDir } from '../support/helpers.js';
import { FAST, expectedIds, startSimulator, storedIds } from '../support/simulator.js';
import { describeSearchSink } from './search-engine-suite.js';

const FIXTURES = join(ROOT, 'test', 'sinks', 'fixtures');
const tmp = () => tempDir('search-tls');

describeSearchSink('opensearch', (node) => {
  it('with the store and the engine as destinations, the engine down for a minute holds the checkpoint; back, neither misses an event', { timeout: 600_000 }, async () => {
    const r = await startSimulator({ seed: 414, events: 20_000, eventsPerFile: 250 });
    const db = join(r.dir, 'both.db');
    const args = ['collect', '--url', r.info.url, '--db', db, ...FAST, '--sink', 'sqlite,opensearch', '--search-url', node().urls.join(','),
      '--index', 'several-{yyyy}.{MM}.{dd}', '--template', 'several', '--bulk-docs', '200', '--search-give-up', '300', '--log-level', 'warn'];
    const child = spawn(process.execPath, [BIN, ...args], { env: { ...process.env, ...r.env }, stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
    const exited = new Promise<number>((resolve) => child.on('exit', (code) => resolve(code ?? -1)));
    try {
      const deadline = Date.now() + 300_000;
      while (Date.now() < deadline && child.exitCode === null && committedCount(db) < 3000) await sleep(100);
      assert.equal(child.exitCode, null, 'the collection ended before the engine could be stopped; make it larger');
      const victim = node().nodes[0]!.name;
      await node().killNode(victim);
      await sleep(5000); // what was in flight settles: the store's own commits need the engine's acknowledgement too
      const held = committedCount(db);
      await sleep(55_000);
      assert.equal(committedCount(db), held, 'nothing committed (no checkpoint moved) while the engine was down');
      assert.ok(held < 20_000);
      assert.match(stderr, /checkpoint held: waiting for a destination.*"waiting_for":\["opensearch"\]/);
      await node().startNode(victim);
      assert.equal(await exited, 0, stderr.slice(-3000));
      const expected = await expectedIds(r);
      assert.equal(expected.length, 20_000);
      assert.deepEqual(storedIds(db), expected, 'the store holds every event once');
      assert.deepEqual(await node().ids('several-*'), expected, 'the engine holds every event once');
    } finally {
      child.kill('SIGKILL');
      await r.sim.stop();
    }
  });

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
