/** Test events for the syslog destination: real ones (JSON records through decode, classify and normalize), hostile fields included. */
import type { Unit } from '../../../src/core/unit.js';
import { processInput } from '../../support/helpers.js';

/** A subject built to forge fields in every format: separators, escapes, line breaks, a fake key, bidi and control characters, and 10 kB. */
export const HOSTILE_SUBJECT =
  'Invoice | paid=yes \\ back\\slash \\= \\| end\\\nline two\r\nCEF:0|Evil|x|1|2|3|4| cs1=forged cs1Label=subject externalId=0000 ' +
  '^sev=10^externalId=0000\tusrName=root ] "quoted" [x@1 a="b"] \u202egnp.exe\u202c \u0000\u0007\u001b[31m\u007f\u0085\u2028\ufeff é ✓ 😀 ' +
  'x'.repeat(10_000);

/** A receipt-log JSON record (Mimecast API 1.0 field names) with this subject and a distinct message id. */
export function receipt(i: number, subject = `subject ${i}`): Record<string, unknown> {
  return {
    datetime: new Date(Date.UTC(2026, 0, 1, 0, 0, i % 3600)).toISOString(),
    aCode: `code${i}`, acc: 'C0A0', IP: '192.0.2.10', Dir: 'Inbound', MsgId: `<m${i}@example.com>`, Subject: subject,
    headerFrom: 'from@example.com', Sender: 'from@example.com', Rcpt: `user${i}@example.com`, Act: 'Acc',
  };
}

/** A unit of these records, decoded and normalized as mimelog does. */
export function unitOf(records: readonly Record<string, unknown>[], source = 'test.json'): Promise<Unit> {
  return processInput(source, records.map((r) => JSON.stringify(r)).join('\n') + '\n');
}
