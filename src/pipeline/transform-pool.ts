/**
 * Parse → classify → fingerprint → normalize on worker threads (`--workers N`), so that a backfill
 * is not held to one core. Each worker builds the same transformer from its plain spec; the driver
 * sends it a publication's framed batches and gets the processed parts back. Results come back in
 * whatever order the workers finish: the driver puts units back in publication order before the
 * sink sees them, so commit order and every guarantee are those of one thread.
 */
import { Worker } from 'node:worker_threads';
import type { Unit } from '../core/unit.js';
import type { DecodedBatch } from '../decode/item.js';
import type { TransformSpec } from './transform.js';
import { type WireBatch, type WireUnit, batchToWire, fromWire } from './wire.js';

/** A job for a worker: the batches of one publication, for the transformer of one feed. */
export interface TransformJob {
  readonly id: number;
  readonly feed?: string;
  readonly batches: readonly WireBatch[];
  /** Events carry their cross-version identity (Transformer.process). */
  readonly withCross: boolean;
}

export type TransformReply = { readonly id: number; readonly parts: WireUnit[] } | { readonly id: number; readonly error: string };

interface Pending {
  readonly batches: readonly DecodedBatch[];
  readonly resolve: (parts: Unit[]) => void;
  readonly reject: (err: Error) => void;
}

interface PoolWorker {
  readonly thread: Worker;
  readonly pending: Map<number, Pending>;
}

/**
 * Young generation of each worker's heap (V8's default on 64 bits). A worker's objects die young,
 * but what a unit in work holds (its lines, records, events) survives a scavenge that comes before
 * its reply, and each scavenge copies it: with 12 MiB, one worker of `--workers 2` ran ~205
 * scavenges per 100k events, 0.55 s of its CPU; with 48 MiB ~66, 0.27 s (issue 31, round 6), for
 * about the same peak RSS (the documents now live in byte buffers outside the heap).
 */
const WORKER_YOUNG_GENERATION_MB = 48;

/** Units a worker holds at most when the driver's thread also processes units: one in work, one waiting. */
export const QUEUED_PER_WORKER = 2;

/** Where a unit's batches came from, for an error about the unit: its input and its items' positions. */
function unitName(batches: readonly DecodedBatch[]): string {
  let first = Infinity;
  let last = -Infinity;
  for (const b of batches) for (const i of b.items) [first, last] = [Math.min(first, i.position), Math.max(last, i.position)];
  const sources = [...new Set(batches.map((b) => b.source))].join(', ');
  return first > last ? `the unit of ${sources}` : `the unit of ${sources} (items ${first}–${last})`;
}

export class TransformPool {
  private readonly workers: PoolWorker[] = [];
  private nextId = 1;
  private failure: Error | undefined;
  private closing = false;

  constructor(spec: TransformSpec, size: number) {
    for (let i = 0; i < size; i++) {
      const thread = new Worker(new URL('./transform-worker.js', import.meta.url), { workerData: spec, resourceLimits: { maxYoungGenerationSizeMb: WORKER_YOUNG_GENERATION_MB } });
      const worker: PoolWorker = { thread, pending: new Map() };
      thread.on('message', (reply: TransformReply) => this.settle(worker, reply));
      thread.on('error', (err) => this.fail(err));
      // A worker that exits before close() fails the pool even with nothing in hand: a later unit
      // sent to it would never settle, and the run would wait for it forever.
      thread.on('exit', (code) => {
        if (!this.closing) this.fail(new Error(`transform worker exited (${code}) with ${worker.pending.size} units in hand`));
      });
      this.workers.push(worker);
    }
  }

  get size(): number {
    return this.workers.length;
  }

  /** Whether a worker has fewer than `QUEUED_PER_WORKER` units in hand (a failed pool always has room: its failure must surface). */
  hasRoom(): boolean {
    return this.failure !== undefined || this.workers.some((w) => w.pending.size < QUEUED_PER_WORKER);
  }

  /** Processes one publication's batches on the least busy worker. */
  transform(feed: string | undefined, batches: readonly DecodedBatch[], withCross = true): Promise<Unit[]> {
    if (this.failure) return Promise.reject(this.failure);
    const worker = this.workers.reduce((a, b) => (b.pending.size < a.pending.size ? b : a));
    const id = this.nextId++;
    return new Promise<Unit[]>((resolve, reject) => {
      worker.pending.set(id, { batches, resolve, reject });
      try {
        worker.thread.postMessage({ id, feed, batches: batches.map(batchToWire), withCross } satisfies TransformJob);
      } catch (err) {
        // Never sent (a value no structured clone takes): the unit fails alone and
        // its worker holds nothing for it, else the pool would count it busy with a unit it never got.
        worker.pending.delete(id);
        reject(new Error(`transform pool: ${unitName(batches)} could not be sent to a worker: ${(err as Error).message}`));
      }
    });
  }

  async close(): Promise<void> {
    this.closing = true;
    await Promise.all(this.workers.map((w) => w.thread.terminate()));
  }

  private settle(worker: PoolWorker, reply: TransformReply): void {
    const pending = worker.pending.get(reply.id);
    if (!pending) return;
    worker.pending.delete(reply.id);
    if ('error' in reply) pending.reject(new Error(`transform worker: ${reply.error}`));
    else pending.resolve(reply.parts.map((part, i) => fromWire(part, pending.batches[i]!.items)));
  }

  /** A worker that fails fails every unit it holds, and every later one: the run stops, no checkpoint passes them. */
  private fail(err: Error): void {
    this.failure ??= err;
    for (const w of this.workers) {
      for (const p of w.pending.values()) p.reject(this.failure);
      w.pending.clear();
    }
  }
}
