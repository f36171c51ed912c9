/** Worker thread of SqliteWorkerSink: commits prepared units in the order they arrive. */
import { parentPort, workerData } from 'node:worker_threads';
import { Store } from '../store/store.js';
import { CommitsInOrder, type WorkerReply, type WorkerRequest } from './sqlite.js';

const store = new Store((workerData as { dbPath: string }).dbPath);
const commits = new CommitsInOrder();
parentPort!.on('message', (req: WorkerRequest) => {
  let reply: WorkerReply;
  try {
    reply = { id: req.id, counts: commits.commit(() => store.writePrepared(req.unit, req.state)) };
  } catch (err) {
    reply = { id: req.id, error: (err as Error).message };
  }
  parentPort!.postMessage(reply);
});
