/**
 * One replica's share of the work: it announces itself (a heartbeat document), counts the live
 * replicas, and holds its share of the lease groups (at most ceil(groups / live), see shareOf).
 * Every renew interval it renews what it holds, gives up what is over its share (the sources
 * finish their units in hand, then the leases are released) and claims free or expired groups up
 * to its share. A lease lost (taken by another replica, or not renewed in time) stops its group
 * at once.
 *
 * A lease is a source's (its document holds the source's checkpoints and epoch, whatever the
 * grouping); a group (the sources of one Mimecast account) is claimed only when every one of its
 * sources' leases can be, and run only while all are held. So replicas whose configs group the
 * sources differently (a rolling change) never run one source at once: they wait for each other's
 * leases; the heartbeat carries a digest of the grouping, and a live replica whose grouping
 * differs is said in the log (error) and on /readyz.
 *
 * Hysteresis: a group whose run ends by itself (its sink cannot open, it fails at once) is not
 * claimed again for a back-off that doubles per such end (renew interval × 2^n, at most
 * MAX_BACKOFF_MS); a replica over its share gives one group up only after OVER_SHARE_ROUNDS rounds
 * in a row over it, and only one held for a lease time; a group given up to spread the work is
 * not claimed back by this replica for a lease time.
 *
 * Live replicas are judged as leases are (leases.ts): a heartbeat document whose version has not
 * changed for the lease time, by this replica's clock, is a replica that died. Heartbeats are read
 * the most recently written first (the engine's order), so however many replicas came and went
 * the live ones are among the first; one unchanged for much longer (staleHeartbeatMs) is deleted,
 * conditionally on the version seen, by whichever replica notices.
 */
import { createHash } from 'node:crypto';
import type { Logger } from '../log/logger.js';
import { type HeldLease, type LeaseBook, LeaseLost, MAX_LEASE_MS, StateIndexMismatch } from './leases.js';
import { type Version, sameVersion } from './state-index.js';

export interface ReplicaDoc {
  readonly kind: 'replica';
  readonly replica: string;
  readonly beats: number;
  /** Set on a clean stop: the others need not wait for the lease time to count it out. */
  readonly left: boolean;
  /** The groups it holds. */
  readonly owns: readonly string[];
  /** The sources its config runs: replicas sharing none are another deployment's, not counted. */
  readonly sources?: readonly string[];
  /** A digest of its grouping (groups, their sources, their accounts): a difference is a config that differs. */
  readonly layout?: string;
  /** The replica's wall clock: for people only. */
  readonly at: string;
}

/**
 * How many groups this replica should hold: the live replicas share them as evenly as they can
 * (4 over 3: 2, 1, 1), the first ones in id order taking one more. Every replica computes the same
 * shares from the same live set, so together they hold every group once the set is agreed.
 */
export function shareOf(groups: number, live: readonly string[], replica: string): number {
  const rank = Math.max(0, live.indexOf(replica));
  return Math.floor(groups / live.length) + (rank < groups % live.length ? 1 : 0);
}

export const replicaDocId = (replica: string): string => `replica:${replica}`;

/** Runs a group's sources, each under its lease, until `stop` aborts (or they fail for good); resolves once all have stopped. */
export type RunUnderLease = (group: string, leases: ReadonlyMap<string, HeldLease>, stop: AbortSignal) => Promise<void>;

export interface CoordinatorSettings {
  readonly renewMs: number;
  /** Per source: the digest of the Mimecast account it reads, stamped on its document (no secret). */
  readonly accounts?: ReadonlyMap<string, string | undefined>;
  /** The deployment this replica's store joined before (its marker's id), if any. */
  readonly rememberedDeployment?: string;
  /** Called once the deployment is joined: the replica remembers it in its store's folder. */
  readonly joined?: (deployment: string) => void;
}

/** Heartbeats read per round, the most recently written first: the live ones are among them (each is rewritten every renew interval). */
const HEARTBEAT_PAGE = 1_000;
/** What a round reads of a heartbeat (a hostile document may hold anything else, and much of it). */
const HEARTBEAT_FIELDS = ['replica', 'left', 'sources', 'layout'];
/** A heartbeat unchanged for this many of this replica's leases (and at least twice the longest lease any config may have) is a replica gone. */
const HEARTBEAT_KEPT_LEASES = 10;

/**
 * How long a heartbeat stands unchanged before it is deleted: every live replica, whatever its
 * config, rewrites its own within a third of its lease (≤ MAX_LEASE_MS), so one unchanged for twice
 * the longest lease is gone; a replica frozen that long lost its leases anyway, and writes its
 * heartbeat again when it resumes.
 */
export const staleHeartbeatMs = (leaseMs: number): number => Math.max(HEARTBEAT_KEPT_LEASES * leaseMs, 2 * MAX_LEASE_MS);

/** Over the share this many rounds in a row before a group is given up (a live set seen differently for a round moves nothing). */
export const OVER_SHARE_ROUNDS = 3;
/**
 * The longest back-off before a group whose run ended by itself is claimed again: five minutes, or
 * BACKOFF_LEASES leases if shorter (after an engine outage the sources wait at most that long).
 */
export const MAX_BACKOFF_MS = 300_000;
/** Also: a run that lasted this many leases before it ended starts the back-off over. */
const BACKOFF_LEASES = 4;

interface Owned {
  readonly leases: ReadonlyMap<string, HeldLease>;
  readonly stop: AbortController;
  readonly claimedAtMs: number;
  /** Set when the group is being given up (over the share, or the replica stops). */
  releasing: boolean;
  done: Promise<void>;
}

/** What /readyz and /metrics show of a lease this replica holds. */
export interface OwnedLease {
  readonly source: string;
  readonly group: string;
  readonly epoch: number;
  /** Since its last successful write (renewal or checkpoint). */
  readonly age_ms: number;
  readonly remaining_ms: number;
  readonly releasing: boolean;
}

/** Groups given as a list: each source its own group. */
const asGroups = (groups: ReadonlyMap<string, readonly string[]> | readonly string[]): ReadonlyMap<string, readonly string[]> =>
  Array.isArray(groups) ? new Map(groups.map((s) => [s, [s]])) : (groups as ReadonlyMap<string, readonly string[]>);

export class Coordinator {
  private readonly owned = new Map<string, Owned>();
  private readonly seenReplicas = new Map<string, { version: Version; sinceMs: number }>();
  /** Per group: not claimed before `untilMs` (this replica's clock), and how many runs in a row ended by themselves. */
  private readonly backoff = new Map<string, { untilMs: number; ends: number }>();
  /** Live replicas whose grouping differs from this one's (said in the log when it changes, and on /readyz). */
  differingReplicas: string[] = [];
  private overShareRounds = 0;
  private beats = 0;
  private timer: NodeJS.Timeout | undefined;
  private ticking: Promise<void> = Promise.resolve();
  private stopped = false;
  private registered = false;
  private readonly groups: ReadonlyMap<string, readonly string[]>;
  readonly sources: readonly string[];
  private readonly layout: string;
  /** Set when the state index is not this deployment's any more: every source stopped, nothing claimed. */
  failure: StateIndexMismatch | undefined;
  private readonly failed: Promise<StateIndexMismatch>;
  private fail!: (err: StateIndexMismatch) => void;
  /** Leases claimed, given up and lost since start (the metrics' counters; one per source). */
  readonly counts = { claimed: 0, released: 0, lost: 0, handovers: 0 };
  liveReplicas = 1;

  constructor(
    private readonly book: LeaseBook,
    groups: ReadonlyMap<string, readonly string[]> | readonly string[],
    private readonly run: RunUnderLease,
    private readonly settings: CoordinatorSettings,
    private readonly log: Logger,
  ) {
    this.groups = asGroups(groups);
    this.sources = [...this.groups.values()].flat();
    const accounts = settings.accounts ?? new Map<string, string | undefined>();
    const shape = [...this.groups].map(([g, members]) => [g, [...members].sort().map((m) => [m, accounts.get(m) ?? null])]).sort(([a], [b]) => String(a).localeCompare(String(b)));
    this.layout = createHash('sha256').update(JSON.stringify(shape)).digest('hex').slice(0, 16);
    this.failed = new Promise((resolve) => (this.fail = resolve));
  }

  /** Resolves when the state index turned out not to be this deployment's (the replica must stop, loudly). */
  whenFailed(): Promise<StateIndexMismatch> {
    return this.failed;
  }

  /** Registers every source, announces the replica and takes a first share; then goes on every renew interval. */
  async start(): Promise<void> {
    // A first round that fails (the engine busy or down) is tried again every renew interval.
    await this.round();
    const loop = () => {
      if (this.stopped) return;
      this.ticking = this.round();
      void this.ticking.then(() => {
        if (!this.stopped) this.timer = setTimeout(loop, this.settings.renewMs);
      });
    };
    if (!this.stopped) this.timer = setTimeout(loop, this.settings.renewMs);
  }

  private async round(): Promise<void> {
    try {
      await this.tick();
    } catch (err) {
      if (!(err instanceof StateIndexMismatch)) return this.log.warn('cluster: a round of lease work failed', { reason: (err as Error).message });
      // Fencing cannot hold on an index that is not the one the leases were taken in: stop everything.
      this.log.error('cluster: the state index is not this deployment\'s; stopping every source', { reason: err.message });
      this.failure = err;
      this.stopped = true;
      for (const o of this.owned.values()) for (const l of o.leases.values()) l.markLost(err.message);
      this.fail(err);
    }
  }

  /** Stops every source (their units in hand commit), releases the leases and says the replica left. */
  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.timer);
    await this.ticking;
    // The units in hand may take longer than a lease to commit (a slow destination): the leases
    // are renewed meanwhile, or their last units would be refused and done again by the next owner.
    const renewing = setInterval(() => {
      for (const o of this.owned.values()) for (const l of o.leases.values()) if (l.lost === undefined) void this.renew(l);
    }, this.settings.renewMs);
    try {
      await Promise.all([...this.owned.keys()].map((g) => this.giveUp(g)));
      await Promise.all([...this.owned.values()].map((o) => o.done));
    } finally {
      clearInterval(renewing);
    }
    if (this.failure === undefined) await this.heartbeat(true).catch((err) => this.log.warn('cluster: could not say this replica left', { reason: (err as Error).message }));
  }

  leases(): OwnedLease[] {
    return [...this.owned].flatMap(([group, o]) => [...o.leases.values()].map((l) => ({
      source: l.source, group, epoch: l.epoch, age_ms: Math.round(l.ageMs()), remaining_ms: Math.round(l.remainingMs()), releasing: o.releasing,
    })));
  }

  /** One round: heartbeat, renewals, then give up or claim to reach the share. */
  private async tick(): Promise<void> {
    if (!this.registered) {
      await this.book.index.ensure();
      const deployment = await this.book.joinDeployment(this.settings.rememberedDeployment);
      this.settings.joined?.(deployment);
      for (const s of this.sources) await this.book.register(s, this.settings.accounts?.get(s));
      this.registered = true;
    } else {
      await this.book.checkDeployment();
    }
    // Renewals first and beside the heartbeat: nothing else in the round may make them late.
    const held = [...this.owned.values()].flatMap((o) => [...o.leases.values()]).filter((l) => l.lost === undefined);
    await Promise.all([this.heartbeat(false), ...held.map((l) => this.renew(l))]);
    const live = await this.liveIds();
    this.liveReplicas = live.length;
    const share = shareOf(this.groups.size, live, this.book.replica);
    this.spread(share);
    await this.claimUpTo(share);
  }

  /** Over the share for OVER_SHARE_ROUNDS rounds in a row (a replica joined): gives one group up, the most recently claimed held for a lease time. */
  private spread(share: number): void {
    const kept = [...this.owned.entries()].filter(([, o]) => !o.releasing);
    this.overShareRounds = kept.length > share ? this.overShareRounds + 1 : 0;
    if (this.overShareRounds < OVER_SHARE_ROUNDS) return;
    const now = this.book.now();
    const settled = kept.filter(([, o]) => now - o.claimedAtMs >= this.book.options.leaseMs).sort(([, a], [, b]) => b.claimedAtMs - a.claimedAtMs);
    const group = settled[0]?.[0];
    if (group === undefined) return;
    this.log.info('cluster: giving a group up to spread the work', { group, share, live_replicas: this.liveReplicas });
    this.overShareRounds = 0;
    this.backoff.set(group, { untilMs: now + this.book.options.leaseMs, ends: 0 });
    void this.giveUp(group);
  }

  /** Looks at every lease not held here (a claimant's count of unrenewed time starts when it first sees a version), then claims whole groups up to the share. */
  private async claimUpTo(share: number): Promise<void> {
    const others = this.claimOrder().filter((g) => !this.owned.has(g));
    const now = this.book.now();
    const free = await Promise.all(others.map(async (group) => {
      const seen = await Promise.all(this.groups.get(group)!.map((s) => this.book.inspect(s).catch((err: unknown) => {
        if (err instanceof StateIndexMismatch) throw err;
        // Said every round: a source whose lease cannot be read is run by nobody until it can.
        this.log.warn('cluster: could not read a lease; nobody here can claim the source', { source: s, reason: (err as Error).message });
        return undefined;
      })));
      return seen.every((l) => l !== undefined && l.state !== 'held') && (this.backoff.get(group)?.untilMs ?? 0) <= now;
    }));
    const claimable = others.filter((_, i) => free[i]);
    let holding = [...this.owned.values()].filter((o) => !o.releasing).length;
    for (const group of claimable) {
      if (holding >= share || this.stopped) break;
      const leases = await this.claimGroup(group);
      if (!leases) continue;
      holding++;
      this.take(group, leases);
    }
  }

  /** Every lease of the group, or none: one refused (another replica got there first) gives the others back at once. */
  private async claimGroup(group: string): Promise<Map<string, HeldLease> | undefined> {
    const leases = new Map<string, HeldLease>();
    // One order for every replica (sorted names, whatever order a config lists them in): two
    // claimants of one group meet at its first lease, not each holding one and giving both up.
    for (const source of [...this.groups.get(group)!].sort()) {
      const lease = await this.book.claim(source).catch((err: unknown) => {
        if (err instanceof StateIndexMismatch) throw err;
        this.log.warn('cluster: claim failed', { source, reason: (err as Error).message });
        return undefined;
      });
      if (!lease) {
        await Promise.all([...leases.values()].map((l) => l.release().catch(() => undefined)));
        return undefined;
      }
      leases.set(source, lease);
    }
    return leases;
  }

  /** Groups in an order of this replica's own (replicas starting together try different ones first). */
  private claimOrder(): string[] {
    const rank = (s: string) => {
      let h = 2166136261;
      for (const c of `${this.book.replica}/${s}`) h = Math.imul(h ^ c.charCodeAt(0), 16777619);
      return h >>> 0;
    };
    return [...this.groups.keys()].sort((a, b) => rank(a) - rank(b));
  }

  private take(group: string, leases: ReadonlyMap<string, HeldLease>): void {
    const stop = new AbortController();
    const owned: Owned = { leases, stop, releasing: false, claimedAtMs: this.book.now(), done: Promise.resolve() };
    for (const lease of leases.values()) {
      const from = lease.doc.history.at(-1)?.from;
      this.counts.claimed++;
      if (from !== undefined) this.counts.handovers++;
      this.log.info('cluster: lease claimed', { source: lease.source, group, epoch: lease.epoch, ...(from ? { taken_from: from } : {}) });
      // One lease lost stops the whole group: its sources run together or not at all.
      lease.onLost((reason) => {
        if (reason === 'released') return;
        this.counts.lost++;
        this.log.warn('cluster: lease lost; stopping its group at once', { source: lease.source, group, epoch: lease.epoch, reason });
        stop.abort();
      });
    }
    owned.done = this.run(group, leases, stop.signal)
      .catch((err) => this.log.error('cluster: group ended with an error', { group, reason: (err as Error).message }))
      .finally(() => {
        if (this.owned.get(group) !== owned) return;
        this.owned.delete(group);
        if (owned.releasing) return;
        // Ended by itself (not given up): free what is still held, and wait before claiming it again.
        for (const l of leases.values()) if (l.lost === undefined) void l.release().catch(() => undefined);
        if (![...leases.values()].some((l) => l.lost !== undefined && l.lost !== 'released')) this.backOff(group, this.book.now() - owned.claimedAtMs);
      });
    this.owned.set(group, owned);
  }

  /**
   * A group whose run ended by itself: not claimed again for renew × 2^ends, at most MAX_BACKOFF_MS
   * or BACKOFF_LEASES leases. `ends` counts the ends in a row: a run that lasted BACKOFF_LEASES
   * leases starts it over, so a source that failed now and then over months does not wait the
   * longest after each failure.
   */
  private backOff(group: string, ranMs: number): void {
    const leaseMs = this.book.options.leaseMs;
    const before = ranMs >= BACKOFF_LEASES * leaseMs ? 0 : (this.backoff.get(group)?.ends ?? 0);
    const ends = before + 1;
    const waitMs = Math.min(MAX_BACKOFF_MS, BACKOFF_LEASES * leaseMs, this.settings.renewMs * 2 ** Math.min(ends, 20));
    this.backoff.set(group, { untilMs: this.book.now() + waitMs, ends });
    this.log.warn('cluster: a group ended by itself; not claimed again for a while', { group, retry_in_ms: waitMs, ends_in_a_row: ends });
  }

  /** Stops the group, lets its units in hand commit, then releases its leases. */
  private async giveUp(group: string): Promise<void> {
    const o = this.owned.get(group);
    if (!o || o.releasing) return o?.done;
    o.releasing = true;
    o.stop.abort();
    await o.done;
    await Promise.all([...o.leases.values()].filter((l) => l.lost === undefined).map(async (l) => {
      try {
        await l.release();
        this.counts.released++;
        this.log.info('cluster: lease released', { source: l.source, group, epoch: l.epoch });
      } catch (err) {
        this.log.warn('cluster: could not release a lease (it expires after the lease time)', { source: l.source, reason: (err as Error).message });
      }
    }));
  }

  private async renew(lease: HeldLease): Promise<void> {
    try {
      await lease.renew();
    } catch (err) {
      if (err instanceof LeaseLost) return; // onLost stopped the group
      this.log.warn('cluster: lease not renewed', { source: lease.source, remaining_ms: Math.round(lease.remainingMs()), reason: (err as Error).message });
      if (lease.remainingMs() <= 0) lease.markLost('not renewed within the lease time');
    }
  }

  private async heartbeat(left: boolean): Promise<void> {
    const doc: ReplicaDoc = {
      kind: 'replica', replica: this.book.replica, beats: ++this.beats, left, owns: [...this.owned.keys()], sources: this.sources, layout: this.layout, at: new Date().toISOString(),
    };
    await this.book.index.put(replicaDocId(this.book.replica), doc, true);
  }

  /**
   * This replica and every other of this deployment (sharing a source) whose heartbeat moved
   * within the lease time (by this replica's clock), sorted. A live one whose grouping differs is
   * said in the log each time the set of such replicas changes. Heartbeats of replicas gone are
   * deleted on the way (deleteStale).
   */
  private async liveIds(): Promise<string[]> {
    const now = this.book.now();
    const live = [this.book.replica];
    const differing: string[] = [];
    const mine = new Set(this.sources);
    const newest = await this.book.index.list<Partial<ReplicaDoc>>('replica', { size: HEARTBEAT_PAGE, fields: HEARTBEAT_FIELDS });
    // More than a page of them (replicas that came and went): the oldest are read too, to be aged and deleted.
    const oldest = newest.total > newest.hits.length ? (await this.book.index.list<Partial<ReplicaDoc>>('replica', { size: HEARTBEAT_PAGE, order: 'oldest', fields: ['replica'] })).hits : [];
    const since = this.age([...newest.hits, ...oldest], now);
    for (const { id, doc } of newest.hits) {
      if (typeof doc.replica !== 'string' || id !== replicaDocId(doc.replica) || doc.replica === this.book.replica) continue;
      if (Array.isArray(doc.sources) && !doc.sources.some((s) => mine.has(s))) continue; // another deployment's
      if (doc.left === true || now - since.get(id)! >= this.book.options.leaseMs) continue;
      live.push(doc.replica);
      if (doc.layout !== this.layout) differing.push(doc.replica);
    }
    await this.deleteStale([...newest.hits, ...oldest], since, now);
    differing.sort();
    if (differing.join() !== this.differingReplicas.join() && differing.length > 0) {
      this.log.error('cluster: live replicas run a config that groups the sources differently (a rolling change, or configs that differ): each source still runs on one replica at a time, but finish the change', { replicas: differing, layout: this.layout });
    }
    this.differingReplicas = differing;
    return [...new Set(live)].sort();
  }

  /** Since when (this replica's clock) each heartbeat read stands at its version; those not read this round are forgotten (bounded). */
  private age(hits: readonly { id: string; version: Version }[], now: number): Map<string, number> {
    const since = new Map<string, number>();
    for (const { id, version } of hits) {
      const last = this.seenReplicas.get(id);
      since.set(id, last && sameVersion(last.version, version) ? last.sinceMs : now);
      this.seenReplicas.set(id, { version, sinceMs: since.get(id)! });
    }
    for (const id of this.seenReplicas.keys()) if (!since.has(id)) this.seenReplicas.delete(id);
    return since;
  }

  /** Deletes the heartbeats unchanged for staleHeartbeatMs, each only if still at the version seen (one that moved is a replica back). */
  private async deleteStale(hits: readonly { id: string; version: Version }[], since: ReadonlyMap<string, number>, now: number): Promise<void> {
    const limit = staleHeartbeatMs(this.book.options.leaseMs);
    const own = replicaDocId(this.book.replica);
    const stale = [...new Map(hits.map((h) => [h.id, h])).values()].filter((h) => h.id !== own && now - since.get(h.id)! >= limit);
    if (stale.length === 0) return;
    try {
      const deleted = await this.book.index.removeIf(stale);
      for (const h of stale) this.seenReplicas.delete(h.id);
      this.log.info('cluster: deleted the heartbeats of replicas gone', { deleted, unchanged_for_ms: limit });
    } catch (err) {
      this.log.warn('cluster: could not delete the heartbeats of replicas gone (tried again next round)', { count: stale.length, reason: (err as Error).message });
    }
  }
}
