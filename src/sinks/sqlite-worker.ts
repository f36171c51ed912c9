/** Worker thread of SqliteWorkerSink: commits prepared units in the order they arrive. */
import { parentPort, workerData } from 'node:worker_threads';
import { Store } from '../store/store.js';
import type { WorkerReply, WorkerRequest } from './sqlite.js';

const store = new Store((workerData as { dbPath: string }).dbPath);
/** Set by the first failed unit: no later unit commits, so no checkpoint moves past it. */
let failure: string | undefined;
parentPort!.on('message', (req: WorkerRequest) => {
  let reply: WorkerReply;
  if (failure !== undefined) {
    reply = { id: req.id, error: `not stored: an earlier unit failed (${failure})` };
  } else {
    try {
      reply = { id: req.id, counts: store.writePrepared(req.unit, req.checkpoint) };
    } catch (err) {
      failure = (err as Error).message;
      reply = { id: req.id, error: failure };
    }
  }
  parentPort!.postMessage(reply);
});
