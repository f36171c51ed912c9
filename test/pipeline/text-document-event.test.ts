/**
 * Events for a sink that writes only text hold their document as JSON text (issue 31), its object
 * parsed back only if asked; other events keep the object, as before.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { decodeBytes } from '../../src/decode/input.js';
import { Transformer } from '../../src/pipeline/transform.js';
import { TextDocumentEvent } from '../../src/pipeline/processed-event.js';
import { takeEvents, toKeyValueLine } from '../../src/simulator/generate.js';

async function firstBatch() {
  const lines = takeEvents({ seed: 7, startMs: Date.UTC(2026, 10, 1) }, 50).map(toKeyValueLine).join('\n');
  for await (const batch of decodeBytes('siem.log', Buffer.from(lines))) return batch;
  throw new Error('no batch');
}

describe('TextDocumentEvent', () => {
  it('carries the document text and the same document as an object, kept or parsed back', async () => {
    const batch = await firstBatch();
    const t = Transformer.fromSpec({ keepOriginal: true, unknownTypes: 'store' });
    const kept = t.process(batch);
    const textOnly = t.process(batch, false);
    assert.equal(kept.events.length, 50);
    kept.events.forEach((e, i) => {
      const other = textOnly.events[i]!;
      assert.ok(other instanceof TextDocumentEvent);
      assert.ok(!(e instanceof TextDocumentEvent)); // a plain object: a spread copy keeps its doc
      assert.deepEqual({ ...e }.doc, e.doc);
      assert.equal(e.docJson, undefined); // made only if a sink asks (documentJson): the store never does
      assert.equal(other.docJson, JSON.stringify(e.doc));
      assert.deepEqual(other.doc, e.doc);
    });
  });

  it('lists the same own fields as a plain event, without the document (object or text)', async () => {
    const e = (await firstBatch().then((b) => Transformer.fromSpec({ keepOriginal: true, unknownTypes: 'store' }).process(b, false))).events[0]!;
    assert.deepEqual(Object.keys(e), ['id', 'hash', 'timeMs', 'classification', 'raw', 'format', 'position', 'cross']);
    const copy = { ...e, doc: e.doc };
    assert.equal(JSON.stringify(copy.doc), e.docJson);
  });
});
