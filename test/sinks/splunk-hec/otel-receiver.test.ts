/**
 * The Splunk HEC destination against a real HEC receiver: the OpenTelemetry Collector's
 * splunk_hec receiver with its ack extension (test/support/receivers/hec.ts), over http and https.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { z } from 'zod';
import { Logger } from '../../../src/log/logger.js';
import { takeEvents, toKeyValueLine } from '../../../src/simulator/generate.js';
import { splunkHecKind } from '../../../src/sinks/splunk-hec/index.js';
import { processInput, tempDir } from '../../support/helpers.js';
import { HecReceiver } from '../../support/receivers/hec.js';
import { makeTestCertificates } from '../../support/certificates.js';

const SCHEMA = z.strictObject(splunkHecKind.keys);
const quiet = new Logger(process.stderr, 'error');

function open(url: string, keys: Record<string, unknown> = {}) {
  const config = SCHEMA.parse({ url, token: 'otel-does-not-check-it', ack_poll_ms: 20, batch_events: 40, ...keys });
  return splunkHecKind.open(config, 'splunk', { log: quiet, env: {} });
}

describe('splunk-hec destination against a real HEC receiver (OpenTelemetry Collector, splunk_hec + ack extension)', () => {
  let rx: HecReceiver;
  before(async () => {
    rx = await HecReceiver.start();
  });
  after(() => rx?.stop());

  it('every event arrives once with its id and hash in fields, its time, host, source, sourcetype and index', { timeout: 60_000 }, async () => {
    const unit = await processInput('mimecast-otel', takeEvents({ seed: 11, startMs: Date.UTC(2026, 10, 2) }, 100).map((e) => toKeyValueLine(e)).join('\n'));
    const dest = await open(rx.url, { host: 'collector-7', sourcetype: 'mimecast:siem:{log_type}' });
    try {
      const report = await dest.deliver(unit);
      assert.deepEqual({ indexed: report.indexed, resent: report.resent, rejected: report.rejected.length }, { indexed: 100, resent: 0, rejected: 0 });
    } finally {
      await dest.close();
    }
    const got = await rx.waitFor(100);
    assert.equal(got.length, 100);
    const byId = new Map(got.map((g) => [g.id, g]));
    assert.equal(byId.size, 100, 'each id once');
    for (const e of unit.events) {
      const g = byId.get(e.id);
      assert.ok(g, `event ${e.id} arrived`);
      assert.equal(g.hash, e.hash);
      assert.ok(Math.abs(g.timeMs - e.timeMs) < 1, `time ${g.timeMs} vs ${e.timeMs}`);
      assert.deepEqual([g.host, g.source, g.sourcetype, g.index], ['collector-7', 'mimecast-otel', `mimecast:siem:${e.classification.logType}`, 'mimecast']);
      assert.equal((g.event as { event: { id: string } }).event.id, e.id, 'the ECS document is the event');
    }
  });

  it('ack: false delivers on HTTP 200 alone (no channel sent) and says so at open', { timeout: 60_000 }, async () => {
    const unit = await processInput('mimecast-noack', takeEvents({ seed: 13, startMs: Date.UTC(2026, 10, 4) }, 10).map((e) => toKeyValueLine(e)).join('\n'));
    let logged = '';
    const log = new Logger({ write: (t: string) => ((logged += t), true) } as unknown as NodeJS.WritableStream, 'warn');
    const dest = await splunkHecKind.open(SCHEMA.parse({ url: rx.url, token: 'otel-does-not-check-it', ack: false }), 'splunk', { log, env: {} });
    try {
      assert.equal((await dest.deliver(unit)).indexed, 10);
    } finally {
      await dest.close();
    }
    assert.match(logged, /ack: false, so delivery rests on HTTP 200 only/);
    const ids = new Set(unit.events.map((e) => e.id));
    assert.equal((await rx.waitFor(110)).filter((g) => ids.has(g.id)).length, 10);
  });

  it('https: the collector certificate checked against ca_file; a wrong CA is refused at open with the reason', { timeout: 60_000 }, async () => {
    const pem = makeTestCertificates(tempDir('hec-tls'));
    const tls = await HecReceiver.start({ tls: { certFile: pem.serverCert, keyFile: pem.serverKey } });
    try {
      await assert.rejects(open(tls.url, { ca_file: pem.otherCa }), /splunk-hec destination: TLS with https:\/\/127\.0\.0\.1:\d+ failed: .*(certificate|CERT)/i);
      await assert.rejects(open(tls.url), /TLS with .* failed/, 'the system CAs do not know the test CA');
      const unit = await processInput('mimecast-tls', takeEvents({ seed: 12, startMs: Date.UTC(2026, 10, 3) }, 5).map((e) => toKeyValueLine(e)).join('\n'));
      const dest = await open(tls.url, { ca_file: pem.ca });
      try {
        assert.equal((await dest.deliver(unit)).indexed, 5);
      } finally {
        await dest.close();
      }
      assert.deepEqual(new Set((await tls.waitFor(5)).map((g) => g.id)), new Set(unit.events.map((e) => e.id)));
    } finally {
      await tls.stop();
    }
  });
});
