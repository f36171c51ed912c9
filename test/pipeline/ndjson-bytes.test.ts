/**
 * A unit's documents for a text-only sink are written, as they are made, into one buffer of NDJSON
 * bytes (issue 31): a worker transfers that buffer instead of cloning a string, and the NDJSON sink
 * writes it as it came, on this thread and from a worker, without a string per document.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { Unit } from '../../src/core/unit.js';
import { documentJson } from '../../src/core/unit.js';
import { type DecodedBatch, decodeInput } from '../../src/decode/input.js';
import { Driver } from '../../src/pipeline/driver.js';
import { NdjsonBytes, TextDocumentEvent } from '../../src/pipeline/processed-event.js';
import { Transformer } from '../../src/pipeline/transform.js';
import { NdjsonSink } from '../../src/sinks/ndjson.js';
import { takeEvents, toKeyValueLine } from '../../src/simulator/generate.js';
import { tempDir } from '../support/helpers.js';
import { join } from 'node:path';

const spec = { keepOriginal: true, unknownTypes: 'store' } as const;
const lines = takeEvents({ seed: 41, startMs: Date.UTC(2026, 10, 1) }, 2500).map(toKeyValueLine);
// A line that is not a record, and a document with text outside ASCII (several bytes per character).
lines.splice(700, 0, 'not a record at all');
lines[3] = lines[3]!.replace(/Subject=[^|]*/, 'Subject=Grüße — 日本語 ✉ 😀');
const bytes = Buffer.from(lines.join('\n'));

/** The sample's batches, read in 64 KiB chunks as a file is (so there are several). */
async function* batches(): AsyncGenerator<DecodedBatch> {
  async function* chunks() {
    for (let at = 0; at < bytes.length; at += 65_536) yield bytes.subarray(at, at + 65_536);
  }
  yield* decodeInput('siem.log', chunks());
}

/** What each document's text gives, as NDJSON: what the sink wrote before the bytes. */
function textOf(units: readonly Unit[]): string {
  return units.flatMap((u) => u.events.map((e) => `${documentJson(e)}\n`)).join('');
}

/** Runs the sample through the driver into an NDJSON sink; what the output was handed, write by write. */
async function written(workers: number): Promise<(string | Uint8Array)[]> {
  const writes: (string | Uint8Array)[] = [];
  const sink = new NdjsonSink(async (text) => void writes.push(text), join(tempDir('ndjson-bytes'), 'dead.ndjson'));
  const driver = new Driver(Transformer.fromSpec(spec), sink, { kind: 'file', workers });
  await driver.run(async (publisher) => {
    for await (const batch of batches()) await publisher.publish({ batch, last: batch.last, endsInput: batch.last });
  });
  await sink.close();
  return writes;
}

describe('documents as NDJSON bytes', () => {
  it('a unit processed for a text-only sink holds its documents as one stretch of NDJSON bytes, each text decoded from it', async () => {
    const t = Transformer.fromSpec(spec);
    const units: Unit[] = [];
    for await (const batch of batches()) units.push(t.process(batch, false));
    const withObjects: Unit[] = [];
    for await (const batch of batches()) withObjects.push(t.process(batch));
    assert.equal(textOf(units), textOf(withObjects));
    for (const unit of units) {
      const stretches = TextDocumentEvent.ndjson(unit.events);
      assert.equal(stretches?.length, 1);
      assert.equal(stretches[0]!.toString('utf8'), textOf([unit]));
    }
    assert.ok(textOf(units).includes('Grüße — 日本語 ✉ 😀'));
  });

  for (const workers of [1, 2]) {
    it(`the NDJSON sink is handed bytes, not text, and writes what the documents' text gives (workers ${workers})`, async () => {
      const writes = await written(workers);
      const t = Transformer.fromSpec(spec);
      const expected: Unit[] = [];
      for await (const batch of batches()) expected.push(t.process(batch));
      assert.ok(writes.length >= 3, `${writes.length} writes`);
      assert.ok(writes.every((w) => w instanceof Uint8Array), 'every unit is written as the bytes it was processed into');
      assert.equal(Buffer.concat(writes as Uint8Array[]).toString('utf8'), textOf(expected));
    });
  }

  it('joins the stretches of several units, and falls back to text for an event that holds its document otherwise', async () => {
    const t = Transformer.fromSpec(spec);
    const units: Unit[] = [];
    for await (const batch of batches()) units.push(t.process(batch, false));
    const all = units.flatMap((u) => u.events);
    assert.equal(TextDocumentEvent.ndjson(all)?.length, units.length);
    const writes: (string | Uint8Array)[] = [];
    const sink = new NdjsonSink(async (text) => void writes.push(text), join(tempDir('ndjson-bytes'), 'dead.ndjson'));
    const spread = { ...all[1]!, doc: all[1]!.doc };
    await sink.write({ source: 's', events: all, deadLetters: [], position: 1, last: false });
    await sink.write({ source: 's', events: [all[0]!, spread, all[2]!], deadLetters: [], position: 2, last: false });
    assert.ok(writes[0] instanceof Uint8Array);
    assert.equal(Buffer.from(writes[0]).toString('utf8'), textOf(units));
    assert.equal(typeof writes[1], 'string');
    assert.equal(writes[1], textOf([{ source: 's', events: all.slice(0, 3), deadLetters: [], position: 0, last: false }]));
  });

  it('grows its buffer as documents come, keeping what was written', () => {
    const docs = new NdjsonBytes(1);
    const texts = Array.from({ length: 300 }, (_, i) => JSON.stringify({ i, text: 'é✉'.repeat(i) }));
    const ends = texts.map((s) => docs.add(s));
    assert.equal(docs.bytes().toString('utf8'), texts.map((s) => `${s}\n`).join(''));
    let start = 0;
    ends.forEach((end, i) => {
      assert.equal(docs.text(start, end), texts[i]);
      start = end + 1;
    });
  });
});
