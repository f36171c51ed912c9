/**
 * `mimelog run`'s Prometheus metrics (prom-client). Counters move as each source's units are
 * acknowledged by the sink (a sink wrapper counts them); gauges are read from the store at
 * scrape time, so they say what is stored, not what a process remembers.
 */
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import type { SinkCounts } from '../core/counts.js';
import type { SourceState, Sink } from '../core/sink.js';
import type { Unit } from '../core/unit.js';
import type { Store } from '../store/store.js';
import type { ApiObserver } from '../util/backoff.js';
import type { SpoolObserver } from '../sources/spool.js';
import type { SourceHealth } from './health.js';
import type { ClusterView } from './replica.js';

export class ServiceMetrics {
  readonly registry = new Registry();
  private readonly records: Counter<'source' | 'log_type'>;
  private readonly outcomes: Counter<'source' | 'outcome'>;
  private readonly sinkSeconds: Histogram<'source'>;
  private readonly apiCalls: Counter<'source' | 'endpoint' | 'outcome'>;
  private readonly apiRetries: Counter<'source' | 'endpoint'>;
  private readonly rateLimitLeft: Gauge<'source'>;
  private readonly spoolRefused: Counter<'source' | 'reason'>;

  /** The sources' health, read once per scrape and shared by every gauge below. */
  private snapshot: readonly SourceHealth[] = [];

  constructor(
    store: Store,
    private readonly health: () => readonly SourceHealth[],
  ) {
    const registers = [this.registry];
    const current = () => this.snapshot;
    collectDefaultMetrics({ register: this.registry, prefix: 'mimelog_' });
    this.records = new Counter({ name: 'mimelog_records_read_total', help: 'Records read, per source and log type (dead letters as log_type "dead_letter")', labelNames: ['source', 'log_type'], registers });
    this.outcomes = new Counter({ name: 'mimelog_records_total', help: 'Records acknowledged by the sink, per source and outcome (stored, duplicate, collision, dead_letter)', labelNames: ['source', 'outcome'], registers });
    this.sinkSeconds = new Histogram({ name: 'mimelog_sink_write_seconds', help: 'Time from handing a unit to the sink to its acknowledgement', labelNames: ['source'], buckets: [0.005, 0.02, 0.1, 0.5, 2, 10, 60], registers });
    this.apiCalls = new Counter({ name: 'mimelog_api_calls_total', help: 'Mimecast API calls per source, endpoint and outcome (HTTP status or network_error)', labelNames: ['source', 'endpoint', 'outcome'], registers });
    this.apiRetries = new Counter({ name: 'mimelog_api_retries_total', help: 'Mimecast API calls retried, per source and endpoint', labelNames: ['source', 'endpoint'], registers });
    this.spoolRefused = new Counter({ name: 'mimelog_spool_refused_total', help: 'Spool entries refused (a link out of the spool, a hard link, a FIFO, a socket, a device, unreadable), once per path and reason', labelNames: ['source', 'reason'], registers });
    this.rateLimitLeft = new Gauge({ name: 'mimelog_api_rate_limit_remaining', help: 'Calls left in the current rate-limit window, as Mimecast last said (X-RateLimit-Remaining)', labelNames: ['source'], registers });
    new Gauge({
      name: 'mimelog_store_events', help: 'Events in the embedded store, per log type (what `stats` counts)', labelNames: ['log_type'], registers,
      collect() {
        this.reset();
        for (const r of store.db.prepare('SELECT log_type, sum(events) AS n FROM event_counts GROUP BY log_type').all() as { log_type: string; n: number }[]) this.set({ log_type: r.log_type }, r.n);
      },
    });
    new Gauge({
      name: 'mimelog_store_retention_removed', help: 'Events removed from the store by retention (retain_days), ever', registers,
      collect() {
        this.set(store.registry.counter('retention_removed'));
      },
    });
    new Gauge({
      name: 'mimelog_store_dead_letters', help: 'Dead letters kept in the store, waiting for replay', registers,
      collect() {
        this.set((store.db.prepare('SELECT count(*) AS n FROM dead_letters').get() as { n: number }).n);
      },
    });
    new Gauge({
      name: 'mimelog_destination_events', help: 'Per destination outside the store, events it acknowledged, recognised as held (duplicate, collision), refused (dead-lettered) and had sent again (resent), ever: moved with the checkpoints', labelNames: ['destination', 'outcome'], registers,
      collect() {
        this.reset();
        for (const d of store.registry.destinations()) {
          for (const outcome of ['acknowledged', 'duplicates', 'collisions', 'refused', 'resent'] as const) this.set({ destination: d.destination, outcome }, d[outcome]);
        }
      },
    });
    const perCheckpoint = (metric: string, help: string, value: (h: SourceHealth['checkpoints'][number]) => number | undefined) => new Gauge({
      name: metric, help, labelNames: ['source', 'checkpoint'], registers,
      collect() {
        this.reset();
        for (const s of current()) for (const c of s.checkpoints) {
          const v = value(c);
          if (v !== undefined) this.set({ source: s.name, checkpoint: c.name }, v);
        }
      },
    });
    perCheckpoint('mimelog_checkpoint_age_seconds', 'Time since the checkpoint last moved', (c) => c.age_seconds);
    perCheckpoint('mimelog_horizon_headroom_seconds', "The feed's horizon minus the checkpoint's age: how long until uncollected data ages out at Mimecast", (c) => c.headroom_seconds);
    perCheckpoint('mimelog_lag_seconds', 'Now minus the newest believable event time stored through this checkpoint (absent when none is)', (c) => c.lag_seconds ?? undefined);
    perCheckpoint('mimelog_caught_up', 'Per checkpoint, 1 when its last pass reached the newest data Mimecast had (what `stats` calls caught up), else 0', (c) => (c.caught_up ? 1 : 0));
    perCheckpoint('mimelog_untrusted_time_events', 'Events read whose own time lay after now + 5 min or before 2000: stored, but used for no cursor, gap bound or lag', (c) => c.untrusted_time_events);
    perCheckpoint('mimelog_work_items_pending', 'API 2.0 batch files listed but not yet stored', (c) => c.pending);
    new Gauge({
      name: 'mimelog_source_state', help: 'Per source, 1 for its current state (ok, degraded, failing, starting, stopped)', labelNames: ['source', 'state'], registers,
      collect() {
        this.reset();
        for (const s of current()) for (const state of ['ok', 'degraded', 'failing', 'starting', 'stopped']) this.set({ source: s.name, state }, s.state === state ? 1 : 0);
      },
    });
    new Gauge({
      name: 'mimelog_gaps', help: 'Intervals recorded as lost at Mimecast (aged out before collected), per source', labelNames: ['source'], registers,
      collect() {
        this.reset();
        for (const s of current()) this.set({ source: s.name }, s.gaps);
      },
    });
    new Gauge({
      name: 'mimelog_gap_seconds', help: 'Length of the recorded gaps, summed, per source', labelNames: ['source'], registers,
      collect() {
        this.reset();
        for (const s of current()) this.set({ source: s.name }, s.lost_seconds);
      },
    });
    new Gauge({
      name: 'mimelog_source_restarts', help: 'Times a source was started again after it failed', labelNames: ['source'], registers,
      collect() {
        this.reset();
        for (const s of current()) this.set({ source: s.name }, s.restarts);
      },
    });
  }

  /** With cluster:, the leases this replica holds and what happened to leases since it started. */
  watchCluster(view: () => ClusterView): void {
    const registers = [this.registry];
    new Gauge({
      name: 'mimelog_lease_age_seconds', help: 'Per source this replica holds: time since its lease was last written (renewed or a checkpoint moved)', labelNames: ['source'], registers,
      collect() {
        this.reset();
        for (const l of view().leases) this.set({ source: l.source }, l.age_ms / 1000);
      },
    });
    new Gauge({
      name: 'mimelog_lease_epoch', help: 'Per source this replica holds: its lease epoch (grows with every claim, by any replica)', labelNames: ['source'], registers,
      collect() {
        this.reset();
        for (const l of view().leases) this.set({ source: l.source }, l.epoch);
      },
    });
    new Gauge({
      name: 'mimelog_cluster_live_replicas', help: 'Replicas this one counts as live (itself included)', registers,
      collect() {
        this.set(view().live_replicas);
      },
    });
    new Gauge({
      name: 'mimelog_lease_events', help: 'Leases this replica claimed, took over from another (handover), released and lost, since it started', labelNames: ['event'], registers,
      collect() {
        const v = view();
        for (const event of ['claimed', 'handovers', 'released', 'lost'] as const) this.set({ event }, v[event]);
      },
    });
  }

  /** The text Prometheus scrapes. */
  async text(): Promise<string> {
    this.snapshot = this.health();
    return this.registry.metrics();
  }

  /** Counts one source's API calls, retries and rate budget, and a spool's refusals. */
  apiObserver(source: string): ApiObserver & SpoolObserver {
    return {
      call: (endpoint, outcome) => this.apiCalls.inc({ source, endpoint, outcome }),
      retry: (endpoint) => this.apiRetries.inc({ source, endpoint }),
      rateLimitRemaining: (remaining) => this.rateLimitLeft.set({ source }, remaining),
      refused: (reason) => this.spoolRefused.inc({ source, reason }),
    };
  }

  /** Wraps the shared sink for one source, counting what it reads and what the sink acknowledges. */
  countingSink(source: string, inner: Sink): Sink {
    return {
      write: async (unit: Unit, state?: SourceState): Promise<SinkCounts> => {
        for (const e of unit.events) this.records.inc({ source, log_type: e.classification.logType });
        if (unit.deadLetters.length) this.records.inc({ source, log_type: 'dead_letter' }, unit.deadLetters.length);
        const end = this.sinkSeconds.startTimer({ source });
        const counts = await inner.write(unit, state);
        end();
        for (const [outcome, n] of [['stored', counts.stored], ['duplicate', counts.duplicates], ['collision', counts.collisions], ['dead_letter', counts.deadLetters]] as const) {
          if (n > 0) this.outcomes.inc({ source, outcome }, n);
        }
        return counts;
      },
      close: () => Promise.resolve(), // the service closes the shared sink once
    };
  }
}
