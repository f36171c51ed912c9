/** Worker thread of SqliteWorkerSink: commits prepared units in the order they arrive. */
import { parentPort, workerData } from 'node:worker_threads';
import { Store } from '../store/store.js';
import type { WorkerReply, WorkerRequest } from './sqlite.js';

const store = new Store((workerData as { dbPath: string }).dbPath);
parentPort!.on('message', (req: WorkerRequest) => {
  let reply: WorkerReply;
  try {
    reply = { id: req.id, counts: store.writePrepared(req.unit, req.checkpoint) };
  } catch (err) {
    reply = { id: req.id, error: (err as Error).message };
  }
  parentPort!.postMessage(reply);
});
