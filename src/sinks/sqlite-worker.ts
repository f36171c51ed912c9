/**
 * Worker thread of SqliteWorkerSink: commits prepared units in the order they arrive. The units
 * waiting when it is free commit in one transaction (at most TOGETHER): each still with its own
 * checkpoint, all or none stored, each answered only once that transaction committed. When that
 * transaction fails, they are committed one by one: a unit that cannot be stored fails alone (and the
 * units after it, CommitsInOrder), the ones before it are stored.
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
  for (const reply of commitTogether(requests) ?? requests.map(commitAlone)) port.postMessage(reply);
});

/** The units in one transaction; undefined when that failed (nothing of them stored). */
function commitTogether(requests: readonly WorkerRequest[]): WorkerReply[] | undefined {
  if (requests.length < 2 || commits.failed) return undefined;
  try {
    const counts = store.writePreparedTogether(requests);
    return requests.map((r, i) => ({ id: r.id, counts: counts[i]! }));
  } catch {
    // One of them cannot be stored: each alone, so the units before it are stored and answered as before.
    return undefined;
  }
}

function commitAlone(request: WorkerRequest): WorkerReply {
  try {
    return { id: request.id, counts: commits.commit(() => store.writePrepared(request.unit, request.state)) };
  } catch (err) {
    return { id: request.id, error: (err as Error).message };
  }
}
