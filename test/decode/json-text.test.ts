/** jsonText: JSON.stringify's text for any parsed value, also past the depth where JSON.stringify overflows the stack. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { jsonText, parseJson } from '../../src/decode/json.js';

describe('jsonText', () => {
  it('writes what JSON.stringify writes, for any JSON value (property)', () => {
    fc.assert(fc.property(fc.jsonValue(), (v) => {
      assert.equal(jsonText(v), JSON.stringify(v));
    }));
  });

  it('writes a value nested past the stack: the text parses back to the same shape, and the decoder refuses it with its reason', () => {
    const depth = 200_000;
    const text = `{"k":${'{"a":['.repeat(depth)}"x",1.5,null,true${']}'.repeat(depth)}}`;
    const value = JSON.parse(text) as unknown;
    assert.throws(() => JSON.stringify(value), RangeError, 'JSON.stringify cannot write it (else this test shows nothing)');
    assert.equal(jsonText(value), text);
    const parsed = parseJson(jsonText(value)!, 64);
    assert.equal(parsed.ok, false);
    assert.match((parsed as { reason: string }).reason, /nested deeper than 64 levels/);
  });

  it('keeps the key order, escapes keys and strings, and writes -0 and undefined in an array as JSON.stringify does', () => {
    let deep: unknown = { 'é"\n': '\u2028\ud800', z: 1, a: -0, u: undefined, arr: [undefined, 2] };
    for (let i = 0; i < 150_000; i++) deep = [deep];
    const one = jsonText(deep)!;
    const inner = one.slice(150_000, one.length - 150_000);
    assert.equal(inner, JSON.stringify({ 'é"\n': '\u2028\ud800', z: 1, a: -0, arr: [undefined, 2] }));
  });
});
