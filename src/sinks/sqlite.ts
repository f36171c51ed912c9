/**
 * The embedded SQLite store as a sink. Each unit is one transaction (see store/store.ts).
 *
 * `SqliteSink` writes in-process. `SqliteWorkerSink` turns units into rows on the calling thread
 * and commits them on a worker thread, so decoding the next unit overlaps the commit of the
 * last one (two cores: about twice the rate). Commits stay in unit order; a unit counts as
 * written only when the worker reports its transaction committed.
 */
import { Worker } from 'node:worker_threads';
import type { SinkCounts } from '../core/counts.js';
import type { Unit } from '../core/unit.js';
import { type PreparedUnit, prepareUnit } from '../store/prepared.js';
import type { Store } from '../store/store.js';
import type { SourceState, Sink } from '../core/sink.js';

/**
 * The Sink contract's rule for a store's commits: once one fails, no later one runs, so no
 * checkpoint moves past a unit that was not stored. Both the in-process sink and the worker use it.
 */
/**
 * The writer thread's objects live for one unit (its rows are in SQLite once it commits), so a
 * small young generation costs no time; V8's default room only holds garbage longer.
 */
const WRITER_YOUNG_GENERATION_MB = 8;

export class CommitsInOrder {
  private failure: string | undefined;

  /** True once a unit failed: every later one is refused. */
  get failed(): boolean {
    return this.failure !== undefined;
  }

  commit<T>(write: () => T): T {
    if (this.failure !== undefined) throw new Error(`not stored: an earlier unit failed (${this.failure})`);
    try {
      return write();
    } catch (err) {
      this.failure = (err as Error).message;
      throw err;
    }
  }
}

export class SqliteSink implements Sink {
  private readonly commits = new CommitsInOrder();

  constructor(private readonly store: Store) {}

  async write(unit: Unit, state?: SourceState): Promise<SinkCounts> {
    return this.commits.commit(() => this.store.writeUnit(unit, state));
  }

  async close(): Promise<void> {
    // The store's owner closes it; it may still be queried after the run.
  }
}

export interface WorkerRequest {
  readonly id: number;
  readonly unit: PreparedUnit;
  readonly state?: SourceState;
}

export type WorkerReply = { id: number; counts: SinkCounts } | { id: number; error: string };

export class SqliteWorkerSink implements Sink {
  private readonly worker: Worker;
  private readonly pending = new Map<number, { resolve: (c: SinkCounts) => void; reject: (e: Error) => void }>();
  private next = 0;
  private failure: Error | undefined;

  constructor(dbPath: string) {
    this.worker = new Worker(new URL('./sqlite-worker.js', import.meta.url), { workerData: { dbPath }, resourceLimits: { maxYoungGenerationSizeMb: WRITER_YOUNG_GENERATION_MB } });
    this.worker.on('message', (reply: WorkerReply) => {
      const waiter = this.pending.get(reply.id);
      this.pending.delete(reply.id);
      if ('error' in reply) waiter?.reject(new Error(reply.error));
      else waiter?.resolve(reply.counts);
    });
    this.worker.on('error', (err) => this.fail(err));
    this.worker.on('exit', (code) => {
      if (this.pending.size > 0) this.fail(new Error(`store worker exited (${code}) with ${this.pending.size} units unwritten`));
    });
  }

  private fail(err: Error): void {
    this.failure = err;
    for (const w of this.pending.values()) w.reject(err);
    this.pending.clear();
  }

  write(unit: Unit, state?: SourceState): Promise<SinkCounts> {
    if (this.failure) return Promise.reject(this.failure);
    const id = this.next++;
    const request: WorkerRequest = { id, unit: prepareUnit(unit), state };
    return new Promise((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      this.worker.postMessage(request);
    });
  }

  async close(): Promise<void> {
    await this.worker.terminate();
  }
}
