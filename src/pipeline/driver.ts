/**
 * The one driver of the middle of the journey, for every source: a source publishes decoded
 * records with the state they move to (core/publish.ts); the driver classifies, fingerprints and
 * normalizes them (Transformer), counts them, hands the unit and its state to the sink, and counts
 * the sink's acknowledgement. Units overlap: while one commits the next is fetched and decoded
 * (AckWindow), and commits stay in publication order, so a state never commits before the units
 * published ahead of it.
 */
import type { Sink, SourceKind } from '../core/sink.js';
import type { Publication, Publisher } from '../core/publish.js';
import type { Unit } from '../core/unit.js';
import type { DecodedBatch } from '../decode/input.js';
import { AckWindow } from './ack-window.js';
import { RunSummary } from './summary.js';
import type { Transformer } from './transform.js';

export interface DriverOptions {
  /** What kind of source the driver runs: recorded with each of its checkpoints. */
  readonly kind: SourceKind;
  /** Called after each unit is acknowledged (progress display). */
  readonly onUnit?: (unit: Unit, summary: RunSummary) => void;
  /** Counts into this summary (a source that runs many passes keeps one); default: a new one. */
  readonly summary?: RunSummary;
}

export class Driver implements Publisher {
  readonly summary: RunSummary;
  private readonly window = new AckWindow();
  private readonly byFeed = new Map<string, Transformer>();

  constructor(
    private readonly transformer: Transformer,
    private readonly sink: Sink,
    private readonly options: DriverOptions,
  ) {
    this.summary = options.summary ?? new RunSummary();
  }

  /** Runs a source until it returns, then waits for every unit it published to be acknowledged. */
  async run<T>(source: (publisher: Publisher) => Promise<T>): Promise<T> {
    let result: T;
    try {
      result = await source(this);
    } finally {
      await this.window.settle();
    }
    await this.window.drain();
    return result;
  }

  async publish(p: Publication): Promise<Unit> {
    const batches: readonly DecodedBatch[] = p.batch === undefined ? [] : 'items' in p.batch ? [p.batch] : p.batch;
    const transformer = this.transformerFor(p.feed);
    const parts = batches.map((b) => transformer.process(b));
    const unit: Unit = {
      source: p.source ?? parts[0]?.source ?? '',
      events: parts.length === 1 ? parts[0]!.events : parts.flatMap((u) => u.events),
      deadLetters: parts.length === 1 ? parts[0]!.deadLetters : parts.flatMap((u) => u.deadLetters),
      position: Math.max(0, p.minPosition ?? 0, ...parts.map((u) => u.position)),
      last: p.last,
    };
    const given = typeof p.checkpoint === 'function' ? p.checkpoint(unit) : p.checkpoint;
    const checkpoint = { ...given, kind: this.options.kind };
    this.summary.countUnit(unit);
    if (p.endsInput) this.summary.inputs++;
    this.summary.gaps += checkpoint.gaps?.length ?? 0;
    await this.window.push(
      this.sink.write(unit, checkpoint).then((counts) => {
        this.summary.addSink(counts);
        this.options.onUnit?.(unit, this.summary);
      }),
    );
    return unit;
  }

  flush(): Promise<void> {
    return this.window.flush();
  }

  private transformerFor(feed: string | undefined): Transformer {
    if (feed === undefined) return this.transformer;
    let t = this.byFeed.get(feed);
    if (!t) this.byFeed.set(feed, (t = this.transformer.forFeed(feed)));
    return t;
  }
}
