/**
 * Leases: which replica runs a source. One document per source in the state index holds the
 * lease (owner, epoch) and the source's checkpoints, so one conditional write both proves the
 * lease and moves a checkpoint (fencing, see docs/cluster.md).
 *
 * - A claim writes `owner: me, epoch: epoch + 1` conditional on the version read: of two
 *   replicas claiming at once, the engine takes one and refuses the other. Epochs only grow.
 * - The owner renews by rewriting the document (conditional again); every write it makes is
 *   refused once anyone else has claimed, so an owner that was paused (GC, SIGSTOP) or cut off
 *   can never move a checkpoint after its lease was taken.
 * - A release writes `owner: null`: anyone may claim at once.
 *
 * What time is trusted: no wall clock is ever compared across machines. A lease is judged
 * expired by the claimant when the engine shows the document at the same version (nobody
 * renewed it) for the lease time, measured on the claimant's own monotonic clock from the moment
 * it first saw that version. The owner counts its lease from the moment it *sent* its last
 * successful write, on its own monotonic clock, so it stops believing in its lease no later than
 * any claimant can take it (clock rates agree; their offsets do not matter). Wall-clock times in
 * the document (`renewed_at`, the history) are for people only.
 */
import { randomUUID } from 'node:crypto';
import { setting } from '../config/settings.js';
import { MimelogError } from '../util/errors.js';
import { type StateIndex, type Version, sameVersion } from './state-index.js';

/** A source's checkpoint as the engine keeps it (one per checkpoint name of the source). */
export interface CheckpointSnapshot {
  readonly kind: string;
  readonly position: number;
  readonly cursor: string | null;
  readonly complete: boolean;
  readonly newest_event_ms: number | null;
  readonly newest_by_type: Readonly<Record<string, number>>;
  /** The lease epoch it was written under. */
  readonly epoch: number;
}

/** One claim, kept in the document (the last HISTORY_SIZE): who held which epoch from when. */
export interface ClaimRecord {
  readonly epoch: number;
  readonly owner: string;
  readonly at: string;
  /** Whom it was taken from, when the lease was not free: a hand-over. */
  readonly from?: string;
}

export interface SourceDoc {
  readonly kind: 'source';
  readonly source: string;
  readonly owner: string | null;
  readonly epoch: number;
  /** The owner's lease time: a claimant waits at least this long (and at least its own). */
  readonly lease_ms: number;
  /**
   * Which process of the owner claimed it (a new one per start): a document that names this
   * replica but another process of it is taken at once only on the first look of a process that
   * just started (its predecessor died), never by a process that ran on (it was frozen, and the
   * id is now a restarted process's).
   */
  readonly owner_run?: string;
  /** The owner's wall clock at its last renewal: for people, never for decisions. */
  readonly renewed_at: string | null;
  readonly handovers: number;
  readonly history: readonly ClaimRecord[];
  readonly checkpoints: Readonly<Record<string, CheckpointSnapshot>>;
}

const HISTORY_SIZE = 50;
/** The longest lease any replica's config can ask for: a document's `lease_ms` beyond it is not believed. */
const MAX_LEASE_MS = setting('leaseS').max * 1000;

/**
 * The document as read, its lease fields checked: an epoch that could not grow by one (a string,
 * a fraction, past 2^53) would let two claims share an epoch, so it is refused; a history that is
 * not a list is dropped (it is for people); a lease time that is not a believable number counts
 * for nothing (the claimant's own applies).
 */
function checkedDoc(source: string, doc: SourceDoc): SourceDoc {
  const { epoch } = doc as { epoch: unknown };
  if (typeof epoch !== 'number' || !Number.isSafeInteger(epoch) || epoch < 0 || epoch >= Number.MAX_SAFE_INTEGER) {
    throw new MimelogError('search_engine', `source ${source}: its lease document has epoch ${JSON.stringify(epoch)}, not a whole number that can grow: fix or delete the document (its checkpoints first)`);
  }
  const leaseMs = doc.lease_ms as unknown;
  return {
    ...doc,
    history: Array.isArray(doc.history) ? doc.history.slice(-HISTORY_SIZE) : [],
    lease_ms: typeof leaseMs === 'number' && leaseMs > 0 && leaseMs <= MAX_LEASE_MS ? leaseMs : 0,
    handovers: Number.isSafeInteger(doc.handovers) ? doc.handovers : 0,
    checkpoints: doc.checkpoints !== null && typeof doc.checkpoints === 'object' && !Array.isArray(doc.checkpoints) ? doc.checkpoints : {},
  };
}

export const sourceDocId = (source: string): string => `source:${source}`;

/** The lease is gone: someone else claimed it, or it ran out before it could be renewed. The source must stop at once. */
export class LeaseLost extends MimelogError {
  constructor(
    readonly source: string,
    reason: string,
  ) {
    super('search_engine', `lease of source ${source} lost: ${reason}`);
  }
}

export interface LeaseOptions {
  readonly replica: string;
  readonly leaseMs: number;
  /** A monotonic clock in ms (tests pass their own). */
  readonly now?: () => number;
}

/** What a replica sees of a source's lease. */
export interface LeaseStatus {
  readonly source: string;
  readonly owner: string | null;
  readonly epoch: number;
  /** free: no owner; mine: this replica's id (a previous run of it); expired: unchanged for the lease time; held: someone renews it. */
  readonly state: 'free' | 'mine' | 'expired' | 'held';
  /** How long the document has stood at this version, as this replica measured it. */
  readonly unchangedForMs: number;
}

const monotonic = () => performance.now();

export class LeaseBook {
  /** Per source: the version last seen and since when (this replica's clock). */
  private readonly seen = new Map<string, { version: Version; sinceMs: number; firstLook: boolean }>();
  readonly now: () => number;
  /** This process (a new one per start): see SourceDoc.owner_run. */
  readonly run = randomUUID();

  constructor(
    readonly index: StateIndex,
    readonly options: LeaseOptions,
  ) {
    this.now = options.now ?? monotonic;
  }

  get replica(): string {
    return this.options.replica;
  }

  /** Creates the source's document unless it exists (free, epoch 0). */
  async register(source: string): Promise<void> {
    const doc: SourceDoc = { kind: 'source', source, owner: null, epoch: 0, lease_ms: this.options.leaseMs, renewed_at: null, handovers: 0, history: [], checkpoints: {} };
    await this.index.create(sourceDocId(source), doc);
  }

  /** Reads the lease and judges it (see the file's comment for the time that is trusted). */
  async inspect(source: string): Promise<LeaseStatus & { doc: SourceDoc; version: Version }> {
    const read = await this.index.get<SourceDoc>(sourceDocId(source));
    if (!read) throw new MimelogError('search_engine', `state index ${this.index.name}: source ${source} has no document (register it first)`);
    const doc = checkedDoc(source, read.doc);
    const now = this.now();
    const last = this.seen.get(source);
    const unchanged = last !== undefined && sameVersion(last.version, read.version);
    const since = unchanged ? last.sinceMs : now;
    // This process's first look at the document (the version has not moved since): a document
    // naming this replica then was left by its previous process.
    const firstLook = last === undefined || (unchanged && last.firstLook);
    this.seen.set(source, { version: read.version, sinceMs: since, firstLook });
    const unchangedForMs = now - since;
    const leaseMs = Math.max(this.options.leaseMs, doc.lease_ms);
    const mine = doc.owner === this.replica && (doc.owner_run === this.run || firstLook);
    const state = doc.owner === null ? 'free' : mine ? 'mine' : unchangedForMs >= leaseMs ? 'expired' : 'held';
    return { source, owner: doc.owner, epoch: doc.epoch, state, unchangedForMs, doc, version: read.version };
  }

  /**
   * Claims the source when its lease is free, this replica's, or expired; undefined when it is
   * held, or another replica's claim got there first.
   */
  async claim(source: string): Promise<HeldLease | undefined> {
    const seen = await this.inspect(source);
    if (seen.state === 'held') return undefined;
    const sentAt = this.now();
    const { doc } = seen;
    const epoch = doc.epoch + 1;
    const taken = doc.owner !== null && doc.owner !== this.replica ? doc.owner : undefined;
    const record: ClaimRecord = { epoch, owner: this.replica, at: new Date().toISOString(), ...(taken ? { from: taken } : {}) };
    const next: SourceDoc = {
      ...doc, owner: this.replica, owner_run: this.run, epoch, lease_ms: this.options.leaseMs, renewed_at: record.at,
      handovers: doc.handovers + (taken ? 1 : 0), history: [...doc.history, record].slice(-HISTORY_SIZE),
    };
    let out = await this.index.replace(sourceDocId(source), next, seen.version);
    if (!out.ok) {
      // Refused, or this very claim went through and its answer was lost (the client sends a
      // request again to the next node after a timeout: the second copy meets the first's version).
      const now = await this.index.get<SourceDoc>(sourceDocId(source));
      if (!now || now.doc.owner_run !== this.run || now.doc.epoch !== epoch) return undefined;
      out = { ok: true, version: now.version };
    }
    this.seen.set(source, { version: out.version, sinceMs: this.now(), firstLook: false });
    return new HeldLease(this, next, out.version, sentAt);
  }
}

/** A lease this replica holds. Every write goes through it, one at a time, conditional on the last version it wrote. */
export class HeldLease {
  private chain: Promise<unknown> = Promise.resolve();
  private lostReason: string | undefined;
  private readonly lostListeners: ((reason: string) => void)[] = [];
  /** Fires when the lease time runs out by this replica's clock: the source stops then, not at its next write. */
  private expiry: NodeJS.Timeout | undefined;
  /** When it was claimed, on this replica's clock. */
  readonly claimedAtMs: number;

  constructor(
    private readonly book: LeaseBook,
    private current: SourceDoc,
    private version: Version,
    /** When the last successful write was sent (this replica's clock): the lease runs from there. */
    private confirmedAtMs: number,
  ) {
    this.claimedAtMs = book.now();
    this.armExpiry();
  }

  /**
   * Loses the lease once its time ran out (a claimant may run the source from then on), however
   * long a renewal hangs; re-armed by every successful write. A claim answered after the lease
   * time is born lost.
   */
  private armExpiry(): void {
    clearTimeout(this.expiry);
    if (this.lostReason !== undefined) return;
    const left = this.remainingMs();
    if (left <= 0) return this.markLost(`not renewed within the lease time (${this.book.options.leaseMs} ms)`);
    this.expiry = setTimeout(() => this.armExpiry(), Math.ceil(left) + 1);
    this.expiry.unref();
  }

  get source(): string {
    return this.current.source;
  }

  get epoch(): number {
    return this.current.epoch;
  }

  get doc(): SourceDoc {
    return this.current;
  }

  get lost(): string | undefined {
    return this.lostReason;
  }

  /** How long the lease still holds by this replica's clock (≤ 0: it may be someone else's by now). */
  remainingMs(): number {
    return this.book.options.leaseMs - (this.book.now() - this.confirmedAtMs);
  }

  /** Since the last successful write (renewal or checkpoint), on this replica's clock. */
  ageMs(): number {
    return this.book.now() - this.confirmedAtMs;
  }

  onLost(listener: (reason: string) => void): void {
    if (this.lostReason !== undefined) listener(this.lostReason);
    else this.lostListeners.push(listener);
  }

  /** Rewrites the document: the lease runs for another lease time. */
  renew(): Promise<void> {
    return this.change((doc) => ({ ...doc, lease_ms: this.book.options.leaseMs, renewed_at: new Date().toISOString() }));
  }

  /**
   * Moves checkpoints, refused (LeaseLost) unless this lease is still the newest claim. `extra`
   * gives further fields of the document (a source's books, src/cluster/books.ts) from the
   * document as it stands, written in the same conditional write.
   */
  commit(checkpoints: Readonly<Record<string, Omit<CheckpointSnapshot, 'epoch'>>>, extra?: (doc: SourceDoc) => Readonly<Record<string, unknown>>): Promise<void> {
    const stamped = Object.fromEntries(Object.entries(checkpoints).map(([k, c]) => [k, { ...c, epoch: this.epoch }]));
    return this.change((doc) => ({ ...doc, ...extra?.(doc), checkpoints: { ...doc.checkpoints, ...stamped } }));
  }

  /** Gives the lease up (anyone may claim it at once); the checkpoints stay. */
  async release(): Promise<void> {
    if (this.lostReason !== undefined) return;
    await this.change((doc) => ({ ...doc, owner: null, renewed_at: new Date().toISOString() }));
    this.markLost('released');
  }

  /** Stops every write of this lease (it is gone, or the replica gives the source up). */
  markLost(reason: string): void {
    if (this.lostReason !== undefined) return;
    this.lostReason = reason;
    clearTimeout(this.expiry);
    for (const l of this.lostListeners.splice(0)) l(reason);
  }

  /** One conditional write after the previous one; refused → the lease is lost. */
  private change(next: (doc: SourceDoc) => SourceDoc): Promise<void> {
    const run = this.chain.catch(() => undefined).then(() => this.write(next));
    this.chain = run;
    return run;
  }

  private async write(next: (doc: SourceDoc) => SourceDoc): Promise<void> {
    const source = this.source;
    if (this.lostReason !== undefined) throw new LeaseLost(source, this.lostReason);
    if (this.remainingMs() <= 0) return this.lose(`not renewed within the lease time (${this.book.options.leaseMs} ms)`);
    for (let attempt = 0; attempt < 2; attempt++) {
      const sentAt = this.book.now();
      const doc = next(this.current);
      const out = await this.book.index.replace(sourceDocId(source), doc, this.version);
      if (out.ok) {
        this.current = doc;
        this.version = out.version;
        this.confirmedAtMs = sentAt;
        this.armExpiry();
        return;
      }
      // Refused: someone claimed it since, or an earlier write of ours went through although its
      // answer was lost (then the document still names this owner and epoch: go on from it).
      const now = await this.book.index.get<SourceDoc>(sourceDocId(source));
      if (!now || now.doc.owner !== this.book.replica || now.doc.epoch !== this.epoch || now.doc.owner_run !== this.book.run) {
        return this.lose(now ? `the engine refused a write of epoch ${this.epoch}: ${now.doc.owner ?? 'nobody'} holds epoch ${now.doc.epoch}` : 'its document is gone');
      }
      this.current = checkedDoc(source, now.doc);
      this.version = now.version;
    }
    return this.lose('the engine kept refusing its writes');
  }

  private lose(reason: string): never {
    this.markLost(reason);
    throw new LeaseLost(this.source, reason);
  }
}
