/** API 1.0 json documents with a record nested too deep: cut out unparsed, so memory stays that of the text. */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { describe, it } from 'node:test';
import { compactJson, deepElements } from '../../src/decode/json.js';
import { decodeJsonDocument } from '../../src/decode/input.js';
import { DEFAULT_LIMITS } from '../../src/decode/limits.js';

const tooDeep = (result: object) => 'reason' in result && /^JSON nested deeper than 64 levels/.test(String(result.reason));

describe('API 1.0 json document: a record nested too deep', () => {
  it('finds the records nested too deep by their index, past strings that hold brackets, quotes and "data"', () => {
    const text = '{"x":{"data":[[[[[]]]]]},"data" : [1, "[[[\\"[", {"a":[[[1]]]}, null, [[[[]]]], {"b":[[1]]}], "y":[[[[[[]]]]]]}';
    const found = deepElements(text, ['data'], 3);
    assert.deepEqual(found.map((d) => [d.index, text.slice(d.start, d.end)]), [[2, '{"a":[[[1]]]}'], [4, '[[[[]]]]']]);
  });

  it('finds them along a path through objects and arrays (a feed page\'s data[0].clickLogs), not in the arrays beside it', () => {
    const deep = '[[[[1]]]]';
    const text = `{"data":[{"clickLogs":[{"a":1},${deep},{"b":[[[[[2]]]]]}],"other":[${deep}]},{"clickLogs":[${deep}]}],"clickLogs":[${deep}]}`;
    const found = deepElements(text, ['data', 0, 'clickLogs'], 3);
    assert.deepEqual(found.map((d) => [d.index, text.slice(d.start, d.end)]), [[1, deep], [2, '{"b":[[[[[2]]]]]}']]);
    assert.deepEqual(deepElements(text, ['data', 1, 'clickLogs'], 3).map((d) => d.index), [0]);
    assert.deepEqual(deepElements(text, ['clickLogs'], 3).map((d) => d.index), [0]);
    assert.deepEqual(deepElements(text, ['data', 0, 'clickLogs'], 6).map((d) => d.index), []);
  });

  it('keeps a record cut from a pretty-printed document on one line, its strings untouched', () => {
    assert.equal(compactJson('{\n  "a" : [ 1,\t2 ],\r\n  "s": " x  \\" y "\n}'), '{"a":[1,2],"s":" x  \\" y "}');
    const text = `{"type": "MTA",\n "data": [\n  {"id": "one"},\n  {"deep":\n${'[\n'.repeat(100)}${']\n'.repeat(100)}  },\n  {"id": "three"}\n ]\n}`;
    const batch = decodeJsonDocument('d.json', 'd.json', text, DEFAULT_LIMITS);
    assert.deepEqual(batch.items.map((i) => [i.position, tooDeep(i.result)]), [[1, false], [2, true], [3, false]]);
    assert.equal(batch.items[1]!.raw, `{"deep":${'['.repeat(100)}${']'.repeat(100)}}`);
  });

  it('a record nested 4 million levels deep in a 16 MiB document is refused within a 160 MiB heap (it was parsed into 4 million arrays first)', { timeout: 60_000 }, () => {
    const input = new URL('../../src/decode/input.js', import.meta.url).href;
    const script = `const { decodeJsonDocument } = await import(${JSON.stringify(input)});
      const depth = 4_000_000;
      const text = '{"type":"MTA","data":[{"id":"one"},\\n{"deep":' + '[\\n'.repeat(depth) + ']\\n'.repeat(depth) + '},{"id":"three"}]}';
      const batch = decodeJsonDocument('d.json', 'd.json', text);
      process.stdout.write(JSON.stringify(batch.items.map((i) => [i.position, /nested deeper/.test(i.result.reason ?? ''), i.raw.length])));`;
    const child = spawnSync(process.execPath, ['--max-old-space-size=160', '--input-type=module', '-e', script], { encoding: 'utf8', timeout: 50_000 });
    // The deep record's text is kept whole and compact: 8,000,009 characters, under --max-record-bytes.
    assert.equal(child.stdout, JSON.stringify([[1, false, 12], [2, true, 8_000_009], [3, false, 14]]), `exit ${child.status} ${child.signal ?? ''}: ${child.stderr.slice(0, 500)}`);
  });
});
