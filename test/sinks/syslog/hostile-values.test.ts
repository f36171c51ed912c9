/**
 * Hostile values against the syslog destination's framing: a log type with a line break, a NUL or
 * a bidi override lands in the structured data as U+FFFD (escaped quotes and brackets as RFC 5424
 * says), and a `host` with a space or a line break is refused when the config is read.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { z } from 'zod';
import { headerText } from '../../../src/sinks/syslog/rfc5424.js';
import { syslogKind } from '../../../src/sinks/syslog/index.js';

const SCHEMA = z.strictObject(syslogKind.keys);

describe('syslog: hostile values', () => {
  it('structured-data values: quotes, backslashes and brackets escaped; line breaks and controls are U+FFFD', () => {
    const hostile = 'receipt"] [evil@1 x="1"]\n<13>1 - forged - - - -\u0000\u202e';
    const text = headerText({ facility: 'local0', severity: 'info', timestamp: '-', hostname: 'h', appName: 'mimelog', procId: '1', msgId: 'm', sd: { id: 'mimelog@32473', params: [['type', hostile]] } });
    assert.doesNotMatch(text, /[\u0000-\u001f\u202e]/, 'no control character in the header');
    assert.equal(text, '<134>1 - h mimelog 1 m [mimelog@32473 type="receipt\\"\\] [evil@1 x=\\"1\\"\\]\ufffd<13>1 - forged - - - -\ufffd\ufffd"] ');
  });

  it('host: a space, a line break or brackets are refused; names, IPv4 and IPv6 are taken', () => {
    for (const host of ['siem example.com', 'siem\n.example.com', '[::1]', '']) {
      assert.equal(SCHEMA.safeParse({ host, transport: 'tcp' }).success, false, JSON.stringify(host));
    }
    for (const host of ['siem.example.com', '127.0.0.1', '::1', 'fe80::1%eth0', 'relay_1']) {
      assert.equal(SCHEMA.safeParse({ host, transport: 'tcp' }).success, true, host);
    }
  });
});
