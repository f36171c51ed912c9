/**
 * One replica's share of the work: it announces itself (a heartbeat document), counts the live
 * replicas, and holds its share of the leases (at most ceil(sources / live), see shareOf). Every renew interval it renews what it
 * holds, gives up what is over its share (the source finishes its units in hand, then the lease
 * is released) and claims free or expired leases up to its share. A lease lost (taken by another
 * replica, or not renewed within the lease time) stops its source at once.
 *
 * Live replicas are judged as leases are (leases.ts): a heartbeat document whose version has not
 * changed for the lease time, by this replica's clock, is a replica that died.
 */
import type { Logger } from '../log/logger.js';
import { type HeldLease, type LeaseBook, LeaseLost } from './leases.js';
import { type Version, sameVersion } from './state-index.js';

export interface ReplicaDoc {
  readonly kind: 'replica';
  readonly replica: string;
  readonly beats: number;
  /** Set on a clean stop: the others need not wait for the lease time to count it out. */
  readonly left: boolean;
  readonly owns: readonly string[];
  /** The replica's wall clock: for people only. */
  readonly at: string;
}

/**
 * How many sources this replica should hold: the live replicas share them as evenly as they can
 * (4 over 3: 2, 1, 1), the first ones in id order taking one more. Every replica computes the same
 * shares from the same live set, so together they hold every source once the set is agreed.
 */
export function shareOf(sources: number, live: readonly string[], replica: string): number {
  const rank = Math.max(0, live.indexOf(replica));
  return Math.floor(sources / live.length) + (rank < sources % live.length ? 1 : 0);
}

export const replicaDocId = (replica: string): string => `replica:${replica}`;

/** Runs a source under a lease until `stop` aborts (or it fails for good); resolves once it has stopped. */
export type RunUnderLease = (source: string, lease: HeldLease, stop: AbortSignal) => Promise<void>;

export interface CoordinatorSettings {
  readonly renewMs: number;
}

interface Owned {
  readonly lease: HeldLease;
  readonly stop: AbortController;
  /** Set when the source is being given up (over the share, or the replica stops). */
  releasing: boolean;
  done: Promise<void>;
}

/** What /readyz and /metrics show of a lease this replica holds. */
export interface OwnedLease {
  readonly source: string;
  readonly epoch: number;
  /** Since its last successful write (renewal or checkpoint). */
  readonly age_ms: number;
  readonly remaining_ms: number;
  readonly releasing: boolean;
}

export class Coordinator {
  private readonly owned = new Map<string, Owned>();
  private readonly seenReplicas = new Map<string, { version: Version; sinceMs: number }>();
  private beats = 0;
  private timer: NodeJS.Timeout | undefined;
  private ticking: Promise<void> = Promise.resolve();
  private stopped = false;
  private registered = false;
  /** Leases claimed, given up and lost since start (the metrics' counters). */
  readonly counts = { claimed: 0, released: 0, lost: 0, handovers: 0 };
  liveReplicas = 1;

  constructor(
    private readonly book: LeaseBook,
    readonly sources: readonly string[],
    private readonly run: RunUnderLease,
    private readonly settings: CoordinatorSettings,
    private readonly log: Logger,
  ) {}

  /** Registers every source, announces the replica and takes a first share; then goes on every renew interval. */
  async start(): Promise<void> {
    // A first round that fails (the engine busy or down) is tried again every renew interval.
    await this.tick().catch((err) => this.log.warn('cluster: a round of lease work failed', { reason: (err as Error).message }));
    const loop = () => {
      if (this.stopped) return;
      this.ticking = this.tick().catch((err) => this.log.warn('cluster: a round of lease work failed', { reason: (err as Error).message }));
      void this.ticking.then(() => {
        if (!this.stopped) this.timer = setTimeout(loop, this.settings.renewMs);
      });
    };
    this.timer = setTimeout(loop, this.settings.renewMs);
  }

  /** Stops every source (their units in hand commit), releases the leases and says the replica left. */
  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.timer);
    await this.ticking;
    // The units in hand may take longer than a lease to commit (a slow destination): the leases
    // are renewed meanwhile, or their last units would be refused and done again by the next owner.
    const renewing = setInterval(() => {
      for (const o of this.owned.values()) if (o.lease.lost === undefined) void this.renew(o);
    }, this.settings.renewMs);
    try {
      await Promise.all([...this.owned.keys()].map((s) => this.giveUp(s)));
      await Promise.all([...this.owned.values()].map((o) => o.done));
    } finally {
      clearInterval(renewing);
    }
    await this.heartbeat(true).catch((err) => this.log.warn('cluster: could not say this replica left', { reason: (err as Error).message }));
  }

  leases(): OwnedLease[] {
    return [...this.owned.values()].map((o) => ({
      source: o.lease.source, epoch: o.lease.epoch, age_ms: Math.round(o.lease.ageMs()), remaining_ms: Math.round(o.lease.remainingMs()), releasing: o.releasing,
    }));
  }

  /** One round: heartbeat, renewals, then give up or claim to reach the share. */
  private async tick(): Promise<void> {
    if (!this.registered) {
      await this.book.index.ensure();
      for (const s of this.sources) await this.book.register(s);
      this.registered = true;
    }
    // Renewals first and beside the heartbeat: nothing else in the round may make them late.
    await Promise.all([this.heartbeat(false), ...[...this.owned.values()].filter((o) => o.lease.lost === undefined).map((o) => this.renew(o))]);
    const live = await this.liveIds();
    this.liveReplicas = live.length;
    const share = shareOf(this.sources.length, live, this.book.replica);
    const held = [...this.owned.entries()].filter(([, o]) => !o.releasing);
    // Over the share (a replica joined): give up the most recently claimed first.
    held.sort(([, a], [, b]) => b.lease.claimedAtMs - a.lease.claimedAtMs);
    for (const [source] of held.slice(share)) {
      this.log.info('cluster: giving a source up to spread the work', { source, share, live_replicas: this.liveReplicas });
      void this.giveUp(source);
    }
    // Every lease not held here is looked at each round, even at full share: a claimant's count of
    // how long a lease stood unrenewed starts when it first sees that version (leases.ts).
    const others = this.claimOrder().filter((s) => !this.owned.has(s));
    const seen = await Promise.all(others.map((s) => this.book.inspect(s).catch((err) => {
      // Said every round: a source whose lease cannot be read is run by nobody until it can.
      this.log.warn('cluster: could not read a lease; nobody here can claim the source', { source: s, reason: (err as Error).message });
      return undefined;
    })));
    const claimable = others.filter((_, i) => seen[i] !== undefined && seen[i].state !== 'held');
    let holding = Math.min(held.length, share);
    for (const source of claimable) {
      if (holding >= share || this.stopped) break;
      const lease = await this.book.claim(source).catch((err) => {
        this.log.warn('cluster: claim failed', { source, reason: (err as Error).message });
        return undefined;
      });
      if (!lease) continue;
      holding++;
      this.take(lease);
    }
  }

  /** Sources in an order of this replica's own (replicas starting together try different ones first). */
  private claimOrder(): string[] {
    const rank = (s: string) => {
      let h = 2166136261;
      for (const c of `${this.book.replica}/${s}`) h = Math.imul(h ^ c.charCodeAt(0), 16777619);
      return h >>> 0;
    };
    return [...this.sources].sort((a, b) => rank(a) - rank(b));
  }

  private take(lease: HeldLease): void {
    const source = lease.source;
    const from = lease.doc.history.at(-1)?.from;
    this.counts.claimed++;
    if (from !== undefined) this.counts.handovers++;
    this.log.info('cluster: lease claimed', { source, epoch: lease.epoch, ...(from ? { taken_from: from } : {}) });
    const stop = new AbortController();
    const owned: Owned = { lease, stop, releasing: false, done: Promise.resolve() };
    lease.onLost((reason) => {
      if (reason === 'released') return;
      this.counts.lost++;
      this.log.warn('cluster: lease lost; stopping the source at once', { source, epoch: lease.epoch, reason });
      stop.abort();
    });
    owned.done = this.run(source, lease, stop.signal)
      .catch((err) => this.log.error('cluster: source ended with an error', { source, reason: (err as Error).message }))
      .finally(() => {
        if (this.owned.get(source) !== owned) return;
        this.owned.delete(source);
        // Ended on its own (not given up, not lost): free it for whoever can run it.
        if (!owned.releasing && lease.lost === undefined) void lease.release().catch(() => undefined);
      });
    this.owned.set(source, owned);
  }

  /** Stops the source, lets its units in hand commit, then releases its lease. */
  private async giveUp(source: string): Promise<void> {
    const o = this.owned.get(source);
    if (!o || o.releasing) return o?.done;
    o.releasing = true;
    o.stop.abort();
    await o.done;
    if (o.lease.lost !== undefined) return;
    try {
      await o.lease.release();
      this.counts.released++;
      this.log.info('cluster: lease released', { source, epoch: o.lease.epoch });
    } catch (err) {
      this.log.warn('cluster: could not release a lease (it expires after the lease time)', { source, reason: (err as Error).message });
    }
  }

  private async renew(o: Owned): Promise<void> {
    try {
      await o.lease.renew();
    } catch (err) {
      if (err instanceof LeaseLost) return; // onLost stopped the source
      this.log.warn('cluster: lease not renewed', { source: o.lease.source, remaining_ms: Math.round(o.lease.remainingMs()), reason: (err as Error).message });
      if (o.lease.remainingMs() <= 0) o.lease.markLost('not renewed within the lease time');
    }
  }

  private async heartbeat(left: boolean): Promise<void> {
    const doc: ReplicaDoc = { kind: 'replica', replica: this.book.replica, beats: ++this.beats, left, owns: [...this.owned.keys()], at: new Date().toISOString() };
    await this.book.index.put(replicaDocId(this.book.replica), doc, true);
  }

  /** This replica and every other whose heartbeat moved within the lease time (by this replica's clock), sorted. */
  private async liveIds(): Promise<string[]> {
    const now = this.book.now();
    const live = [this.book.replica];
    for (const { doc, version } of await this.book.index.list<ReplicaDoc>('replica')) {
      if (doc.replica === this.book.replica) continue;
      const last = this.seenReplicas.get(doc.replica);
      const since = last && sameVersion(last.version, version) ? last.sinceMs : now;
      this.seenReplicas.set(doc.replica, { version, sinceMs: since });
      if (!doc.left && now - since < this.book.options.leaseMs) live.push(doc.replica);
    }
    return live.sort();
  }
}
