/**
 * The canonical form keeps its sorted key layout per key sequence in a bounded tree (issue 31).
 * Whatever the tree holds (a sequence seen before, a new one, the tree started again once full),
 * the text must be the one the README defines: JSON of the [key, text] pairs sorted by key.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import type { DecodedRecord, FieldValue } from '../../src/decode/record.js';
import { CANONICAL_VERSION, canonicalForm } from '../../src/fingerprint/fingerprint.js';
import { stableJson } from '../../src/util/stable-json.js';

/** The definition, written plainly (README "Fingerprint"). */
function reference(record: DecodedRecord): string {
  const texts = new Map<string, string>();
  for (const [rawKey, value] of record.fields) {
    if (rawKey === '_partition' || rawKey === '_offset') continue;
    const key = rawKey === 'eventType' ? 'type' : rawKey === 'subType' ? 'subtype' : rawKey;
    texts.set(key, rawKey === record.timeKey ? new Date(record.timeMs).toISOString() : typeof value === 'string' ? value : stableJson(value));
  }
  return `${CANONICAL_VERSION}\n${JSON.stringify([...texts].sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0)))}`;
}

function record(pairs: readonly (readonly [string, FieldValue])[], timeKey = 'datetime'): DecodedRecord {
  return { fields: new Map(pairs), timeMs: 1_700_000_000_123, timeKey, raw: '', api: 'v2', format: 'json' };
}

describe('canonical form: the kept key layouts give the defined text', () => {
  it('for records of many key sequences, more than the layout tree holds, seen again after it started over', () => {
    const records: DecodedRecord[] = [];
    for (let i = 0; i < 6000; i++) {
      records.push(record([['datetime', 'x'], [`k${i}`, 'a'], [`m${i % 7}`, `v${i}`], ['b', 'é"\\'], [`z${i}`, { y: [1, 'two'], a: null }]]));
    }
    for (let pass = 0; pass < 2; pass++) for (const r of records) assert.equal(canonicalForm(r), reference(r));
  });

  it('with transport keys, stream names folded into batch names (the later one wins), and any key order (property)', () => {
    const key = fc.constantFrom('type', 'eventType', 'subtype', 'subType', '_offset', '_partition', 'a', 'B', 'b', '__proto__', 'timestamp', 'é', 'a b');
    const value = fc.oneof(fc.string({ maxLength: 6 }), fc.constant('\u0000\ud800'), fc.array(fc.string({ maxLength: 3 }), { maxLength: 2 }));
    fc.assert(
      fc.property(fc.uniqueArray(fc.tuple(key, value), { selector: (p) => p[0], maxLength: 10 }), (pairs) => {
        const r = record(pairs as [string, FieldValue][], 'timestamp');
        assert.equal(canonicalForm(r), reference(r));
      }),
      { numRuns: 3000 },
    );
  });
});
