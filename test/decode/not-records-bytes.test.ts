/**
 * decodeRecords: a page's items that are not records are one dead letter whose head and length are
 * counted in bytes, as every other dead letter's (`truncated_from` is bytes; the head bound is
 * `deadLetterHeadBytes`), also when their text is not ASCII.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { decodeRecords } from '../../src/decode/records.js';
import { DEFAULT_LIMITS } from '../../src/decode/limits.js';

const HEAD = DEFAULT_LIMITS.deadLetterHeadBytes;

async function firstItem(records: unknown[]) {
  for await (const batch of decodeRecords('stream page 0', records)) return batch.items[0]!;
  throw new Error('no batch');
}

const bytesOf = (raw: string | Buffer) => (typeof raw === 'string' ? Buffer.byteLength(raw) : raw.length);

describe('decodeRecords: items that are not records, in bytes', () => {
  it('two-byte characters over the head: a head of at most deadLetterHeadBytes bytes, their whole length in bytes', async () => {
    const long = 'é'.repeat(HEAD);
    const whole = `${JSON.stringify(long)}\n7`;
    const item = await firstItem([long, 7, { type: 'receipt' }]);
    assert.equal(item.truncatedFrom, Buffer.byteLength(whole), 'truncated_from is the bytes of the whole');
    assert.ok(bytesOf(item.raw) <= HEAD, `a head of ${bytesOf(item.raw)} bytes`);
    assert.ok(whole.startsWith(item.raw as string), 'the head is the start of the text, cut between characters');
    assert.ok(bytesOf(item.raw) > HEAD - 2, 'as much as fits');
    assert.match((item.result as { reason: string }).reason, new RegExp(`\\(the first ${bytesOf(item.raw)} of ${Buffer.byteLength(whole)} bytes\\)`));
  });

  it('text over the head in bytes though not in characters is a head, not kept whole', async () => {
    const item = await firstItem(['€'.repeat(30_000)]); // 90,002 bytes, 30,002 characters
    assert.equal(item.truncatedFrom, 90_002);
    assert.ok(bytesOf(item.raw) <= HEAD);
  });

  it('ASCII that fits is kept whole, no length said', async () => {
    const item = await firstItem([1, 'two']);
    assert.equal(item.raw, '1\n"two"');
    assert.equal(item.truncatedFrom, undefined);
  });
});
