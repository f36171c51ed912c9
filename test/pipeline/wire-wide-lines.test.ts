/**
 * A batch's lines cross to a worker joined into one text (pipeline/wire.ts). A batch of wide lines
 * (1000 lines of up to --max-record-bytes each) holds more characters than one V8 string can: the
 * join threw "Invalid string length" and `--workers 2` stopped the run on an input one thread
 * takes whole.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { DecodedBatch, DecodedItem } from '../../src/decode/item.js';
import { batchFromWire, batchToWire } from '../../src/pipeline/wire.js';

describe('a batch of wide lines crossing to a worker', () => {
  it('crosses whole when its lines hold more characters than one string can', () => {
    // One string shared by every item: the batch costs 600 KB, its lines 600 M characters.
    const wide = `{"subject":"${'p'.repeat(600_000)}"}`;
    const pending = { pending: { format: 'ndjson', maxJsonDepth: 64, maxRecordKeys: 10_000 } } as const;
    const items: DecodedItem[] = Array.from({ length: 1000 }, (_, i) => ({ position: i + 1, result: pending, raw: i === 500 ? 'short line' : wide }));
    const batch: DecodedBatch = { source: 'wide.ndjson', fileName: 'wide.ndjson', items, last: true };
    const back = batchFromWire(batchToWire(batch));
    assert.equal(back.items.length, 1000);
    back.items.forEach((item, i) => {
      assert.equal(item.position, i + 1);
      assert.equal(item.raw, items[i]!.raw);
      assert.deepEqual(item.result, pending);
    });
  });
});
