/**
 * The normalizer writes a document's JSON text itself when only the text is wanted (issue 31):
 * whatever the record, that text is byte for byte JSON.stringify of the document `normalize`
 * gives — key order (integer-like keys first, a repeated key in its first place), left-out
 * values, numbers, escapes and lone surrogates included.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import type { Classification, LogTypeSource } from '../../src/classify/classify.js';
import { documentJson } from '../../src/core/unit.js';
import type { DecodedRecord, FieldValue } from '../../src/decode/record.js';
import { fingerprint, keyShape } from '../../src/fingerprint/fingerprint.js';
import { BOOLEAN_FIELDS, DROPPED_FIELDS, ECS_MAPPINGS, NUMBER_FIELDS } from '../../src/mimecast/ecs-fields.js';
import { EcsNormalizer } from '../../src/normalize/ecs.js';
import { takeEvents, toKeyValueLine, toV1JsonFile, toV2Record } from '../../src/simulator/generate.js';
import { SAMPLES, processInput, transformer } from '../support/helpers.js';

const HOSTILE_KEYS = ['__proto__', 'constructor', 'toString', '0', '1', '123', '4294967295', '01', '-1', 'a.b', '', ' ', 'é', '😀', '\ud800', 'a\udc00b', '"', '\\', '\n',
  'log_type', 'log_type_source', 'log_type_candidates', 'unparsed', 'SpamScore', 'acc', 'x1'];
const KEYS = [...new Set([...ECS_MAPPINGS.flatMap((m) => m.from), ...NUMBER_FIELDS, ...BOOLEAN_FIELDS, ...DROPPED_FIELDS, ...HOSTILE_KEYS])];
const TEXTS = ['', ' ', 'null', 'true', 'no', 'maybe', '42', '-0', '-0.0', '1e400', '1e-400', '1.5E+3', 'NaN', 'Infinity', 'TLSv1.2', 'SSL 3', '10.0.0.1', '::1',
  '<a@b.example>', 'a@b.example, c@d.example; <e@F.example>', 'https://x.example/p', 'not a url', 'Date: 2026-05-18, Time: 13:50:19 EDT', '"a.docx", "b.xlsx"',
  'a,b,,c', '\ud800', 'x\udfffy', '"\\\u0000\u001f\u2028', '😀é'];
const TYPES = ['receipt', 'delivery', 'process', 'avlog', 'audit', 'held-release', 'ttp-url', 'unknown', '__proto__', '0'];

const textArb = fc.oneof(fc.constantFrom(...TEXTS), fc.string({ maxLength: 12 }), fc.string({ unit: 'binary', maxLength: 12 }), fc.constant(`${'a'.repeat(100_000)}"\\\ud800`));
const valueArb = fc.oneof(
  { weight: 8, arbitrary: textArb },
  { weight: 1, arbitrary: fc.array(fc.oneof(fc.jsonValue({ maxDepth: 2 }), fc.constantFrom(-0, 1e300, '\ud800')), { maxLength: 4 }) },
  { weight: 1, arbitrary: fc.dictionary(fc.oneof(fc.constantFrom(...HOSTILE_KEYS), fc.string({ maxLength: 4 })), fc.jsonValue({ maxDepth: 2 }), { maxKeys: 4 }) },
) as fc.Arbitrary<FieldValue>;
const recordArb = fc.record({
  fields: fc.uniqueArray(fc.tuple(fc.oneof({ weight: 4, arbitrary: fc.constantFrom(...KEYS) }, { weight: 1, arbitrary: fc.string({ unit: 'binary', maxLength: 6 }) }), valueArb), {
    selector: ([k]) => k, maxLength: 24,
  }),
  timeKey: fc.constantFrom('datetime', 'timestamp'),
  timeMs: fc.oneof(fc.integer({ min: -8.64e15, max: 8.64e15 }), fc.constantFrom(0, -1, 8.64e15, -8.64e15)),
  raw: textArb,
  logType: fc.oneof(fc.constantFrom(...TYPES), fc.string({ maxLength: 6 })),
  source: fc.constantFrom<LogTypeSource>('feed', 'record', 'file_name', 'declared', 'fields'),
  candidates: fc.option(fc.array(fc.string({ unit: 'binary', maxLength: 5 }), { minLength: 1, maxLength: 3 }), { nil: undefined }),
  keepOriginal: fc.boolean(),
});

/** What a call gives: its value, or the error it throws (both paths must throw the same). */
function outcome(f: () => string): string {
  try {
    return `ok ${f()}`;
  } catch (err) {
    return `threw ${String(err)}`;
  }
}

describe('the document written as text', () => {
  it('is JSON.stringify of the document object, for any record (hostile keys and values, any type)', () => {
    // Normalizers shared across runs, as in the pipeline: plans per shape made by earlier records.
    const normalizers = [new EcsNormalizer({ keepOriginal: false }), new EcsNormalizer({ keepOriginal: true })];
    fc.assert(
      fc.property(recordArb, (r) => {
        const fields = new Map<string, FieldValue>([[r.timeKey, '2026-11-01T00:00:00+0000']]);
        for (const [k, v] of r.fields) fields.set(k, v);
        const rec: DecodedRecord = { fields, timeMs: r.timeMs, timeKey: r.timeKey, raw: r.raw, api: r.timeKey === 'datetime' ? 'v1' : 'v2', format: 'key_value' };
        const c: Classification = { logType: r.logType, source: r.source, candidates: r.candidates, driftKeys: [] };
        const fp = fingerprint(rec);
        const n = normalizers[Number(r.keepOriginal)]!;
        const expected = outcome(() => JSON.stringify(n.normalize(rec, c, fp)));
        assert.equal(outcome(() => n.normalizeJson(rec, c, fp, keyShape(rec))), expected);
        assert.equal(outcome(() => new EcsNormalizer({ keepOriginal: r.keepOriginal }).normalizeJson(rec, c, fp)), expected);
      }),
      { numRuns: 1500 },
    );
  });

  it('is JSON.stringify of the document object for every sample log type (key_value, v1 JSON, v2 NDJSON; with and without event.original)', async () => {
    const events = takeEvents({ seed: 31, startMs: Date.UTC(2026, 0, 1) }, 400);
    const inputs: [string, string][] = [
      ['s.kv', readFileSync(`${SAMPLES}understanding-siem-logs.kv`, 'utf8')],
      ['g.log', events.map(toKeyValueLine).join('\n')],
      ['g.json', toV1JsonFile(events)],
      ['g.ndjson', events.map((e, i) => JSON.stringify(toV2Record(e, { shape: i % 2 ? 'batch' : 'stream', partition: 1, offset: i }))).join('\n')],
    ];
    for (const keepOriginal of [true, false]) {
      for (const [name, text] of inputs) {
        const objects = await processInput(name, text, transformer({ keepOriginal }));
        const t = transformer({ keepOriginal });
        const texts = await processInput(name, text, { process: (batch) => t.process(batch, false) } as typeof t);
        assert.ok(objects.events.length > 0, name);
        assert.ok(texts.events.every((e) => typeof e.docJson === 'string'), `${name}: text events`);
        assert.deepEqual(texts.events.map(documentJson), objects.events.map((e) => JSON.stringify(e.doc)), name);
      }
    }
  });
});
