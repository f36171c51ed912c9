/** The worker pool's failures: a worker gone must fail the run, never leave a unit waiting forever. */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import type { Worker } from 'node:worker_threads';
import { type DecodedBatch, decodeBytes } from '../../src/decode/input.js';
import { TransformPool } from '../../src/pipeline/transform-pool.js';
import { SAMPLES } from '../support/helpers.js';

describe('transform pool', () => {
  it('a worker that exits with no unit in hand fails the units sent after it (before, they never settled: the run hung)', async () => {
    const batches: DecodedBatch[] = [];
    for await (const b of decodeBytes('s.kv', readFileSync(join(SAMPLES, 'understanding-siem-logs.kv')))) batches.push(b);
    const pool = new TransformPool({ keepOriginal: true, unknownTypes: 'store' }, 1);
    try {
      const units = await pool.transform(undefined, batches);
      assert.ok(units.reduce((n, u) => n + u.events.length, 0) > 0, 'the pool works before the worker goes');
      // The worker thread dies between units (an out-of-memory kill, a crash in native code).
      const thread = (pool as unknown as { workers: { thread: Worker }[] }).workers[0]!.thread;
      await thread.terminate();
      const outcome = await Promise.race([
        pool.transform(undefined, batches).then(() => 'resolved', (err: Error) => `rejected: ${err.message}`),
        new Promise<string>((resolve) => setTimeout(() => resolve('still waiting after 5 s'), 5_000).unref()),
      ]);
      assert.match(outcome, /^rejected: transform worker exited/);
    } finally {
      await pool.close();
    }
  });
});
