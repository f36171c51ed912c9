/**
 * What the store's parts cost (issue 31): each cut that made the store smaller, held by a measure
 * that grows back if the cut is undone.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { takeEvents, toKeyValueLine } from '../../src/simulator/generate.js';
import { compressLayout, layoutRecords } from '../../src/store/record-blocks.js';

const lines = takeEvents({ seed: 2026, startMs: Date.UTC(2026, 10, 1) }, 128 * 21).map(toKeyValueLine);

describe('store size', () => {
  it('deflates record blocks at the best level: 128 simulator records against a dictionary, under 48.5 bytes each', () => {
    const block = (i: number) => layoutRecords(lines.slice(i * 128, (i + 1) * 128).map((raw) => ({ raw, format: 'key_value' as const })));
    const dictionary = block(0).subarray(-32 * 1024);
    let bytes = 0;
    for (let i = 1; i <= 20; i++) bytes += compressLayout(block(i), dictionary).length;
    const perRecord = bytes / (20 * 128);
    assert.ok(perRecord < 48.5, `${perRecord.toFixed(1)} bytes a record`);
  });
});
