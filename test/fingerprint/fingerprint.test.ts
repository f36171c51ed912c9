import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { TypeTables } from '../../src/classify/type-tables.js';
import { canonicalForm, fingerprint } from '../../src/fingerprint/fingerprint.js';
import { LOG_TYPES } from '../../src/mimecast/log-types.js';
import { type GeneratedEvent, takeEvents, toKeyValueLine, toV1JsonRecord, toV2Record } from '../../src/simulator/generate.js';
import { SAMPLES, json, kv, processInput, transformer } from '../support/helpers.js';

const id = (line: string) => fingerprint(kv(line)).id;
const sample = readFileSync(`${SAMPLES}understanding-siem-logs.kv`, 'utf8').trim().split('\n');

/** Rewrites `datetime` of a v1 event with another UTC offset, same instant. */
function withOffset(e: GeneratedEvent, offsetMinutes: number): string {
  const local = new Date(e.timeMs + offsetMinutes * 60_000).toISOString().slice(0, 19);
  const sign = offsetMinutes < 0 ? '-' : '+';
  const abs = Math.abs(offsetMinutes);
  const off = `${sign}${String(Math.floor(abs / 60)).padStart(2, '0')}${String(abs % 60).padStart(2, '0')}`;
  return toKeyValueLine({ ...e, fields: e.fields.map(([k, v]) => [k, k === 'datetime' ? local + off : v]) });
}

const events = takeEvents({ seed: 11, startMs: Date.UTC(2026, 5, 1) }, 20_000);

describe('fingerprint: distinct events never share an id', () => {
  it('separates every event of a large generated corpus (emails, recipients, retries, security events)', () => {
    const ids = new Set(events.map((e) => fingerprint(kv(toKeyValueLine(e))).id));
    assert.equal(ids.size, events.length);
  });

  it('separates the receipt, process and delivery lines of one email in one second', () => {
    const base = 'datetime=2017-05-26T16:47:41+0100|aCode=A1|acc=C0A0|MsgId=<m@x>';
    const family = [`${base}|Act=Acc|Rcpt=a@x`, `${base}|Act=Acc|AttCnt=0`, `${base}|Delivered=true|Rcpt=a@x|Attempt=1`, `${base}|Delivered=false|Rcpt=a@x|Attempt=1`,
      `${base}|Delivered=false|Rcpt=a@x|Attempt=2`, `${base}|Act=Acc|Rcpt=b@x`, `${base}|Act=Acc|Rcpt=a@x|Subject=\\\\`];
    assert.equal(new Set(family.map(id)).size, family.length);
  });

  it('separates the two documented process lines that differ only in attachments', () => {
    assert.notEqual(id(sample[2]!), id(sample[3]!));
  });

  it('separates lines without a Message-ID that differ in any field', () => {
    const a = 'datetime=2021-03-05T16:25:17+0000|acc=C0A0|Sender=s@x|Recipient=r@x|IP=0.0.0.0';
    assert.notEqual(id(a), id(`${a}|Route=Inbound`));
    assert.notEqual(id(a), id(a.replace('r@x', 'r2@x')));
  });

  it('separates the AV and attachment-protect lines of one file', () => {
    const common = 'datetime=2021-03-05T16:25:17+0000|acc=C0A0|fileName=a.doc|md5=4dbe|sha1=816b|sha256=efe5|Size=10|Sender=s@x|Recipient=r@x';
    assert.notEqual(id(common), id(`${common}|Virus=Anomali:Phishing`));
  });

  it('separates v2 records sharing aggregateId that differ in processingId, recipient or 1 ms', () => {
    const base = { type: 'delivery', aggregateId: 'A_1700000000', processingId: 'p1', timestamp: '1700000000000', recipients: 'a@x' };
    const variants = [base, { ...base, processingId: 'p2' }, { ...base, recipients: 'b@x' }, { ...base, timestamp: '1700000000001' }];
    assert.equal(new Set(variants.map((v) => fingerprint(json(JSON.stringify(v))).id)).size, 4);
  });

  it('changes when any one field changes, is added or removed (property)', () => {
    const arb = fc.record({ e: fc.constantFrom(...events.slice(0, 2000)), pick: fc.nat(), text: fc.string({ maxLength: 12 }) });
    fc.assert(
      fc.property(arb, ({ e, pick, text }) => {
        const fields = e.fields.slice(1); // keep datetime
        const [k, v] = fields[pick % fields.length]!;
        fc.pre(text !== v && text.trim() === text && !/[\\|={[]/.test(text));
        const changed = { ...e, fields: e.fields.map(([kk, vv]) => [kk, kk === k ? text : vv] as const) };
        const removed = { ...e, fields: e.fields.filter(([kk]) => kk !== k) };
        const added = { ...e, fields: [...e.fields, ['ZzExtra', text] as const] };
        const original = id(toKeyValueLine(e));
        assert.notEqual(id(toKeyValueLine(changed)), original);
        assert.notEqual(id(toKeyValueLine(removed)), original);
        assert.notEqual(id(toKeyValueLine(added)), original);
      }),
      { numRuns: 3000 },
    );
  });

  it('keeps field name and value bound: swapping values between fields changes the id', () => {
    assert.notEqual(id('datetime=2021-03-05T16:25:17+0000|a=1|b=2'), id('datetime=2021-03-05T16:25:17+0000|a=2|b=1'));
    assert.notEqual(id('datetime=2021-03-05T16:25:17+0000|a=1=|b=2'), id('datetime=2021-03-05T16:25:17+0000|a=1|b==2'));
  });
});

describe('fingerprint: the same event always gets the same id', () => {
  const arbEvent = fc.constantFrom(...events.slice(0, 3000));

  it('whatever the key order (property)', () => {
    fc.assert(
      fc.property(arbEvent, fc.func(fc.integer()), (e, f) => {
        const shuffled = { ...e, fields: [...e.fields].sort((a, b) => f(a[0]) - f(b[0])) };
        assert.equal(id(toKeyValueLine(shuffled)), id(toKeyValueLine(e)));
      }),
    );
  });

  it('whatever UTC offset wrote datetime (property)', () => {
    fc.assert(
      fc.property(arbEvent, fc.integer({ min: -12 * 60, max: 14 * 60 }).map((m) => m - (m % 15)), (e, offset) => {
        assert.equal(id(withOffset(e, offset)), id(toKeyValueLine(e)));
      }),
    );
  });

  it('whether it came as key_value or as typed json, with escapes', () => {
    for (const e of events.slice(0, 3000)) {
      const typed = JSON.stringify(toV1JsonRecord(e)).replace(/</g, '\\u003c').replace(/\//g, '\\/');
      assert.equal(fingerprint(json(typed)).id, id(toKeyValueLine(e)));
    }
  });

  it('whatever the whitespace around JSON and key_value separators', () => {
    const e = events.find((x) => x.logType === 'receipt')!;
    const pretty = JSON.stringify(toV1JsonRecord(e), null, 2).replace(/\n/g, ' ');
    assert.equal(fingerprint(json(pretty)).id, id(toKeyValueLine(e)));
    assert.equal(id(toKeyValueLine(e).replace(/\|(?=\w+=)/g, '| ') + '\r'), id(toKeyValueLine(e)));
    const spacedJson = toKeyValueLine(e).replace(/"allow":true/g, '"allow" : true');
    assert.equal(id(spacedJson), id(toKeyValueLine(e)));
  });

  it('whatever the v2 shape (batch or stream) and transport metadata', () => {
    for (const e of events.slice(0, 3000)) {
      const a = fingerprint(json(JSON.stringify(toV2Record(e, { shape: 'batch', partition: 1, offset: 5 })))).id;
      const b = fingerprint(json(JSON.stringify(toV2Record(e, { shape: 'batch', partition: 9, offset: 77 })))).id;
      const c = fingerprint(json(JSON.stringify(toV2Record(e, { shape: 'stream' })))).id;
      assert.equal(a, b);
      assert.equal(a, c);
    }
  });

  it('whatever the file it came in or the type tables in force', async () => {
    const text = events.slice(0, 500).map(toKeyValueLine).join('\n');
    const plain = await processInput('export.log', text);
    const named = await processInput('delivery_20260101.log', text);
    const reduced = new TypeTables(LOG_TYPES.slice(0, 3));
    const other = await processInput('x.log', text, transformer({ tables: reduced }));
    assert.deepEqual(named.events.map((e) => e.id), plain.events.map((e) => e.id));
    assert.deepEqual(other.events.map((e) => e.id), plain.events.map((e) => e.id));
    assert.notDeepEqual(other.events.map((e) => e.classification.logType), plain.events.map((e) => e.classification.logType));
  });

  it('has a documented, stable canonical form', () => {
    const r = kv('datetime=2017-05-26T16:47:41+0100|acc=C0A0|SpamProcessingDetail={"spf":{"info":"X","allow":true}}|Subject=\\a|b\\');
    assert.equal(canonicalForm(r), 'mimelog-canonical-v1\n' + JSON.stringify([
      ['SpamProcessingDetail', '{"spf":{"allow":true,"info":"X"}}'],
      ['Subject', 'a|b'],
      ['acc', 'C0A0'],
      ['datetime', '2017-05-26T15:47:41.000Z'],
    ]));
    assert.match(fingerprint(r).id, /^[0-9a-f]{32}$/);
    assert.equal(fingerprint(r).hash.slice(0, 32), fingerprint(r).id);
  });
});
