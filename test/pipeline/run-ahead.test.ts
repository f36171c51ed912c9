/**
 * With worker threads, the driver's thread keeps processing units while an older unit is still in
 * work on a worker (issue 31): units are handed to the sink in publication order, but a window of
 * only the workers' units plus two made this thread wait for each worker unit in turn, idle
 * whenever it was the faster of the two.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { SinkCounts } from '../../src/core/counts.js';
import type { Sink } from '../../src/core/sink.js';
import type { Unit } from '../../src/core/unit.js';
import { type DecodedBatch, decodeBytes } from '../../src/decode/input.js';
import { Driver } from '../../src/pipeline/driver.js';
import { Transformer } from '../../src/pipeline/transform.js';
import { takeEvents, toKeyValueLine } from '../../src/simulator/generate.js';

class CountingSink implements Sink {
  readonly documentsAsText = true;
  units = 0;
  async write(unit: Unit): Promise<SinkCounts> {
    this.units++;
    return { stored: unit.events.length, duplicates: 0, collisions: 0, deadLetters: unit.deadLetters.length };
  }
  async close(): Promise<void> {}
}

async function batchOf(count: number, seed: number): Promise<DecodedBatch> {
  const text = takeEvents({ seed, startMs: Date.UTC(2026, 10, 1) }, count).map(toKeyValueLine).join('\n');
  for await (const b of decodeBytes('siem.log', Buffer.from(text))) return b;
  throw new Error('no batch');
}

describe('the driver with worker threads', () => {
  it('processes units on its own thread while a worker still works on an older one (up to six ahead)', async () => {
    // The first two units go to the worker; the first is large, so the worker is busy with it
    // (and starting up) while this thread processes the small ones after it.
    const large = await batchOf(20_000, 51);
    const small = await batchOf(5, 52);
    const transformer = Transformer.fromSpec({ keepOriginal: true, unknownTypes: 'store' });
    const sink = new CountingSink();
    const here: number[] = [];
    const process = transformer.process.bind(transformer);
    transformer.process = (...args) => {
      here.push(sink.units);
      return process(...args);
    };
    const driver = new Driver(transformer, sink, { kind: 'file', workers: 2 });
    await driver.run(async (publisher) => {
      await publisher.publish({ batch: large, last: false });
      for (let i = 0; i < 12; i++) await publisher.publish({ batch: small, last: false });
    });
    assert.equal(sink.units, 13);
    const beforeFirst = here.filter((handed) => handed === 0).length;
    assert.equal(beforeFirst, 6, `${beforeFirst} units processed on this thread before the worker's first was handed over`);
  });
});
