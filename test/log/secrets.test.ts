/** Secrets are masked in every encoding, in the log and in printed errors; log lines escape C1 controls and line separators. */
import assert from 'node:assert/strict';
import { PassThrough } from 'node:stream';
import { describe, it } from 'node:test';
import { Logger } from '../../src/log/logger.js';
import { Secrets } from '../../src/util/secrets.js';
import { jsonForTerminal } from '../../src/util/terminal-text.js';
import { MimelogError, errorText } from '../../src/util/errors.js';

/** A logger writing into a string, with its own secrets. */
function captured(secrets = new Secrets()): { log: Logger; text: () => string } {
  const out = new PassThrough();
  const parts: Buffer[] = [];
  out.on('data', (c: Buffer) => parts.push(c));
  return { log: new Logger(out, 'debug', {}, secrets), text: () => Buffer.concat(parts).toString() };
}

const SECRET = 'p@ss "w\\rd"+/ =ä&x';

describe('secrets: masked in every encoding', () => {
  it('masks the raw, URL-encoded, form-encoded and JSON-escaped forms of a secret holding " and \\ in log lines', () => {
    const { log, text } = captured();
    log.addSecrets(SECRET);
    const form = new URLSearchParams({ client_id: 'id', client_secret: SECRET }).toString();
    log.error('oauth refused', { raw: SECRET, url: `https://h/x?k=${encodeURIComponent(SECRET)}`, form, body: JSON.stringify({ error: form, secret: SECRET }) });
    const line = text();
    for (const f of [SECRET, encodeURIComponent(SECRET), new URLSearchParams({ s: SECRET }).toString().slice(2), JSON.stringify(SECRET).slice(1, -1)]) {
      assert.ok(!line.includes(f), `found ${f} in ${line}`);
    }
    assert.ok(line.includes('client_id=id&client_secret=[redacted]'), line);
    const parsed = JSON.parse(line) as { raw: string; body: string };
    assert.equal(parsed.raw, '[redacted]');
    assert.ok(!parsed.body.includes('w\\rd'), parsed.body);
  });

  it('masks the base64 of user:password of a Basic header', () => {
    const secrets = new Secrets();
    secrets.addBasicAuth('elastic', 'changeme-please');
    const header = `Basic ${Buffer.from('elastic:changeme-please').toString('base64')}`;
    assert.equal(secrets.mask(`authorization: ${header}; password changeme-please`), 'authorization: Basic [redacted]; password [redacted]');
  });

  it('a secret inside a longer one is masked whole, and short values are not masked at all', () => {
    const secrets = new Secrets();
    secrets.add('abcd', 'xxabcdxx', 'ab', '');
    assert.equal(secrets.mask('xxabcdxx abcd ab'), '[redacted] [redacted] ab');
  });

  it('the error printer masks every registered secret (the process registry), whoever registered it', () => {
    const log = new Logger(new PassThrough()); // no registry given: the process's
    log.addSecrets('printer-secret-"1"');
    const err = new MimelogError('source', `HTTP 400: {"echo":"client_secret=${encodeURIComponent('printer-secret-"1"')}","raw":${JSON.stringify('printer-secret-"1"')}}`);
    const text = errorText(err);
    assert.ok(!text.includes('printer-secret'), text);
    assert.match(text, /client_secret=\[redacted\]/);
  });
});

describe('log lines: their own keys', () => {
  it('a field named time, level or msg never overwrites the line\'s own (an event dated 2126 is not the time of the line)', () => {
    const { log, text } = captured();
    const before = Date.now();
    log.warn('event time not believed', { time: '2126-01-01T00:00:00.000Z', level: 'fake', msg: 'forged' });
    const line = JSON.parse(text()) as Record<string, string>;
    assert.ok(Math.abs(Date.parse(line.time!) - before) < 60_000, line.time);
    assert.equal(line.level, 'warn');
    assert.equal(line.msg, 'event time not believed');
    assert.deepEqual([line.field_time, line.field_level, line.field_msg], ['2126-01-01T00:00:00.000Z', 'fake', 'forged']);
  });
});

describe('log lines: control characters', () => {
  it('escapes C1 controls, DEL, bidi overrides and U+2028/U+2029 as \\uXXXX; the line is still the same JSON value', () => {
    const { log, text } = captured();
    const subject = 'a\u009b2Jb\u0085c\u2028d\u2029e\u001b[31m\u202e\u007f';
    log.warn('odd subject', { subject });
    const line = text().trimEnd();
    assert.doesNotMatch(line, /[\u0000-\u001f\u007f-\u009f\u2028\u2029\u202a-\u202e]/);
    assert.ok(line.includes('a\\u009b2Jb\\u0085c\\u2028d\\u2029e\\u001b[31m\\u202e\\u007f'), line);
    assert.equal((JSON.parse(line) as { subject: string }).subject, subject);
    assert.equal(jsonForTerminal('"\u0080\u009f"'), '"\\u0080\\u009f"');
  });

  it('a secret holding a C1 control is masked before the escaping', () => {
    const { log, text } = captured();
    log.addSecrets('sec\u0085ret');
    log.info('x', { v: 'sec\u0085ret' });
    assert.equal((JSON.parse(text()) as { v: string }).v, '[redacted]');
  });
});
