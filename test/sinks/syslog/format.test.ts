/**
 * The syslog destination's messages, without a receiver: RFC 5424 header fields within their
 * character set and lengths, structured-data escapes, octet-counting frames, and CEF and LEEF
 * lines that a strict parser reads back to the original values, for hostile and for random
 * fields (fast-check).
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import type { ProcessedEvent } from '../../../src/core/unit.js';
import type { EcsDocument } from '../../../src/normalize/ecs.js';
import { BODY, LEEF_DELIMITER } from '../../../src/sinks/syslog/bodies.js';
import { MessageMaker } from '../../../src/sinks/syslog/destination.js';
import { headerField, headerText, octetFrame, sdValue } from '../../../src/sinks/syslog/rfc5424.js';
import { HOSTILE_SUBJECT, receipt, unitOf } from './events.js';
import { parseCef, parseLeef, replaced } from './strict-parsers.js';

/** An event holding just this document (the bodies read only the document and the id). */
function eventWith(doc: EcsDocument): ProcessedEvent {
  const id = String((doc.event as EcsDocument).id);
  return { id, hash: id, timeMs: 0, classification: {} as ProcessedEvent['classification'], doc, raw: '{}', format: 'json', position: 1 };
}

interface Fields {
  id: string;
  logType: string;
  action: string;
  subject: string;
  from: string;
  to: string[];
  message: string;
}

const docOf = (f: Fields): EcsDocument => ({
  '@timestamp': '2026-01-01T00:00:00.000Z',
  event: { id: f.id, kind: 'event', action: f.action },
  mimecast: { log_type: f.logType },
  email: { subject: f.subject, from: { address: f.from }, to: { address: f.to } },
  message: f.message,
});

/** Any text: every code point (controls, separators, bidi, astral), except lone surrogates, which UTF-8 cannot carry. */
const anyText = fc.string({ unit: 'binary', minLength: 1, maxLength: 60 });
const fieldsArb: fc.Arbitrary<Fields> = fc.record({
  id: fc.stringMatching(/^[0-9a-f]{32}$/),
  logType: anyText,
  action: anyText,
  subject: anyText,
  from: anyText,
  to: fc.array(fc.string({ unit: 'binary', minLength: 1, maxLength: 20 }).filter((s) => !s.includes(',')), { minLength: 1, maxLength: 3 }),
  message: anyText,
});

/** CEF: a header field reads back with line breaks and other unsafe characters as U+FFFD; a value keeps its line breaks (escaped). */
const cefHeader = (t: string) => replaced(t);
const cefValue = (t: string) => replaced(t, { kept: '\n\r' });

function assertCefHolds(line: string, f: Fields): void {
  const cef = parseCef(line);
  assert.deepEqual([cef.vendor, cef.product, cef.signatureId, cef.name, cef.severity], ['Mimecast', 'mimelog', cefHeader(f.logType), cefHeader(f.action), '3']);
  assert.equal(cef.ext.get('externalId'), f.id);
  assert.equal(cef.ext.get('cs1'), cefValue(f.subject));
  assert.equal(cef.ext.get('cs1Label'), 'subject');
  assert.equal(cef.ext.get('suser'), cefValue(f.from));
  assert.equal(cef.ext.get('duser'), cefValue(f.to.join(',')));
  assert.equal(cef.ext.get('msg'), cefValue(f.message));
  assert.equal(cef.ext.get('act'), cefValue(f.action));
  assert.equal(cef.ext.get('cs3'), cefValue(f.logType));
  assert.equal(cef.ext.get('rt'), String(Date.parse('2026-01-01T00:00:00.000Z')));
}

/** LEEF has no escapes: the delimiter, line breaks and other unsafe characters read back as U+FFFD; a header field's `|` too. */
const leefHeader = (t: string) => replaced(t, { also: `|${LEEF_DELIMITER}` });
const leefValue = (t: string) => replaced(t, { also: LEEF_DELIMITER });

function assertLeefHolds(line: string, f: Fields): void {
  const leef = parseLeef(line);
  assert.deepEqual([leef.vendor, leef.product, leef.eventId, leef.delimiter], ['Mimecast', 'mimelog', leefHeader(f.logType), LEEF_DELIMITER]);
  assert.equal(leef.attrs.get('externalId'), f.id);
  assert.equal(leef.attrs.get('subject'), leefValue(f.subject));
  assert.equal(leef.attrs.get('usrName'), leefValue(f.from));
  assert.equal(leef.attrs.get('recipient'), leefValue(f.to.join(',')));
  assert.equal(leef.attrs.get('msg'), leefValue(f.message));
  assert.equal(leef.attrs.get('action'), leefValue(f.action));
  assert.equal(leef.attrs.get('sev'), '3');
  assert.equal(leef.attrs.get('devTime'), '2026-01-01T00:00:00.000Z');
}

/** Text with no character any format replaces: it must read back exactly. */
const printableText = fc.string({ unit: 'binary', minLength: 1, maxLength: 60 }).map((t) => replaced(t, { also: '\ufffd' }).replaceAll('\ufffd', 'x'));

const hostileFields: Fields = {
  id: '0123456789abcdef0123456789abcdef', logType: 'receipt|x=y\\', action: 'Acc|ept cs1=a', subject: HOSTILE_SUBJECT,
  from: 'a=b@x|y^z', to: ['p@q\nsuser=root', 'r\\s'], message: ' cs6=forged ^ ] " \\',
};

describe('syslog: CEF and LEEF bodies', () => {
  it('CEF: a hostile subject, action and addresses forge no field; the strict parser reads every value back', () => {
    const line = BODY.cef(eventWith(docOf(hostileFields)));
    assert.ok(!/[\n\r\t\u0000\u202e]/.test(line), 'no raw line break, tab, NUL or bidi override in the line');
    assertCefHolds(line, hostileFields);
    assert.deepEqual([...parseCef(line).ext.keys()], ['externalId', 'rt', 'act', 'suser', 'duser', 'msg', 'cs1', 'cs1Label', 'cs3', 'cs3Label'], 'only the mapped keys and labels: no forged cs1 or externalId');
  });

  it('LEEF 2.0: a hostile subject forges no attribute; the delimiter never appears inside a value', () => {
    const line = BODY.leef(eventWith(docOf(hostileFields)));
    assert.ok(!/[\n\r\t\u0000\u202e]/.test(line));
    assertLeefHolds(line, hostileFields);
    assert.deepEqual([...parseLeef(line).attrs.keys()], ['sev', 'externalId', 'devTime', 'devTimeFormat', 'action', 'usrName', 'recipient', 'msg', 'subject', 'logType']);
  });

  it('CEF round-trips random fields (fast-check, every code point): escaped characters exactly, the rest as U+FFFD', () => {
    fc.assert(fc.property(fieldsArb, (f) => assertCefHolds(BODY.cef(eventWith(docOf(f))), f)), { numRuns: 2000 });
  });

  it('LEEF round-trips random fields (fast-check, every code point): the delimiter and unsafe characters as U+FFFD', () => {
    fc.assert(fc.property(fieldsArb, (f) => assertLeefHolds(BODY.leef(eventWith(docOf(f))), f)), { numRuns: 2000 });
  });

  it('CEF and LEEF give printable text (|, =, \\, ], quotes, any script) back exactly (fast-check)', () => {
    fc.assert(fc.property(printableText, printableText, (subject, from) => {
      const f = { ...hostileFields, subject, from };
      const cef = parseCef(BODY.cef(eventWith(docOf(f))));
      assert.deepEqual([cef.ext.get('cs1'), cef.ext.get('suser')], [subject, from]);
      const leef = parseLeef(BODY.leef(eventWith(docOf({ ...f, subject: subject.replaceAll(LEEF_DELIMITER, '_'), from: from.replaceAll(LEEF_DELIMITER, '_') }))));
      assert.deepEqual([leef.attrs.get('subject'), leef.attrs.get('usrName')], [subject.replaceAll(LEEF_DELIMITER, '_'), from.replaceAll(LEEF_DELIMITER, '_')]);
    }), { numRuns: 1000 });
  });

  it('JSON: the document as is, with DEL, C1, separators and bidi characters written as \\u escapes', () => {
    const e = eventWith(docOf(hostileFields));
    const body = BODY.json(e);
    assert.ok(!/[\u0000-\u001f\u007f-\u009f\u2028\u202e\ufeff]/.test(body));
    assert.deepEqual(JSON.parse(body), e.doc);
  });

  it('a real normalized event (decode, classify, normalize) with the hostile subject: CEF and LEEF give it back whole', async () => {
    const unit = await unitOf([receipt(1, HOSTILE_SUBJECT)]);
    const e = unit.events[0]!;
    const subject = (e.doc.email as EcsDocument).subject;
    assert.equal(typeof subject, 'string');
    assert.equal(parseCef(BODY.cef(e)).ext.get('cs1'), cefValue(subject as string));
    assert.equal(parseCef(BODY.cef(e)).ext.get('externalId'), e.id);
    assert.equal(parseLeef(BODY.leef(e)).attrs.get('subject'), leefValue(subject as string));
    assert.equal(parseLeef(BODY.leef(e)).attrs.get('externalId'), e.id);
  });
});

describe('syslog: RFC 5424 header and framing', () => {
  it('header fields keep printable US-ASCII only, within their lengths; empty is "-"', () => {
    assert.equal(headerField('my host é\n', 255), 'myhost');
    assert.equal(headerField('', 48), '-');
    assert.equal(headerField(' \u202e\t', 48), '-');
    assert.equal(headerField('x'.repeat(40), 32), 'x'.repeat(32));
    const text = headerText({ facility: 'local0', severity: 'info', timestamp: 'yesterday', hostname: 'h o s t', appName: 'mimelog', procId: '7', msgId: `ttp-url-${'x'.repeat(40)}`, sd: { id: 'mimelog@32473', params: [['id', 'a"b\\c]d'], ['ty pe', 'x']] } });
    assert.equal(text, `<134>1 - host mimelog 7 ttp-url-${'x'.repeat(24)} [mimelog@32473 id="a\\"b\\\\c\\]d" type="x"] `);
  });

  it('structured-data values escape ", \\ and ] (and nothing else)', () => {
    assert.equal(sdValue('a"b\\c]d[e='), 'a\\"b\\\\c\\]d[e=');
  });

  it('facility and severity make PRI (local0.info = 134, local7.warning = 188); severity: event takes warning for an alert', async () => {
    const unit = await unitOf([receipt(1)]);
    const e = unit.events[0]!;
    const make = (severity: 'info' | 'event', facility: 'local0' | 'local7', doc = e.doc) => {
      const made = new MessageMaker({ format: 'json', facility, severity, hostname: 'h', maxMessageBytes: 65_536 }).make({ ...e, doc });
      return 'message' in made ? made.message.toString('utf8').split(' ')[0] : made.reason;
    };
    assert.equal(make('info', 'local0'), '<134>1');
    assert.equal(make('event', 'local0'), '<134>1');
    assert.equal(make('event', 'local7', { ...e.doc, event: { ...(e.doc.event as EcsDocument), kind: 'alert' } }), '<188>1');
  });

  it('a message: header, MSGID the log type, the event id in structured data, the body; octet counting counts bytes, not characters', async () => {
    const unit = await unitOf([receipt(1, 'é ✓ 😀')]);
    const e = unit.events[0]!;
    const made = new MessageMaker({ format: 'cef', facility: 'local0', severity: 'info', hostname: 'mx1', maxMessageBytes: 65_536 }).make(e);
    assert.ok('message' in made);
    const text = made.message.toString('utf8');
    assert.match(text, new RegExp(`^<134>1 2026-01-01T00:00:01\\.000Z mx1 mimelog \\d+ receipt \\[mimelog@32473 id="${e.id}" type="receipt"\\] CEF:0\\|`));
    const frame = octetFrame(made.message);
    const space = frame.indexOf(0x20);
    assert.equal(Number(frame.subarray(0, space).toString()), made.message.length);
    assert.ok(made.message.length > text.length, 'multi-byte characters counted as bytes');
    assert.deepEqual(frame.subarray(space + 1), made.message);
  });

  it('a message over max_message_bytes is refused with its size and the bound, not cut', async () => {
    const unit = await unitOf([receipt(1, HOSTILE_SUBJECT)]);
    const made = new MessageMaker({ format: 'json', facility: 'local0', severity: 'info', maxMessageBytes: 4096 }).make(unit.events[0]!);
    assert.ok('reason' in made);
    assert.match(made.reason, /^syslog: the json message of \d+ bytes is over max_message_bytes \(4096\); not sent$/);
  });
});
