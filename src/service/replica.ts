/**
 * `mimelog run` with `cluster:`: this process is one replica of several running the same config.
 * Sources run only under their lease (src/cluster/), each with a sink of its own whose commits
 * first write the checkpoint to the engine under the lease: a refusal fails the commit, and the
 * coordinator stops the source at once.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { hostname } from 'node:os';
import type { Sink } from '../core/sink.js';
import type { Logger } from '../log/logger.js';
import type { Store } from '../store/store.js';
import type { CommitFence } from '../sinks/delivering-sink.js';
import type { SearchClient } from '../sinks/search/client.js';
import { Coordinator, type OwnedLease } from '../cluster/coordinator.js';
import { type HeldLease, LeaseBook, LeaseLost } from '../cluster/leases.js';
import { StateIndex } from '../cluster/state-index.js';
import { restoreCheckpoints, snapshotOf } from '../cluster/checkpoints.js';
import { stateEngineEntry } from '../cluster/engine.js';
import { stateClient } from '../cluster/state-client.js';
import { EngineBooks, commitUnitBooks } from '../cluster/books.js';
import type { ServiceConfig } from './config.js';
import type { SourceStatus } from './health.js';
import type { ServiceResult, SourceStarter } from './source-starter.js';

type ClusterConfig = NonNullable<ServiceConfig['cluster']>;
type SourceResult = ServiceResult['sources'][number];

export interface ServiceSource {
  readonly starter: SourceStarter;
  readonly status: SourceStatus;
}

/** What /readyz and /metrics show of the replica. */
export interface ClusterView {
  readonly replica: string;
  readonly live_replicas: number;
  readonly lease_ms: number;
  readonly leases: readonly OwnedLease[];
  /** Since start: leases claimed (hand-overs: taken from another replica), released and lost. */
  readonly claimed: number;
  readonly handovers: number;
  readonly released: number;
  readonly lost: number;
  /** Live replicas whose config groups the sources differently (a rolling change not finished). */
  readonly differing_replicas: readonly string[];
}

export interface Replica {
  readonly id: string;
  readonly client: SearchClient;
  readonly book: LeaseBook;
  readonly settings: ClusterConfig;
  /** Where this replica remembers the deployment it joined (beside its store): an index re-created under it is refused. */
  readonly memoryFile: string;
  coordinator?: Coordinator;
  view(): ClusterView;
}

/** Connects to the state index (created if absent) as this replica. */
export async function openReplica(config: ServiceConfig, settings: ClusterConfig, env: NodeJS.ProcessEnv, log: Logger): Promise<Replica> {
  const id = settings.replica ?? hostname();
  const client = stateClient(stateEngineEntry(config.sink)!, env, (settings.lease_s * 1000) / 2); // the config check made sure there is one
  const index = new StateIndex(client, settings.state_index);
  try {
    await index.ensure();
  } catch (err) {
    await client.close();
    throw err;
  }
  const book = new LeaseBook(index, { replica: id, leaseMs: settings.lease_s * 1000 });
  log.info('cluster: replica ready', { replica: id, state_index: settings.state_index, lease_s: settings.lease_s, renew_s: settings.renew_s });
  const replica: Replica = {
    id, client, book, settings, memoryFile: `${config.store}.cluster.json`,
    view: () => {
      const c = replica.coordinator;
      return {
        replica: id, live_replicas: c?.liveReplicas ?? 1, lease_ms: settings.lease_s * 1000, leases: c?.leases() ?? [],
        claimed: c?.counts.claimed ?? 0, handovers: c?.counts.handovers ?? 0, released: c?.counts.released ?? 0, lost: c?.counts.lost ?? 0,
        differing_replicas: c?.differingReplicas ?? [],
      };
    },
  };
  return replica;
}

/** The deployments this replica's store joined, per state index (a small JSON file beside the store). */
export function readMemory(file: string): Record<string, string> {
  try {
    const parsed = JSON.parse(readFileSync(file, 'utf8')) as unknown;
    return parsed !== null && typeof parsed === 'object' && !Array.isArray(parsed) ? (parsed as Record<string, string>) : {};
  } catch {
    return {}; // none yet (a new replica): it joins whatever deployment the index holds
  }
}

function rememberDeployment(file: string, stateIndex: string, deployment: string, log: Logger): void {
  const memory = readMemory(file);
  if (memory[stateIndex] === deployment) return;
  try {
    writeFileSync(file, `${JSON.stringify({ ...memory, [stateIndex]: deployment }, null, 2)}\n`, { mode: 0o600 });
  } catch (err) {
    log.warn('cluster: could not remember the deployment joined (an index re-created while every replica is down would go unnoticed)', { file, reason: (err as Error).message });
  }
}

/**
 * The fence of a source's commits: its checkpoint moves in the engine, under the lease, before the
 * local store commits; with `books`, the unit's counts move in that same write and its dead letters,
 * collisions and gaps are written just before it (src/cluster/books.ts).
 */
export function leaseFence(lease: HeldLease, books?: { engine: EngineBooks; source: string; log: Logger }): CommitFence {
  return async (unit, state, reports, copies) => {
    if (lease.lost !== undefined) throw new LeaseLost(lease.source, lease.lost);
    const key = state && 'key' in state ? state.key : undefined;
    const moved = snapshotOf(state, unit, key === undefined ? undefined : lease.doc.checkpoints[key]);
    const checkpoints = moved ? { [moved.key]: moved.snapshot } : {};
    if (books) {
      const warn = (problems: string[]) => books.log.warn('cluster: counts in the lease document were not counts: they start again from this unit', { source: books.source, problems });
      return commitUnitBooks(lease, books.engine, books.source, unit, state, reports, copies, checkpoints, warn);
    }
    if (moved) await lease.commit(checkpoints);
  };
}

/**
 * The lease groups: sources of one Mimecast account (the same `tenant:`, or else the same API and
 * credential id, however the URL is spelled) are claimed together (every source's lease, or none), so one replica runs them all
 * and adding replicas never multiplies the calls made against one account's rate limit. A group
 * of one source is named after it; a tenant's group after the tenant; other shared accounts after
 * their sources' names joined by "+". The name is only a name: each source's lease, epoch and
 * checkpoints live in its own document, whatever the grouping.
 */
export function leaseGroups(sources: readonly ServiceSource[]): Map<string, ServiceSource[]> {
  const byAccount = new Map<string, ServiceSource[]>();
  for (const s of sources) {
    const key = s.starter.tenant !== undefined ? `tenant ${s.starter.tenant}` : s.starter.account !== undefined ? `account ${s.starter.account}` : `source ${s.starter.name}`;
    byAccount.set(key, [...(byAccount.get(key) ?? []), s]);
  }
  const groups = new Map<string, ServiceSource[]>();
  for (const members of byAccount.values()) {
    const tenant = members[0]!.starter.tenant;
    const name = tenant ?? members.map((m) => m.starter.name).sort().join('+');
    groups.set(name, members);
  }
  return groups;
}

type RunOne = (r: ServiceSource, run: { sink: Sink; stop: AbortSignal; beforeStart?: () => void }) => Promise<SourceResult>;

/**
 * Runs the replica until `stop`: claims its share of the sources and runs each under its lease;
 * on stop, the sources finish their units in hand and the leases are released.
 */
export async function runReplica(
  replica: Replica,
  sources: readonly ServiceSource[],
  runOne: RunOne,
  store: Store,
  openSink: (log: Logger, beforeCommit?: CommitFence) => Promise<Sink & { restart?(): void }>,
  log: Logger,
  stop: AbortSignal,
): Promise<SourceResult[]> {
  const remembered = readMemory(replica.memoryFile)[replica.settings.state_index];
  const totals = new Map<string, SourceResult>(sources.map((s) => [s.starter.name, { name: s.starter.name, stored: 0, duplicates: 0, collisions: 0, dead_letters: 0, gaps: 0 }]));
  for (const s of sources) s.status.running = 'elsewhere';
  const groups = leaseGroups(sources);
  const books = new EngineBooks(replica.client, replica.settings.state_index);
  const runSource = async (source: ServiceSource, lease: HeldLease, sourceStop: AbortSignal) => {
    const name = source.starter.name;
    const sourceLog = log.child({ source: name });
    const sink = await openSink(sourceLog, leaseFence(lease, { engine: books, source: name, log: sourceLog }));
    try {
      // Each start (the first, and after a failure) reads the engine's checkpoints: this replica's store may be behind.
      // The sink is this source's alone: a failed run (a fence write the engine answered 503) does not fail the next.
      const beforeStart = () => {
        sink.restart?.();
        restoreCheckpoints(store, lease.doc.checkpoints, (key, reason) => log.warn('a checkpoint in the lease document is not one: left out, the source starts from its local checkpoint', { source: name, checkpoint: key, reason }));
      };
      const result = await runOne(source, { sink, stop: sourceStop, beforeStart });
      const total = totals.get(name)!;
      for (const k of ['stored', 'duplicates', 'collisions', 'dead_letters', 'gaps'] as const) total[k] += result[k];
      // A failure counts for the exit status only when the replica stops with the source failing;
      // one handed over (lost, or given up to spread the work) is the new owner's to report.
      if (result.failure !== undefined && lease.lost === undefined && stop.aborted) total.failure = result.failure;
    } finally {
      await sink.close();
      source.status.running = 'elsewhere';
    }
  };
  // A group runs together or not at all: a source of it that fails for good (its sink cannot open)
  // stops the others before the group's leases are released, so none runs on after its release.
  const run = async (group: string, leases: ReadonlyMap<string, HeldLease>, groupStop: AbortSignal) => {
    const together = new AbortController();
    const stopAll = () => together.abort();
    groupStop.addEventListener('abort', stopAll, { once: true });
    if (groupStop.aborted) stopAll();
    const ran = await Promise.allSettled(groups.get(group)!.map((source) => runSource(source, leases.get(source.starter.name)!, together.signal).catch((err: unknown) => {
      stopAll();
      throw err;
    })));
    groupStop.removeEventListener('abort', stopAll);
    const failed = ran.find((r) => r.status === 'rejected');
    if (failed) throw failed.reason;
  };
  const accounts = new Map(sources.map((s) => [s.starter.name, s.starter.account]));
  const joined = (deployment: string) => rememberDeployment(replica.memoryFile, replica.settings.state_index, deployment, log);
  const coordinator = new Coordinator(replica.book, new Map([...groups].map(([g, members]) => [g, members.map((m) => m.starter.name)])), run,
    { renewMs: replica.settings.renew_s * 1000, accounts, rememberedDeployment: remembered, joined }, log.child({ replica: replica.id }));
  replica.coordinator = coordinator;
  await coordinator.start();
  const stopped = new Promise((resolve) => stop.addEventListener('abort', resolve, { once: true }));
  if (!stop.aborted) await Promise.race([stopped, coordinator.whenFailed()]);
  await coordinator.stop();
  // The state index is not this deployment's: every source fails (the exit status says so).
  if (coordinator.failure) for (const t of totals.values()) t.failure = coordinator.failure.message;
  return [...totals.values()];
}
