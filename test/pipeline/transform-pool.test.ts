/** The worker pool's failures: a worker gone must fail the run, never leave a unit waiting forever. */
import assert from 'node:assert/strict';
import { readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import type { Worker } from 'node:worker_threads';
import { type DecodedBatch, decodeBytes } from '../../src/decode/input.js';
import { Driver } from '../../src/pipeline/driver.js';
import { Transformer } from '../../src/pipeline/transform.js';
import { QUEUED_PER_WORKER, TransformPool } from '../../src/pipeline/transform-pool.js';
import { SqliteSink } from '../../src/sinks/sqlite.js';
import { Store } from '../../src/store/store.js';
import { SAMPLES, tempDir } from '../support/helpers.js';

const dir = tempDir('mimelog-pool-');
after(() => rmSync(dir, { recursive: true, force: true }));

async function sampleBatches(): Promise<DecodedBatch[]> {
  const batches: DecodedBatch[] = [];
  for await (const b of decodeBytes('s.kv', readFileSync(join(SAMPLES, 'understanding-siem-logs.kv')))) batches.push(b);
  return batches;
}

/** How a unit's promise settled, or that it had not after 5 s (a hang). */
function outcome(unit: Promise<unknown>): Promise<string> {
  return Promise.race([
    unit.then(() => 'resolved', (err: Error) => `rejected: ${err.message}`),
    new Promise<string>((resolve) => setTimeout(() => resolve('still waiting after 5 s'), 5_000).unref()),
  ]);
}

/** The batches with one item that holds a value no structured clone takes (a function, as a decoder's bug might leave). */
function withUncloneable(batches: readonly DecodedBatch[]): DecodedBatch[] {
  const b = batches[0]!;
  return [{ ...b, items: [{ ...b.items[0]!, cutShort: (() => true) as unknown as boolean }] }];
}

/** The pool's only worker thread (the tests end it as a crash would). */
const onlyThread = (pool: TransformPool) => (pool as unknown as { workers: { thread: Worker }[] }).workers[0]!.thread;

describe('transform pool', () => {
  it('a worker that exits with no unit in hand fails the units sent after it (before, they never settled: the run hung)', async () => {
    const batches = await sampleBatches();
    const pool = new TransformPool({ keepOriginal: true, unknownTypes: 'store' }, 1);
    try {
      const units = await pool.transform(undefined, batches);
      assert.ok(units.reduce((n, u) => n + u.events.length, 0) > 0, 'the pool works before the worker goes');
      // The worker thread dies between units (an out-of-memory kill, a crash in native code).
      await onlyThread(pool).terminate();
      assert.match(await outcome(pool.transform(undefined, batches)), /^rejected: transform worker exited/);
    } finally {
      await pool.close();
    }
  });

  it('a unit that cannot be sent to a worker fails alone, clearly, and leaves the worker free (before, it stayed in hand: the pool counted the worker busy)', async () => {
    const batches = await sampleBatches();
    const item = batches[0]!.items[0]!;
    const uncloneable = withUncloneable(batches);
    const pool = new TransformPool({ keepOriginal: true, unknownTypes: 'store' }, 1);
    try {
      // As many as the worker may hold: had they stayed in hand, the pool would have no room left.
      for (let i = 0; i < QUEUED_PER_WORKER; i++) {
        assert.match(await outcome(pool.transform(undefined, uncloneable)), new RegExp(`^rejected: transform pool: the unit of s\\.kv \\(items ${item.position}–${item.position}\\) could not be sent to a worker: .*could not be cloned`));
      }
      assert.equal(pool.hasRoom(), true, 'the worker holds none of the units it never got');
      assert.equal(await outcome(pool.transform(undefined, batches)), 'resolved', 'the next unit is processed on the same worker');
      // And a worker that goes counts only what it held.
      await onlyThread(pool).terminate();
      assert.match(await outcome(pool.transform(undefined, batches)), /^rejected: transform worker exited \(1\) with 0 units in hand/);
    } finally {
      await pool.close();
    }
  });

  it('a run whose unit cannot be sent to a worker fails with that error, and no state moves past the unit before it', async () => {
    const store = new Store(join(dir, 'unsendable.db'));
    try {
      const batches = await sampleBatches();
      const driver = new Driver(Transformer.fromSpec({ keepOriginal: true, unknownTypes: 'store' }), new SqliteSink(store), { kind: 'mimecast-v1', workers: 2 });
      const run = driver.run(async (publisher) => {
        await publisher.publish({ batch: batches, last: false, checkpoint: { kind: 'mimecast-v1', key: 'f', filesDone: 1 } });
        await publisher.publish({ batch: withUncloneable(batches), last: false, checkpoint: { kind: 'mimecast-v1', key: 'f', filesDone: 2 } });
      });
      assert.match(await outcome(run), /^rejected: transform pool: the unit of s\.kv \(items \d+–\d+\) could not be sent to a worker/);
      assert.equal(store.registry.checkpoint('f')?.position, 1, 'the unit before committed; the one that could not be sent did not');
    } finally {
      store.close();
    }
  });
});
