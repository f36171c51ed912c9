/**
 * What a sink that writes only the documents' text (NDJSON) is handed, in this thread and from
 * worker threads: the same documents as any other sink, without what only the embedded store
 * reads (the cross-version identity: issue 31, a second SHA-256 per record nothing would read).
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { SinkCounts } from '../../src/core/counts.js';
import type { Sink } from '../../src/core/sink.js';
import { type Unit, documentJson } from '../../src/core/unit.js';
import { decodeBytes, decodeInput } from '../../src/decode/input.js';
import { Driver } from '../../src/pipeline/driver.js';
import { Transformer } from '../../src/pipeline/transform.js';
import { takeEvents, toKeyValueLine } from '../../src/simulator/generate.js';

/** Takes every unit; `documentsAsText` says it reads only the documents' text, as the NDJSON sink does. */
class RecordingSink implements Sink {
  readonly units: Unit[] = [];
  constructor(readonly documentsAsText: boolean) {}
  async write(unit: Unit): Promise<SinkCounts> {
    this.units.push(unit);
    return { stored: unit.events.length, duplicates: 0, collisions: 0, deadLetters: unit.deadLetters.length };
  }
  async close(): Promise<void> {}
}

const bytes = Buffer.from(takeEvents({ seed: 31, startMs: Date.UTC(2026, 10, 1) }, 3000).map(toKeyValueLine).join('\n'));

async function run(documentsAsText: boolean, workers: number): Promise<Unit['events']> {
  const sink = new RecordingSink(documentsAsText);
  const driver = new Driver(Transformer.fromSpec({ keepOriginal: true, unknownTypes: 'store' }), sink, { kind: 'file', workers });
  await driver.run(async (publisher) => {
    for await (const batch of decodeBytes('siem.log', bytes)) await publisher.publish({ batch, last: batch.last, endsInput: batch.last });
  });
  return sink.units.flatMap((u) => u.events);
}

describe('events for a text-only sink', () => {
  for (const workers of [1, 2]) {
    it(`carry the same documents without the cross-version identity (workers ${workers})`, async () => {
      const full = await run(false, workers);
      const textOnly = await run(true, workers);
      assert.equal(full.length, 3000);
      assert.equal(textOnly.length, full.length);
      assert.ok(full.every((e) => e.cross !== undefined && /^[0-9a-f]{32}$/.test(e.cross.key)), 'a sink that reads objects gets every identity');
      assert.ok(textOnly.every((e) => e.cross === undefined), 'none is made for a text-only sink');
      textOnly.forEach((e, i) => {
        assert.equal(documentJson(e), documentJson(full[i]!));
        assert.equal(e.hash, full[i]!.hash);
        assert.equal(e.raw, full[i]!.raw);
      });
    });
  }

  it('with --workers 2, are processed on this thread and on one worker thread, sharing the units', async () => {
    const transformer = Transformer.fromSpec({ keepOriginal: true, unknownTypes: 'store' });
    let here = 0;
    const process = transformer.process.bind(transformer);
    transformer.process = (...args) => {
      here++;
      return process(...args);
    };
    const sink = new RecordingSink(true);
    const driver = new Driver(transformer, sink, { kind: 'file', workers: 2 });
    const many = Buffer.from(takeEvents({ seed: 32, startMs: Date.UTC(2026, 10, 1) }, 8000).map(toKeyValueLine).join('\n'));
    async function* chunks() {
      for (let at = 0; at < many.length; at += 65_536) yield many.subarray(at, at + 65_536);
    }
    await driver.run(async (publisher) => {
      for await (const batch of decodeInput('siem.log', chunks())) await publisher.publish({ batch, last: batch.last, endsInput: batch.last });
    });
    const units = sink.units.length;
    assert.ok(units >= 4, `${units} units`);
    assert.ok(here > 0 && here < units, `${here} of ${units} units processed on this thread`);
    assert.equal(sink.units.flatMap((u) => u.events).length, 8000);
  });
});
