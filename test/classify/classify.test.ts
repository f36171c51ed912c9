import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { Classifier } from '../../src/classify/classify.js';
import { DEFAULT_TABLES, loadTypesFile } from '../../src/classify/type-tables.js';
import type { DecodedRecord, FieldValue } from '../../src/decode/record.js';
import { LOG_TYPES } from '../../src/mimecast/log-types.js';
import { tempDir, SAMPLES, json, kv } from '../support/helpers.js';

const classifier = new Classifier(DEFAULT_TABLES);

function recordWithKeys(keys: readonly string[]): DecodedRecord {
  const fields = new Map<string, FieldValue>([['datetime', '2021-03-05T16:25:17+0000'], ['acc', 'C0A0']]);
  for (const k of keys) fields.set(k, 'v');
  return { fields, timeMs: 0, timeKey: 'datetime', raw: '', api: 'v1', format: 'key_value' };
}

describe('log-type classification', () => {
  it('gives every documented example line its expected type from keys alone', () => {
    const lines = readFileSync(`${SAMPLES}understanding-siem-logs.kv`, 'utf8').trim().split('\n');
    const expected = readFileSync(`${SAMPLES}understanding-siem-logs.expected-types`, 'utf8').trim().split('\n');
    assert.equal(lines.length, expected.length);
    lines.forEach((line, i) => {
      const c = classifier.classify(kv(line), {});
      assert.equal(c.source, 'fields');
      assert.equal(c.logType, expected[i], `line ${i + 1}`);
      assert.deepEqual(c.driftKeys, []);
    });
  });

  it('flags the attachment-protect example as also fitting avlog (its keys are a subset)', () => {
    const line = readFileSync(`${SAMPLES}understanding-siem-logs.kv`, 'utf8').trim().split('\n')[12]!;
    assert.deepEqual(classifier.classify(kv(line), {}).candidates, ['attachment-protect', 'avlog']);
  });

  it('keeps case: Action (impersonation) and action (url protect) differ', () => {
    assert.equal(classifier.fromKeys(recordWithKeys(['Action', 'Definition'])).logType, 'impersonation-protect');
    assert.equal(classifier.fromKeys(recordWithKeys(['action', 'urlCategory'])).logType, 'url-protect');
  });

  // Records built from the documented field lists with a few keys missing and keys in any order.
  const corpus = fc.constantFrom(...LOG_TYPES).chain((spec) =>
    fc.record({
      spec: fc.constant(spec),
      keys: fc.shuffledSubarray([...spec.keys], { minLength: Math.max(1, spec.keys.length - 3), maxLength: spec.keys.length }),
    }),
  );

  it('never is confidently wrong on records missing up to three keys (property)', () => {
    fc.assert(
      fc.property(corpus, ({ spec, keys }) => {
        const c = classifier.fromKeys(recordWithKeys(keys));
        if (c.candidates) assert.ok(c.candidates.includes(spec.name), `${spec.name} not among ${c.candidates} for ${keys}`);
        else assert.equal(c.logType, spec.name, `keys ${keys}`);
      }),
      { numRuns: 5000 },
    );
  });

  it('classifies most such records without ambiguity', () => {
    let ambiguous = 0;
    const samples = fc.sample(corpus, { numRuns: 2000, seed: 42 });
    for (const { keys } of samples) if (classifier.fromKeys(recordWithKeys(keys)).candidates) ambiguous++;
    // Only the small types that share most keys with another (jrnl, spam, IEP, AP) can tie.
    assert.ok(ambiguous < samples.length * 0.2, `${ambiguous} of ${samples.length} ambiguous`);
  });

  it('does not depend on key order (property)', () => {
    fc.assert(
      fc.property(corpus, fc.func(fc.integer()), ({ keys }, f) => {
        const shuffled = [...keys].sort((a, b) => f(a) - f(b) || (a < b ? -1 : 1));
        assert.deepEqual(classifier.fromKeys(recordWithKeys(shuffled)), classifier.fromKeys(recordWithKeys(keys)));
      }),
    );
  });

  it('calls a record of mostly unknown keys unknown and reports the drift', () => {
    const c = classifier.fromKeys(recordWithKeys(['aCode', 'Sender', 'quarantineId', 'policyVerdict', 'scanEngine']));
    assert.equal(c.logType, 'unknown');
    assert.deepEqual(c.driftKeys, ['policyVerdict', 'quarantineId', 'scanEngine']);
  });

  it('calls a v2 record without a type field unknown when most of its keys are untabled', () => {
    const r = json('{"timestamp":"1700000000000","accountId":"C0A0","aggregateId":"a_1","processingId":"p","recipients":"r@x","subject":"s","sender":"x@y","url":"https://x"}');
    assert.deepEqual(classifier.classify(r, {}), { logType: 'unknown', source: 'fields', driftKeys: [] });
  });

  it('reports unknown keys of a classified record as drift', () => {
    const c = classifier.fromKeys(recordWithKeys(['aCode', 'Delivered', 'Attempt', 'Latency', 'NewField']));
    assert.equal(c.logType, 'delivery');
    assert.deepEqual(c.driftKeys, ['NewField']);
  });

  it('applies precedence: the feed > record type > file name > --type > keys', () => {
    const v2 = json('{"type":"url protect","timestamp":"1700000000000","Delivered":"true"}');
    assert.deepEqual(classifier.classify(v2, { fileName: 'receipt_1.log', declared: 'avlog', feed: 'ttp-url' }), { logType: 'ttp-url', source: 'feed', driftKeys: [] });
    assert.deepEqual([classifier.classify(v2, { fileName: 'receipt_1.log', declared: 'avlog' }).logType], ['url-protect']);
    const stream = json('{"eventType":"Attachment_Protect","timestamp":"1700000000000"}');
    assert.equal(classifier.classify(stream, {}).logType, 'attachment-protect');
    const line = kv('datetime=2017-05-26T19:40:33+0100|acc=C0A0|Delivered=true|Attempt=1');
    assert.deepEqual(classifier.classify(line, { fileName: 'ttp_url_2021.log', declared: 'avlog' }), { logType: 'url-protect', source: 'file_name', driftKeys: [] });
    assert.equal(classifier.classify(line, { fileName: 'ttp_ap_2021.log' }).logType, 'attachment-protect');
    assert.deepEqual(classifier.classify(line, { fileName: 'export.log', declared: 'avlog' }), { logType: 'avlog', source: 'declared', driftKeys: [] });
    assert.deepEqual(classifier.classify(line, { fileName: 'export.log' }), { logType: 'delivery', source: 'fields', driftKeys: [] });
  });

  it('says unknown for a v2 record whose type no table knows', () => {
    const c = classifier.classify(json('{"type":"dlp","timestamp":"1700000000000"}'), { fileName: 'receipt_x' });
    assert.deepEqual([c.logType, c.source], ['unknown', 'record']);
  });

  it('learns a new type from a types file, by keys and by file name', () => {
    const dir = tempDir('classify');
    const path = join(dir, 'types.json');
    writeFileSync(path, JSON.stringify({ types: [{ name: 'dlp', filePrefixes: ['dlp_'], v2Types: ['dlp'], keys: ['policyVerdict', 'quarantineId', 'scanEngine', 'Sender'] }] }));
    const tables = loadTypesFile(path);
    const extended = new Classifier(tables);
    const record = recordWithKeys(['aCode', 'Sender', 'quarantineId', 'policyVerdict', 'scanEngine']);
    assert.equal(extended.fromKeys(record).logType, 'dlp');
    assert.equal(extended.classify(recordWithKeys(['x']), { fileName: 'dlp_2026.log' }).logType, 'dlp');
    assert.deepEqual(tables.uniqueKeys('dlp'), ['policyVerdict', 'quarantineId', 'scanEngine']);
    // The built-in types still classify.
    assert.equal(extended.fromKeys(recordWithKeys(['Delivered', 'Attempt'])).logType, 'delivery');
  });

  it('rejects a malformed types file with a clear message', () => {
    const dir = tempDir('classify');
    const path = join(dir, 'bad.json');
    writeFileSync(path, JSON.stringify({ types: [{ name: 'x', keys: 'Sender' }] }));
    assert.throws(() => loadTypesFile(path), /types\[0\]\.keys must be a list of strings/);
  });

  it('derives unique keys from the tables', () => {
    assert.deepEqual(DEFAULT_TABLES.uniqueKeys('jrnl'), ['RcptActType', 'RcptHdrType']);
    assert.ok(DEFAULT_TABLES.uniqueKeys('url-protect').includes('credentialTheft'));
  });
});
