/**
 * The console's overview for a cluster (`mimelog console --config run.yaml` with `cluster:`): the
 * sources, their counts, checkpoints, completeness and headroom come from the state index, every
 * replica's (src/cluster/books-report.ts); what only a store holds (events per hour and type,
 * search, trace, who) stays the local store's.
 */
import type { ClusterSourceRow, ClusterStats } from '../cluster/books-report.js';
import { horizonOf } from '../mimecast/horizons.js';
import { API_STREAMS_SHOWN, CHECKPOINTS_SHOWN, HEADROOM_SHOWN, type Overview, type SourceHeadroom } from '../store/overview.js';

export interface ClusterOverview {
  readonly state_index: string;
  readonly sources: readonly ClusterSourceRow[];
  /** Values in the state index that were not believed (left out of the counts). */
  readonly problems: readonly string[];
}

export type OverviewWithCluster = Overview & { readonly cluster?: ClusterOverview };

const HOUR_MS = 3_600_000;

/** The local overview with every figure the state index holds taken from it instead. */
export function withCluster(local: Overview, c: ClusterStats, now = Date.now()): OverviewWithCluster {
  const streams = [...c.api_streams].sort((a, b) => Number(a.caught_up) - Number(b.caught_up) || (b.lag_seconds ?? -1) - (a.lag_seconds ?? -1) || a.stream.localeCompare(b.stream));
  const headroom: SourceHeadroom[] = [];
  for (const cp of c.checkpoints) {
    const h = horizonOf(cp.source);
    const moved = Date.parse(cp.updated_at);
    if (!h || !Number.isFinite(moved)) continue;
    const age = Math.max(0, now - moved);
    headroom.push({ source: cp.source, feed: h.feed, horizon_hours: h.horizonMs / HOUR_MS, checkpoint_age_seconds: Math.round(age / 1000), headroom_seconds: Math.round((h.horizonMs - age) / 1000) });
  }
  headroom.sort((a, b) => a.headroom_seconds - b.headroom_seconds || a.source.localeCompare(b.source));
  const kinds = [...new Set(c.api_streams.map((a) => a.kind))].sort();
  const times = (kind: string) => c.api_streams.filter((a) => a.kind === kind).map((a) => a.updated_at).filter((t) => t !== '').sort();
  return {
    ...local,
    stats: {
      ...local.stats, indexed: c.indexed, destinations: c.destinations, duplicates: c.duplicates, collisions: c.collisions, dead_letters: c.dead_letters,
      gaps: c.gaps, api_streams: streams.slice(0, API_STREAMS_SHOWN),
    },
    api_streams_total: streams.length,
    checkpoints: {
      total: c.checkpoints.length,
      by_kind: kinds.map((kind) => ({
        kind, checkpoints: c.api_streams.filter((a) => a.kind === kind).length, complete: c.api_streams.filter((a) => a.kind === kind && a.caught_up).length,
        oldest_update: times(kind)[0] ?? '', newest_update: times(kind).at(-1) ?? '',
      })),
      needing_attention: [...c.checkpoints].sort((a, b) => Number(a.complete) - Number(b.complete) || a.updated_at.localeCompare(b.updated_at)).slice(0, CHECKPOINTS_SHOWN),
    },
    headroom: headroom.slice(0, HEADROOM_SHOWN), headroom_total: headroom.length,
    cluster: { state_index: c.state_index, sources: c.sources, problems: c.problems },
  };
}
