/** fieldText (issue 31): a field's text, the sorted JSON of an embedded object written once per object. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { fieldText, parseEmbeddedJson } from '../../src/decode/record.js';
import { stableJson } from '../../src/util/stable-json.js';

describe('fieldText', () => {
  it('is the text itself for text, and the sorted JSON for embedded objects and arrays', () => {
    assert.equal(fieldText('a b'), 'a b');
    const obj = parseEmbeddedJson('{"spf":{"info":"SPF_FAIL","allow":true},"dkim":{"info":"x","allow":false}}');
    assert.equal(fieldText(obj), '{"dkim":{"allow":false,"info":"x"},"spf":{"allow":true,"info":"SPF_FAIL"}}');
    assert.equal(fieldText(obj), stableJson(obj as never));
    const list = parseEmbeddedJson('[{"b":1,"a":null},"x"]');
    assert.equal(fieldText(list), '[{"a":null,"b":1},"x"]');
  });

  it('gives the same text for equal objects decoded apart, and for one object asked twice', () => {
    const a = parseEmbeddedJson('{"b":[1,2],"a":"\\u0000"}');
    const b = parseEmbeddedJson('{"a":"\\u0000","b":[1,2]}');
    assert.equal(fieldText(a), fieldText(b));
    assert.equal(fieldText(a), fieldText(a));
  });

  it('parses a repeated embedded JSON text once: records share the value, and the answer stays that of a fresh parse', () => {
    const text = '{"spf":{"info":"SPF_PASS","allow":true},"dkim":{"info":"DKIM_UNKNOWN","allow":true}}';
    const first = parseEmbeddedJson(text);
    assert.equal(parseEmbeddedJson(text), first, 'the same value, not a second parse');
    assert.deepEqual(first, JSON.parse(text));
    // Text that is not JSON (or JSON not held) stays text, however often it comes.
    for (let i = 0; i < 2; i++) assert.equal(parseEmbeddedJson('[EXTERNAL] hello'), '[EXTERNAL] hello');
    assert.equal(parseEmbeddedJson('{"a":1,"a":2}'), '{"a":1,"a":2}');
    // Bounded: past its size it starts again, and every answer is still right.
    for (let i = 0; i < 3000; i++) assert.deepEqual(parseEmbeddedJson(`{"n":${i}}`), { n: i });
    assert.deepEqual(parseEmbeddedJson(text), JSON.parse(text));
    const long = `[${'"x",'.repeat(2000)}"y"]`;
    assert.notEqual(parseEmbeddedJson(long), parseEmbeddedJson(long), 'a long text is not kept');
  });
});
