/**
 * The normalizer works out per key shape and log type which fields go where (issue 31). Whatever
 * it kept from earlier records, a record's document is the one its own keys, values and log type
 * give: the same as for a normalizer that meets the record first.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import type { Classification } from '../../src/classify/classify.js';
import type { DecodedRecord, FieldValue } from '../../src/decode/record.js';
import { fingerprint, keyShape } from '../../src/fingerprint/fingerprint.js';
import { ECS_MAPPINGS } from '../../src/mimecast/ecs-fields.js';
import { EcsNormalizer } from '../../src/normalize/ecs.js';

/** Keys the tables name, a few they do not (kept under mimecast.*), odd ones, and the time. */
const KEYS = [...new Set(ECS_MAPPINGS.flatMap((m) => m.from))].concat(['SpamScore', 'TaggedMalicious', 'acc', 'x1', '0', '__proto__', '_offset', 'log_type', 'unparsed']);
const VALUES = ['', 'null', 'TLSv1.2', '10.0.0.1', '<a@b.example>', 'a@b.example, c@d.example', 'true', 'no', '42', 'Rej', 'hld', 'https://x.example/p', 'Date: 2026-05-18, Time: 13:50:19 EDT', '"a.docx", "b.xlsx"', 'text'];
const TYPES = ['receipt', 'delivery', 'process', 'avlog', 'audit', 'held-release', 'unknown'];

const recordArb = fc.record({
  keys: fc.uniqueArray(fc.constantFrom(...KEYS), { maxLength: 14 }),
  values: fc.array(fc.oneof(fc.constantFrom(...VALUES), fc.string({ maxLength: 6 }), fc.constant<FieldValue>({ b: 1, a: [2] } as never)), { minLength: 14, maxLength: 14 }),
  timeKey: fc.constantFrom('datetime', 'timestamp'),
  logType: fc.constantFrom(...TYPES),
});

function record(keys: readonly string[], values: readonly FieldValue[], timeKey: string): DecodedRecord {
  const fields = new Map<string, FieldValue>([[timeKey, '2026-11-01T00:00:00+0000']]);
  keys.forEach((k, i) => fields.set(k, values[i]!));
  return { fields, timeMs: Date.UTC(2026, 10, 1), timeKey, raw: 'raw', api: timeKey === 'datetime' ? 'v1' : 'v2', format: 'key_value' };
}

const classification = (logType: string): Classification => ({ logType, source: 'fields', driftKeys: [] });

describe('normalizer plans per key shape', () => {
  it('give every record the document a fresh normalizer gives it (any keys, order, type, time key)', () => {
    const shared = new EcsNormalizer({ keepOriginal: true });
    fc.assert(
      fc.property(fc.array(recordArb, { minLength: 1, maxLength: 6 }), (records) => {
        for (const r of records) {
          const rec = record(r.keys, r.values, r.timeKey);
          const fp = fingerprint(rec);
          const c = classification(r.logType);
          const fresh = JSON.stringify(new EcsNormalizer({ keepOriginal: true }).normalize(rec, c, fp));
          assert.equal(JSON.stringify(shared.normalize(rec, c, fp, keyShape(rec))), fresh);
          assert.equal(JSON.stringify(shared.normalize(rec, c, fp)), fresh);
        }
      }),
      { numRuns: 400 },
    );
  });

  it('follow the log type for one key shape (IP is source.ip on receipt, destination.ip on delivery)', () => {
    const n = new EcsNormalizer({ keepOriginal: false });
    const rec = record(['IP', 'Dir'], ['10.0.0.1', 'Inbound'], 'datetime');
    const doc = (t: string) => n.normalize(rec, classification(t), fingerprint(rec), keyShape(rec)) as Record<string, any>;
    assert.equal(doc('receipt').source.ip, '10.0.0.1');
    assert.equal(doc('delivery').destination.ip, '10.0.0.1');
    assert.equal(doc('delivery').source, undefined);
    assert.equal(doc('receipt').destination, undefined);
  });
});
