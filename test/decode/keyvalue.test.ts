import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { parseKeyValueLine } from '../../src/decode/keyvalue.js';
import { SAMPLES } from '../support/helpers.js';

function parse(line: string): Map<string, unknown> {
  const r = parseKeyValueLine(line);
  assert.ok(r.ok, r.ok ? '' : r.reason);
  return r.fields;
}

describe('key_value parser', () => {
  it('reads backslash-quoted values holding |, = and spaces', () => {
    const f = parse('a=1|Subject=\\RE: x|y = z\\|b=2');
    assert.equal(f.get('Subject'), 'RE: x|y = z');
    assert.equal(f.get('a'), '1');
    assert.equal(f.get('b'), '2');
  });

  it('reads unquoted values with spaces and keeps | that no key follows', () => {
    const f = parse('fileName=Invoice Attached for payment|Subject=a | b|Size=3');
    assert.equal(f.get('fileName'), 'Invoice Attached for payment');
    assert.equal(f.get('Subject'), 'a | b');
    assert.equal(f.get('Size'), '3');
  });

  it('parses embedded JSON objects even when they hold |', () => {
    const f = parse('x=1|SpamProcessingDetail={"spf":{"info":"A|B=C","allow":true}}|y=2');
    assert.deepEqual(f.get('SpamProcessingDetail'), { spf: { info: 'A|B=C', allow: true } });
    assert.equal(f.get('y'), '2');
  });

  it('keeps quoted lists, empty values and the literal null', () => {
    const f = parse('AttNames=\\"filename.docx", "filename2.xlsx"\\|headerFrom=|ReceiptAck=null|SpamInfo=[]');
    assert.equal(f.get('AttNames'), '"filename.docx", "filename2.xlsx"');
    assert.equal(f.get('headerFrom'), '');
    assert.equal(f.get('ReceiptAck'), 'null');
    assert.deepEqual(f.get('SpamInfo'), []);
  });

  it('accepts a quoted value left open at the end of the line', () => {
    const f = parse('Snt=28237|UseTls=Yes|Route=\\Mimecast Exchange Route');
    assert.equal(f.get('Route'), 'Mimecast Exchange Route');
    assert.equal(f.get('UseTls'), 'Yes');
  });

  it('accepts a quote left open in the middle: the next key= ends it', () => {
    const f = parse('Route=\\Mimecast Route|Snt=1');
    assert.equal(f.get('Route'), 'Mimecast Route');
    assert.equal(f.get('Snt'), '1');
  });

  it('strips a CR line ending and tolerates spaces before keys', () => {
    const f = parse('a=1| b=2\r');
    assert.equal(f.get('b'), '2');
  });

  it('rejects text that is not key=value, with the column', () => {
    const r = parseKeyValueLine('this is not a record');
    assert.equal(r.ok, false);
    assert.match(r.ok ? '' : r.reason, /column 1/);
  });

  it('rejects duplicate keys rather than silently dropping one', () => {
    const r = parseKeyValueLine('a=1|a=2');
    assert.equal(r.ok, false);
    assert.match(r.ok ? '' : r.reason, /duplicate key "a"/);
  });

  it('parses every documented example line', () => {
    const sample = readFileSync(`${SAMPLES}understanding-siem-logs.kv`, 'utf8').trim().split('\n');
    assert.equal(sample.length, 13);
    for (const line of sample) {
      const f = parse(line);
      assert.ok(f.has('datetime') && f.has('acc'), line);
      for (const [k, v] of f) {
        if (typeof v === 'string') assert.ok(!v.includes('|' + 'datetime='), `${k} swallowed the next field`);
      }
    }
    const impersonation = parse(sample[10]!);
    assert.equal(impersonation.get('Receipient'), 'recipient@domain');
  });

  // Keys and values as Mimecast writes them: values that hold | or = or edge spaces are quoted.
  const key = fc.stringMatching(/^[A-Za-z][A-Za-z0-9]{0,11}$/);
  const value = fc.string({ unit: fc.constantFrom(...'ab xyz0|=.@<>:-_"\'/,'.split('')), maxLength: 30 }).filter((v) => !v.includes('\\') && !v.startsWith('{') && !v.startsWith('['));
  const record = fc.uniqueArray(fc.tuple(key, value), { selector: ([k]) => k, minLength: 1, maxLength: 15 });

  function write(fields: [string, string][]): string {
    return fields.map(([k, v]) => (/[|=]|^\s|\s$/.test(v) ? `${k}=\\${v}\\` : `${k}=${v}`)).join('|');
  }

  it('round-trips any record written the way Mimecast quotes values (property)', () => {
    fc.assert(
      fc.property(record, (fields) => {
        const parsed = parse(write(fields));
        assert.deepEqual([...parsed.entries()], fields);
      }),
      { numRuns: 2000 },
    );
  });

  it('gives the same fields whatever the key order (property)', () => {
    fc.assert(
      fc.property(record, fc.integer(), (fields, seed) => {
        const shuffled = [...fields].sort((a, b) => ((a[0].charCodeAt(0) * seed) % 7) - ((b[0].charCodeAt(0) * seed) % 7));
        assert.deepEqual(new Map(parse(write(shuffled))), new Map(parse(write(fields))));
      }),
    );
  });

  it('never throws on arbitrary text (property)', () => {
    fc.assert(fc.property(fc.string({ maxLength: 200 }), (s) => {
      parseKeyValueLine(s);
    }), { numRuns: 3000 });
  });
});
