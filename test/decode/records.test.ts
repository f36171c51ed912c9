/** decodeRecords: an API page's items that are not records are kept together as one dead letter, whole when they fit. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { decodeRecords } from '../../src/decode/records.js';
import { DEFAULT_LIMITS } from '../../src/decode/limits.js';

async function firstItem(records: unknown[]) {
  for await (const batch of decodeRecords('stream page 0', records)) return batch.items[0]!;
  throw new Error('no batch');
}

describe('decodeRecords: items that are not records', () => {
  it('kept whole when they fit the head: no length said, so replay may read them', async () => {
    const item = await firstItem([1, 'two', null, { type: 'receipt' }]);
    assert.equal(item.raw, '1\n"two"\nnull');
    assert.equal(item.truncatedFrom, undefined);
    assert.match((item.result as { reason: string }).reason, /^3 items of this page are not JSON objects/);
  });

  it('over the head: the head kept and the full length of their text said', async () => {
    const long = 'x'.repeat(DEFAULT_LIMITS.deadLetterHeadBytes);
    const item = await firstItem([long, 7]);
    const whole = `${JSON.stringify(long)}\n7`;
    assert.equal(item.truncatedFrom, whole.length);
    assert.equal(item.raw, whole.slice(0, DEFAULT_LIMITS.deadLetterHeadBytes));
  });
});
