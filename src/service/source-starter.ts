/** What `mimelog run` needs of each source and what it reports of them (its own module: the runner and the replica both use them). */
import type { Sink } from '../core/sink.js';
import type { Logger } from '../log/logger.js';
import type { RunSummary } from '../pipeline/summary.js';
import type { Store } from '../store/store.js';
import type { ApiObserver } from '../util/backoff.js';
import type { SpoolObserver } from '../sources/spool.js';

/** What the runner needs of one source; the command line builds these (from `collect`'s code). */
export interface SourceStarter {
  readonly name: string;
  readonly kind: string;
  /** Its checkpoint names in the store (one per API 2.0 batch type), for health and metrics. */
  readonly checkpointNames: readonly string[];
  /** The Mimecast account it reads, stamped on its events (`organization.name`) and grouping its leases with cluster:. */
  readonly tenant?: string;
  /** Which Mimecast account it reads (a digest of its URL and credential id): sources of one account share a lease with cluster:. */
  readonly account?: string;
  /** Runs the source until caught up (`once`) or `stop`; rejects when it fails. */
  start(deps: { readonly sink: Sink; readonly store: Store; readonly log: Logger; readonly stop: AbortSignal; readonly observe: ApiObserver & SpoolObserver }): Promise<RunSummary>;
}

export interface ServiceResult {
  /** Per source: how its last run ended. */
  readonly sources: { name: string; stored: number; duplicates: number; collisions: number; dead_letters: number; gaps: number; failure?: string }[];
}
