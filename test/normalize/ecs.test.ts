import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { takeEvents, toKeyValueLine, toV2Record } from '../../src/simulator/generate.js';
import { SAMPLES, processInput } from '../support/helpers.js';

type Doc = Record<string, any>;
const sampleText = readFileSync(`${SAMPLES}understanding-siem-logs.kv`, 'utf8');

async function docs(name: string, text: string): Promise<Doc[]> {
  return (await processInput(name, text)).events.map((e) => e.doc as Doc);
}

describe('ECS normalization', () => {
  it('maps the documented receipt line', async () => {
    const [d] = await docs('s.kv', sampleText);
    assert.equal(d!['@timestamp'], '2017-05-26T15:47:41.000Z');
    assert.deepEqual(d!.event.category, ['email']);
    assert.equal(d!.event.dataset, 'mimecast.siem_logs');
    assert.equal(d!.email.local_id, '7O7I7MvGP1mj8plHRDuHEA');
    assert.equal(d!.email.message_id, '<messageId@messageId>');
    assert.equal(d!.email.direction, 'internal');
    assert.deepEqual(d!.email.to.address, ['auser@mimecast.com']);
    assert.deepEqual(d!.tls, { version: '1.0', version_protocol: 'tls', cipher: 'TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA' });
    assert.deepEqual(d!.mimecast.SpamProcessingDetail, { spf: { info: 'SPF_FAIL', allow: true }, dkim: { info: 'DKIM_UNKNOWN', allow: true } });
    assert.strictEqual(d!.mimecast.SpamScore, 1);
    assert.deepEqual(d!.related.ip, ['123.123.123.123']);
    assert.equal(d!.event.original, sampleText.split('\n')[0]);
  });

  it('fixes the Elastic defects: outcome, booleans, numbers, AttNames, impersonation flags', async () => {
    const d = await docs('s.kv', sampleText);
    const [, rejected, withAtts, , held, delivered, failed, av, , , imp, url] = d;
    assert.equal(rejected!.event.kind, 'alert');
    assert.equal(rejected!.event.reason, 'Invalid Recipient');
    assert.deepEqual(rejected!.error, { message: 'Failed Known address verification', code: '550', type: 'Invalid Recipient Address' });
    assert.deepEqual(withAtts!.email.attachments.map((a: Doc) => a.file.name), ['filename.docx', 'filename2.xlsx']);
    assert.strictEqual(withAtts!.mimecast.AttCnt, 2);
    assert.equal(held!.event.kind, 'alert');
    assert.equal(held!.event.reason, 'Spm');
    assert.strictEqual(held!.mimecast.IPNewDomain, false);
    assert.equal(delivered!.event.outcome, 'success');
    assert.strictEqual(delivered!.tls.established, true);
    assert.deepEqual(delivered!.destination, { ip: '123.123.123.123' });
    assert.equal(delivered!.mimecast.Route, 'Mimecast Exchange Route');
    assert.equal(delivered!.email.direction, 'inbound');
    assert.equal(failed!.event.outcome, 'failure');
    assert.strictEqual(failed!.tls.established, false);
    assert.equal(failed!.error.message, 'Connection timed out');
    assert.equal(failed!.email.from, undefined, 'Sender=<> is no address');
    assert.equal(av!.event.kind, 'alert');
    assert.equal(av!.email.attachments[0].file.hash.sha256, 'efe51c2453821310c7a34dca3054021d0f6d453b7133c381d75e3140901efd12');
    assert.strictEqual(av!.email.attachments[0].file.size, 1648832);
    assert.equal(av!.source.domain, 'senderdomain.tld');
    assert.equal(av!.related.hash.length, 3);
    assert.equal(imp!.source.domain, undefined, 'NewDomain=false must not become source.domain');
    assert.strictEqual(imp!.mimecast.NewDomain, false);
    assert.strictEqual(imp!.mimecast.TaggedMalicious, true);
    assert.deepEqual(imp!.email.to.address, ['recipient@domain']);
    assert.equal(imp!.rule.name, 'Default Impersonation Definition');
    assert.equal(url!.url.full, 'http://bgmtechnology.com.au');
    assert.ok(url!.related.hosts.includes('bgmtechnology.com.au'));
  });

  it('gives API 1.0 and 2.0 events the same ECS shape', async () => {
    const events = takeEvents({ seed: 3, startMs: Date.UTC(2026, 1, 1) }, 400);
    const v1 = await docs('a.log', events.map(toKeyValueLine).join('\n'));
    const v2 = await docs('b.ndjson', events.map((e) => JSON.stringify(toV2Record(e, { shape: 'batch' }))).join('\n'));
    // API 2.0 gives the time to the millisecond, API 1.0 to the second: the same second, the rest alike.
    const ecsOnly = (d: Doc) => {
      const { mimecast, event, ...rest } = d;
      const { id, hash, original, ...ev } = event;
      return { ...rest, '@timestamp': String(d['@timestamp']).replace(/\.\d{3}Z$/, 'Z'), event: ev, log_type: mimecast.log_type };
    };
    for (let i = 0; i < events.length; i++) {
      assert.deepEqual(ecsOnly(v2[i]!), ecsOnly(v1[i]!), `event ${i} (${events[i]!.logType})`);
    }
    const receipt = v2.find((d) => d.mimecast.log_type === 'receipt' && d.mimecast.spamScore !== undefined)!;
    assert.equal(typeof receipt.mimecast.spamScore, 'number');
    assert.equal(typeof receipt.mimecast.spamProcessingDetail, 'object', 'JSON-in-string parsed');
    assert.ok(receipt.tls.version, 'tls.version set for v2');
    assert.ok(v2.some((d) => d.event.outcome === 'success'));
  });

  it('leaves out event.original on request and never puts transport metadata in the document', async () => {
    const e = takeEvents({ seed: 1, startMs: 0 }, 1)[0]!;
    const unit = await processInput('x.ndjson', JSON.stringify(toV2Record(e, { shape: 'batch', partition: 2, offset: 9 })),
      (await import('../support/helpers.js')).transformer({ keepOriginal: false }));
    const d = unit.events[0]!.doc as Doc;
    assert.equal(d.event.original, undefined);
    assert.equal(d.mimecast._partition, undefined);
  });

  it('keeps a value that does not convert under mimecast.unparsed', async () => {
    const [d] = await docs('x.log', 'datetime=2017-05-26T16:47:41+0100|acc=C0A0|AttCnt=many|IP=not-an-ip|Delivered=maybe|Attempt=1');
    assert.deepEqual(d!.mimecast.unparsed, { AttCnt: 'many', IP: 'not-an-ip', Delivered: 'maybe' });
  });
});
