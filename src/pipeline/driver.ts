/**
 * The one driver of the middle of the journey, for every source: a source publishes decoded
 * records with the state they move to (core/publish.ts); the driver classifies, fingerprints and
 * normalizes them (Transformer, on worker threads with `workers` > 1), counts them, hands the unit
 * and its state to the sink, and counts the sink's acknowledgement. Units overlap: while some are
 * processed and one commits, the source fetches and decodes the next (AckWindow). Units reach the
 * sink in publication order whatever order the workers finish in, so a state never commits before
 * the units published ahead of it.
 */
import type { Sink, SourceKind } from '../core/sink.js';
import type { Publication, Publisher } from '../core/publish.js';
import type { Unit } from '../core/unit.js';
import type { DecodedBatch } from '../decode/input.js';
import { AckWindow } from './ack-window.js';
import { RunSummary } from './summary.js';
import { QUEUED_PER_WORKER, TransformPool } from './transform-pool.js';
import type { Transformer } from './transform.js';

export interface DriverOptions {
  /** What kind of source the driver runs: every state it publishes is of this kind. */
  readonly kind: SourceKind;
  /** Called after each unit is acknowledged (progress display). */
  readonly onUnit?: (unit: Unit, summary: RunSummary) => void;
  /** Counts into this summary (a source that runs many passes keeps one); default: a new one. */
  readonly summary?: RunSummary;
  /**
   * Threads that process records: 1 processes them on the calling thread; N > 1 on this thread
   * and N − 1 worker threads (only for a transformer built from a spec). Default 1.
   */
  readonly workers?: number;
}

/**
 * The default of `--workers`. When events go into the embedded store, every core but one: the
 * store's writer thread needs that core (on 2 cores a second worker made ingest slower). Else
 * every core: the driver's thread is one of them (it processes units whenever the workers have
 * enough in hand), so there is one busy thread per core.
 */
export function defaultWorkers(cores: number, storeThread = true): number {
  return Math.max(1, storeThread ? cores - 1 : cores);
}

/** Units the driver's thread may finish ahead of the oldest unit a worker still holds. */
const RUN_AHEAD = 6;

export class Driver implements Publisher {
  readonly summary: RunSummary;
  private readonly window: AckWindow;
  /** The worker threads (one fewer than the threads that process records), while `run` runs (publications outside a run are processed here). */
  private pool: TransformPool | undefined;
  /** The sink reads only the documents' text (see Transformer.process keepDocuments, withCross). */
  private readonly textOnly: boolean;
  /** Settles when the last unit published was handed to the sink; rejects once one could not be. */
  private sinkTurn: Promise<void> = Promise.resolve();

  constructor(
    private readonly transformer: Transformer,
    private readonly sink: Sink,
    private readonly options: DriverOptions,
  ) {
    this.summary = options.summary ?? new RunSummary();
    this.textOnly = (sink as { readonly documentsAsText?: boolean }).documentsAsText === true;
    // With workers: each worker's units in hand, and up to RUN_AHEAD more that this thread
    // processes while an older worker unit is still in work (else, units being handed over in
    // publication order, this thread would wait for each worker unit in turn, idle whenever it is
    // the faster of the two; issue 31).
    this.window = new AckWindow(this.threads() > 1 ? QUEUED_PER_WORKER * (this.threads() - 1) + RUN_AHEAD : 2);
  }

  /** Threads that process records: worker threads only for a transformer that can be rebuilt from its spec. */
  private threads(): number {
    return this.transformer.spec ? Math.max(1, this.options.workers ?? 1) : 1;
  }

  /** Runs a source until it returns, then waits for every unit it published to be acknowledged. */
  async run<T>(source: (publisher: Publisher) => Promise<T>): Promise<T> {
    if (this.threads() > 1) this.pool ??= new TransformPool(this.transformer.spec!, this.threads() - 1);
    let result: T;
    try {
      try {
        result = await source(this);
      } finally {
        await this.window.settle();
      }
      await this.window.drain();
    } finally {
      await this.pool?.close();
      this.pool = undefined;
    }
    return result;
  }

  async publish(p: Publication): Promise<void> {
    const batches: readonly DecodedBatch[] = p.batch === undefined ? [] : 'items' in p.batch ? [p.batch] : p.batch;
    // A text-only sink reads neither the document objects nor the cross-version identities.
    // A worker takes the unit while it has fewer than two in hand (so it never waits while this
    // thread processes one); else this thread processes it. One busy thread per core, no more:
    // on 2 cores, two workers beside this thread cost 1.5 CPU-seconds more per 100k records.
    const parts = this.pool?.hasRoom() && batches.length > 0 ? this.pool.transform(p.feed, batches, !this.textOnly) : Promise.resolve(batches.map((b) => this.transformer.forFeed(p.feed).process(b, !this.textOnly, !this.textOnly)));
    parts.catch(() => undefined); // awaited in turn below; this only keeps an early failure from counting as unhandled
    // Handed to the sink in publication order; after a unit that could not be, no later one is.
    const handed = this.sinkTurn.then(async () => {
      const unit = this.assemble(p, await parts);
      const state = typeof p.checkpoint === 'function' ? p.checkpoint(unit) : p.checkpoint;
      if (state && state.kind !== this.options.kind) throw new Error(`a ${this.options.kind} source published a ${state.kind} state`);
      this.summary.countUnit(unit);
      if (p.endsInput) this.summary.inputs++;
      this.summary.gaps += state?.gaps?.length ?? 0;
      return { unit, acked: this.sink.write(unit, state) };
    });
    this.sinkTurn = handed.then(() => undefined);
    this.sinkTurn.catch(() => undefined); // the failure surfaces through the window, below
    await this.window.push(
      handed.then(async ({ unit, acked }) => {
        this.summary.addSink(await acked);
        this.options.onUnit?.(unit, this.summary);
      }),
    );
  }

  flush(): Promise<void> {
    return this.window.flush();
  }

  private assemble(p: Publication, parts: readonly Unit[]): Unit {
    return {
      source: p.source ?? parts[0]?.source ?? '',
      events: parts.length === 1 ? parts[0]!.events : parts.flatMap((u) => u.events),
      deadLetters: parts.length === 1 ? parts[0]!.deadLetters : parts.flatMap((u) => u.deadLetters),
      position: Math.max(0, p.minPosition ?? 0, ...parts.map((u) => u.position)),
      last: p.last,
    };
  }
}
