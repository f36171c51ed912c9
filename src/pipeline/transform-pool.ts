/**
 * Parse → classify → fingerprint → normalize on worker threads (`--workers N`), so that a backfill
 * is not held to one core. Each worker builds the same transformer from its plain spec; the driver
 * sends it a publication's framed batches and gets the processed parts back. Results come back in
 * whatever order the workers finish: the driver puts units back in publication order before the
 * sink sees them, so commit order and every guarantee are those of one thread.
 */
import { Worker } from 'node:worker_threads';
import type { DeadLetter, ProcessedEvent, Unit } from '../core/unit.js';
import type { EcsDocument } from '../normalize/ecs.js';
import type { DecodedBatch, DecodedItem } from '../decode/input.js';
import type { TransformSpec } from './transform.js';

/** A job for a worker: the batches of one publication, for the transformer of one feed. */
export interface TransformJob {
  readonly id: number;
  readonly feed?: string;
  readonly batches: readonly DecodedBatch[];
}

/** An event as it crosses back: its document as JSON text only (a string crosses far cheaper than an object tree). */
export type WireEvent = Omit<ProcessedEvent, 'doc'> & { readonly docJson: string };
export type WireUnit = Omit<Unit, 'events'> & { readonly events: WireEvent[] };

export type TransformReply = { readonly id: number; readonly parts: WireUnit[] } | { readonly id: number; readonly error: string };

/** The unit as it crosses to the driver: documents as JSON text, made on the worker. */
export function toWire(unit: Unit): WireUnit {
  return { ...unit, events: unit.events.map(({ doc, ...e }) => ({ ...e, docJson: JSON.stringify(doc) })) };
}

/** The unit back on the driver's side: each document is parsed only if a sink asks for the object. */
function fromWire(unit: WireUnit): Unit {
  const events = unit.events.map((e) => {
    let doc: EcsDocument | undefined;
    return Object.defineProperty(e, 'doc', { get: () => (doc ??= JSON.parse(e.docJson) as EcsDocument), enumerable: true }) as ProcessedEvent;
  });
  return { ...unit, events, deadLetters: withBuffers(unit.deadLetters) };
}

interface Pending {
  readonly resolve: (parts: Unit[]) => void;
  readonly reject: (err: Error) => void;
}

interface PoolWorker {
  readonly thread: Worker;
  readonly pending: Map<number, Pending>;
}

/** Bytes cross a thread as a Uint8Array: make them a Buffer again (sinks call Buffer methods on them). */
export function withBuffers<T extends DecodedItem | DeadLetter>(xs: readonly T[]): T[] {
  return xs.map((x) => {
    const raw: string | Uint8Array = x.raw;
    return typeof raw === 'string' || Buffer.isBuffer(raw) ? x : { ...x, raw: Buffer.from(raw.buffer, raw.byteOffset, raw.byteLength) };
  });
}

export class TransformPool {
  private readonly workers: PoolWorker[] = [];
  private nextId = 1;
  private failure: Error | undefined;

  constructor(spec: TransformSpec, size: number) {
    for (let i = 0; i < size; i++) {
      const thread = new Worker(new URL('./transform-worker.js', import.meta.url), { workerData: spec });
      const worker: PoolWorker = { thread, pending: new Map() };
      thread.on('message', (reply: TransformReply) => this.settle(worker, reply));
      thread.on('error', (err) => this.fail(err));
      thread.on('exit', (code) => {
        if (worker.pending.size > 0) this.fail(new Error(`transform worker exited (${code}) with ${worker.pending.size} units in hand`));
      });
      this.workers.push(worker);
    }
  }

  get size(): number {
    return this.workers.length;
  }

  /** Processes one publication's batches on the least busy worker. */
  transform(feed: string | undefined, batches: readonly DecodedBatch[]): Promise<Unit[]> {
    if (this.failure) return Promise.reject(this.failure);
    const worker = this.workers.reduce((a, b) => (b.pending.size < a.pending.size ? b : a));
    const id = this.nextId++;
    return new Promise<Unit[]>((resolve, reject) => {
      worker.pending.set(id, { resolve, reject });
      worker.thread.postMessage({ id, feed, batches } satisfies TransformJob);
    });
  }

  async close(): Promise<void> {
    await Promise.all(this.workers.map((w) => w.thread.terminate()));
  }

  private settle(worker: PoolWorker, reply: TransformReply): void {
    const pending = worker.pending.get(reply.id);
    if (!pending) return;
    worker.pending.delete(reply.id);
    if ('error' in reply) pending.reject(new Error(`transform worker: ${reply.error}`));
    else pending.resolve(reply.parts.map(fromWire));
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
