/**
 * Events hold their document as JSON text (issue 31): the text is the document's JSON, the object
 * is there for sinks that read it (kept, or parsed back from the text), and a sink that writes
 * only text gets events without their objects.
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
      assert.equal(e.docJson, JSON.stringify(e.doc));
      assert.equal(other.docJson, e.docJson);
      assert.deepEqual(other.doc, e.doc);
    });
  });

  it('lists the same own fields as a plain event, without the document object', async () => {
    const e = (await firstBatch().then((b) => Transformer.fromSpec({ keepOriginal: true, unknownTypes: 'store' }).process(b, false))).events[0]!;
    assert.deepEqual(Object.keys(e), ['id', 'hash', 'timeMs', 'classification', 'raw', 'format', 'position', 'cross', 'docJson']);
    const copy = { ...e, doc: e.doc };
    assert.equal(JSON.stringify(copy.doc), e.docJson);
  });
});
