/**
 * Cloud Integrated (`/siem/v1/batch/events/ci`: entities, mailflow, urlclick) against the
 * simulator: the same batch files, work queue and faults as Cloud Gateway, under its own path.
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { CLOUD_INTEGRATED_TYPES } from '../../src/mimecast/products.js';
import { runCli, tempDir } from '../support/helpers.js';
import { type Running, query, startSimulator, storedIds } from '../support/simulator.js';

const env = (r: Running): NodeJS.ProcessEnv => ({ MIMECAST_CLIENT_ID: r.info.v2Credentials.clientId, MIMECAST_CLIENT_SECRET: r.info.v2Credentials.clientSecret });
const args = (r: Running, db: string, extra: string[] = []) =>
  ['collect', '--api', 'v2', '--product', 'ci', '--url', r.info.url, '--db', db, '--once', '--retry-base-ms', '20', '--retry-max-ms', '200', '--timeout', '5', '--page-size', '3', ...extra];

describe('API 2.0 Cloud Integrated', () => {
  it('collects entities, mailflow and urlclick with faults on, equal to the expected set; trace joins a message; a second run adds nothing', { timeout: 180_000 }, async () => {
    const r = await startSimulator({
      seed: 801, events: 3000, eventsPerFile: 200,
      faults: { enabled: ['429', '5xx', 'token-expiry', 'expired-url', 'truncated-gzip', 'empty-page'], rate: 0.15, seed: 8 },
      v2: { cloudIntegrated: { messages: 400, recordsPerFile: 30 } },
    });
    try {
      const db = join(r.dir, 'ci.db');
      const first = await runCli(args(r, db), { env: env(r) });
      assert.equal(first.code, 0, first.stderr.slice(-2000));
      const dir = join(r.dir, 'expected-ci');
      r.sim.v2.writeExpectedCloudIntegrated(dir);
      const expectedDb = join(r.dir, 'expected-ci.db');
      assert.equal((await runCli(['ingest', '--db', expectedDb, dir, '--summary', 'none'])).code, 0);
      const expected = storedIds(expectedDb);
      const records = r.sim.v2.ciFiles.reduce((n, f) => n + f.records.length, 0);
      assert.equal(expected.length, records, 'distinct records never share an id');
      assert.deepEqual(storedIds(db), expected);
      assert.ok(Object.values(r.sim.injectedFaults).reduce((a, b) => a + b, 0) > 5, 'faults were met');

      // The record says its type; each type is its own log type in the Cloud Integrated dataset.
      const perType = query<{ log_type: string; source: string; dataset: string; n: number }>(db,
        "SELECT log_type, log_type_source AS source, json_extract(doc, '$.event.dataset') AS dataset, count(*) AS n FROM stored_events GROUP BY 1, 2, 3 ORDER BY 1");
      assert.deepEqual(perType.map((t) => [t.log_type, t.source, t.dataset]), CLOUD_INTEGRATED_TYPES.map((t) => [t.name, 'record', 'mimecast.cloud_integrated_logs']));
      assert.equal(perType.find((t) => t.log_type === 'ci-entities')!.n, 400);
      assert.equal(perType.find((t) => t.log_type === 'ci-mailflow')!.n, 400);

      // Detections are alerts: a blocked or quarantined message, a blocked click; a delivered message is not.
      const docs = query<{ doc: string; original: string; log_type: string }>(db, 'SELECT doc, original, log_type FROM stored_events');
      for (const { doc, original, log_type: type } of docs) {
        const d = JSON.parse(doc) as { event: { kind: string }; url?: { full: string }; mimecast: { authResults?: unknown[] } };
        const o = JSON.parse(original) as Record<string, unknown>;
        const alert = type === 'ci-urlclick' || (type === 'ci-entities' && ['BLOCKED', 'QUARANTINED'].includes(o.threatState as string));
        assert.equal(d.event.kind, alert ? 'alert' : 'event', original.slice(0, 300));
        if (type === 'ci-urlclick') assert.equal(d.url?.full, o.originalUrl);
        if (type === 'ci-mailflow') assert.deepEqual(d.mimecast.authResults, o.authResults, 'SPF/DKIM/DMARC kept as objects, not a string');
      }

      // A message's records join by message id: its summary, its authentication and its blocked click.
      const click = query<{ message_id: string }>(db, "SELECT message_id FROM stored_events WHERE log_type = 'ci-urlclick' LIMIT 1")[0]!;
      const trace = JSON.parse((await runCli(['trace', '--db', db, '--json', click.message_id])).stdout) as { steps: { log_type: string }[] };
      assert.deepEqual(trace.steps.map((s) => s.log_type).sort(), ['ci-entities', 'ci-mailflow', 'ci-urlclick']);

      const second = await runCli(args(r, db), { env: env(r) });
      assert.equal(second.code, 0, second.stderr.slice(-1500));
      assert.deepEqual(storedIds(db), expected, 'a second run adds nothing');
      // Cloud Gateway's checkpoints are untouched by it: Cloud Integrated's types are its own.
      assert.deepEqual(query<{ n: number }>(db, "SELECT count(*) AS n FROM checkpoints WHERE source LIKE 'mimecast-v2 % receipt'"), [{ n: 0 }]);
    } finally {
      await r.sim.stop();
    }
  });

  it('refuses the stream for Cloud Integrated, saying why', async () => {
    const dir = tempDir('ci-stream');
    const res = await runCli(['collect', '--api', 'v2', '--product', 'ci', '--mode', 'stream', '--url', 'http://127.0.0.1:9', '--db', join(dir, 'x.db')], { env: { MIMECAST_CLIENT_ID: 'a', MIMECAST_CLIENT_SECRET: 'b' } });
    assert.notEqual(res.code, 0);
    assert.match(res.stderr, /--mode stream reads Cloud Gateway's stream only/);
  });
});
