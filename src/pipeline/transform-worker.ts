/** A transform worker thread (see transform-pool.ts): builds the transformer from its spec, then processes jobs. */
import { parentPort, workerData } from 'node:worker_threads';
import type { TransformJob, TransformReply } from './transform-pool.js';
import { batchFromWire, toWire, transferred } from './wire.js';
import { Transformer, type TransformSpec } from './transform.js';

const transformer = Transformer.fromSpec(workerData as TransformSpec);

parentPort!.on('message', (job: TransformJob) => {
  let reply: TransformReply;
  let transfer: ArrayBuffer[] = [];
  try {
    const forFeed = transformer.forFeed(job.feed);
    reply = {
      id: job.id,
      parts: job.batches.map((wire) => {
        const batch = batchFromWire(wire);
        return toWire(forFeed.process(batch, false, job.withCross), batch.items);
      }),
    };
    transfer = transferred(reply.parts);
  } catch (err) {
    // Transformer.process guards each record; only a fault of the worker itself lands here.
    reply = { id: job.id, error: err instanceof Error ? err.message : String(err) };
  }
  parentPort!.postMessage(reply, transfer);
});
