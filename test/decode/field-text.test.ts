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
});
