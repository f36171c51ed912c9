/**
 * The sink for destinations outside the store: each unit goes to every destination at once,
 * and its bookkeeping and checkpoint commit to the local store only when every destination has
 * given every event an outcome (sinks/destination.ts), in unit order. A destination that is down
 * holds the checkpoint for all of them (and says so): a unit is never skipped for the others.
 * With `keepEvents` the store is a destination too: the unit's events commit in that same
 * transaction.
 *
 * Before a unit goes anywhere, the events that are copies, through the other Mimecast API, of
 * events already delivered are taken out (store/cross-version.ts): one decision for every
 * destination, recorded with the unit's checkpoint and counted as duplicates.
 */
import { setTimeout as nextTurn } from 'node:timers/promises';
import type { SinkCounts } from '../core/counts.js';
import type { SourceState, Sink } from '../core/sink.js';
import type { Unit } from '../core/unit.js';
import type { Logger } from '../log/logger.js';
import { PendingCrossRows, withoutCopies } from '../store/cross-version.js';
import { type PreparedUnit, prepareUnit } from '../store/prepared.js';
import type { NamedReport, Store } from '../store/store.js';
import type { CrossRow } from '../store/cross-version.js';
import type { Destination, DestinationReport } from './destination.js';

export interface DeliveringSinkOptions {
  /** The store keeps the events too (`sink:` lists `sqlite`). */
  readonly keepEvents: boolean;
  /** How long a unit may wait for a destination before each warning that it holds the checkpoint. */
  readonly holdWarningMs?: number;
  /**
   * Runs just before a unit's bookkeeping commits, after every destination reported; a rejection
   * fails the commit (and every later one). `mimelog run` with `cluster:` writes the checkpoint to
   * the engine there, under the source's lease (src/service/replica.ts, leaseFence).
   */
  readonly beforeCommit?: CommitFence;
}

/** See DeliveringSinkOptions.beforeCommit: the unit, its state, every destination's report and how many copies (cross-version) were not sent. */
export type CommitFence = (unit: PreparedUnit, state: SourceState | undefined, reports: readonly NamedReport[], copies: number) => Promise<void>;

export class DeliveringSink implements Sink {
  /** The last unit's commit: the next commits after it, so checkpoints move in order and stop at the first failure. */
  private committed: Promise<unknown> = Promise.resolve();
  /** Cross-version rows of units sent but not committed yet: the next unit's decisions count them. */
  private readonly pendingCross = new PendingCrossRows();
  private closedDestinations: Promise<unknown> | undefined;

  constructor(
    private readonly store: Store,
    readonly destinations: readonly Destination[],
    private readonly options: DeliveringSinkOptions,
    private readonly log: Logger,
  ) {}

  write(unit: Unit, state?: SourceState): Promise<SinkCounts> {
    const cross = withoutCopies(this.store.crossVersion, this.pendingCross, unit);
    // Named by the unit as read (idSpan), not by what is left once copies seen through the other API are taken out.
    const bookkeeping = prepareUnit(cross.unit, { events: this.options.keepEvents, asRead: unit });
    const delivered = this.deliverEverywhere(cross.unit);
    const commit = Promise.all([this.committed, delivered])
      .then(async ([, reports]) => {
        // Not in the microtasks of the answer that ended the delivery: undici writes a kept-alive
        // connection's next request only at the end of this turn of the event loop, and a commit
        // run before that (SQLite, synchronous) would leave the engine with a request less meanwhile.
        await nextTurn(0);
        await this.options.beforeCommit?.(bookkeeping, state, reports, cross.copies);
        return this.store.recordDeliveries(bookkeeping, reports, state, { rows: rowsOfDelivered(cross.unit, cross.rows, reports), copies: cross.copies });
      })
      .finally(() => cross.rows.forEach((r) => this.pendingCross.remove(r)));
    this.committed = commit;
    return commit;
  }

  /**
   * A new run of the one source that writes here, after its last run failed: the units of that run
   * still settle first (those after a failed one never commit), but a failure no longer fails the
   * units written from now on; they commit in order from the checkpoint the source starts again
   * from. Without it a sink whose fence once failed for a passing reason (an engine answering 503)
   * failed every later run of its source, under a lease it went on renewing.
   */
  restart(): void {
    this.committed = this.committed.catch(() => undefined);
  }

  async close(): Promise<void> {
    await this.committed.catch(() => undefined);
    await this.closeDestinations();
  }

  /**
   * Closes every destination now (once): deliveries still waiting for an acknowledgement reject,
   * so their units are not committed and the run can stop (SIGTERM while a destination hangs).
   */
  async closeDestinations(): Promise<void> {
    this.closedDestinations ??= Promise.all(this.destinations.map((d) => d.close()));
    await this.closedDestinations;
  }

  /** The report with its dead letters' reasons masked: a receiver may echo a token or password in its refusal, and the store keeps reasons for good. */
  private masked(report: DestinationReport): DestinationReport {
    if (report.rejected.length === 0) return report;
    return { ...report, rejected: report.rejected.map((d) => ({ ...d, reason: this.log.redact(d.reason) })) };
  }

  /** Every destination's report for the unit; warns while some have answered and others still hold it. */
  private async deliverEverywhere(unit: Unit): Promise<NamedReport[]> {
    const waiting = new Set(this.destinations.map((d) => d.name));
    const deliveries = this.destinations.map(async (d) => {
      const report = await d.deliver(unit);
      waiting.delete(d.name);
      return { destination: d.name, report: this.masked(report) };
    });
    // One destination alone holds only its own data back (it says why as it retries); with the
    // store or others beside it, the data they already took waits for it too: say so.
    if (this.destinations.length + (this.options.keepEvents ? 1 : 0) < 2) return Promise.all(deliveries);
    const startedAt = Date.now();
    const timer = setInterval(() => {
      if (waiting.size === 0) return;
      this.log.warn('checkpoint held: waiting for a destination', {
        source: unit.source, position: unit.position, waiting_for: [...waiting], waited_s: Math.round((Date.now() - startedAt) / 1000),
      });
    }, this.options.holdWarningMs ?? 30_000);
    timer.unref();
    try {
      return await Promise.all(deliveries);
    } finally {
      clearInterval(timer);
    }
  }
}

/**
 * The cross-version rows to record: not those of events a destination refused. A refused event
 * is a dead letter, to be replayed; had its row been recorded, the replay would take it for a
 * copy of itself and deliver it nowhere.
 */
function rowsOfDelivered(unit: Unit, rows: readonly CrossRow[], reports: readonly NamedReport[]): readonly CrossRow[] {
  const refusedAt = new Set(reports.flatMap((r) => r.report.rejected.map((d) => d.position)));
  if (refusedAt.size === 0) return rows;
  const refused = new Set(unit.events.filter((e) => refusedAt.has(e.position)).map((e) => e.id));
  return rows.filter((r) => !refused.has(r.id));
}
