/** jsonText: JSON.stringify's text for any parsed value, also past the depth where JSON.stringify overflows the stack. */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
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

  it('writes JSON.stringify\'s text around a deep chain wherever it sits: first or last item, in an array or an object (property)', () => {
    const depth = 20_000;
    const chain = (inner: string, key: boolean) => (key ? `{"a":`.repeat(depth) + inner + '}'.repeat(depth) : '['.repeat(depth) + inner + ']'.repeat(depth));
    fc.assert(fc.property(fc.jsonValue(), fc.jsonValue(), fc.boolean(), fc.boolean(), (v, w, key, first) => {
      const deep = chain(JSON.stringify(v), key);
      const around = JSON.stringify(w);
      const text = first ? `{"d":${deep},"w":${around},"z":[${deep},${around}]}` : `[${around},${deep},{"w":${around},"d":${deep}}]`;
      const value = JSON.parse(text) as unknown;
      assert.equal(jsonText(value), text); // every piece is JSON.stringify's own text, so the whole is too
    }), { numRuns: 40 });
  });

  it('writes a value a million levels deep within a small heap: a byte a level, not strings and frames of ten times its size', { timeout: 60_000 }, () => {
    // Two million strings and a frame object per level took some 400 MB of heap for 6 MB of text; the child dies out of memory then.
    const json = new URL('../../src/decode/json.js', import.meta.url).href;
    const script = `const { jsonText } = await import(${JSON.stringify(json)});
      const depth = 1_000_000;
      const text = '{"n":' + '{"a":'.repeat(depth) + '"x"' + '}'.repeat(depth) + '}';
      process.stdout.write(String(jsonText(JSON.parse(text)) === text));`;
    const child = spawnSync(process.execPath, ['--max-old-space-size=256', '--input-type=module', '-e', script], { encoding: 'utf8', timeout: 50_000 });
    assert.equal(child.stdout, 'true', `exit ${child.status} ${child.signal ?? ''}: ${child.stderr.slice(0, 500)}`);
  });
});

