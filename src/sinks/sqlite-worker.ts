/**
 * Worker thread of SqliteWorkerSink: commits prepared units in the order they arrive. The units
 * waiting when it is free commit in one transaction (at most TOGETHER): each still with its own
 * checkpoint, all or none stored, each answered only once that transaction committed.
 */
import { parentPort, receiveMessageOnPort, workerData } from 'node:worker_threads';
import { Store } from '../store/store.js';
import { CommitsInOrder, type WorkerReply, type WorkerRequest } from './sqlite.js';

/** Units committed together at most: the writer is the bound while several wait, and one commit writes a page they share once. */
const TOGETHER = 8;

const store = new Store((workerData as { dbPath: string }).dbPath);
const commits = new CommitsInOrder();
const port = parentPort!;
port.on('message', (first: WorkerRequest) => {
  const requests = [first];
  for (let next; requests.length < TOGETHER && (next = receiveMessageOnPort(port)); ) requests.push(next.message as WorkerRequest);
  let replies: WorkerReply[];
  try {
    const counts = commits.commit(() => store.writePreparedTogether(requests));
    replies = requests.map((r, i) => ({ id: r.id, counts: counts[i]! }));
  } catch (err) {
    replies = requests.map((r) => ({ id: r.id, error: (err as Error).message }));
  }
  for (const reply of replies) port.postMessage(reply);
});
