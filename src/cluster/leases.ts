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
 * the document (`renewed_at`, the history) are for people only. The owner uses only OWNER_SHARE of
 * its lease, and counts the time since its last write by the larger of its monotonic and its wall
 * clock (a suspended machine's monotonic clock stands still): docs/cluster.md gives the bound.
 *
 * Whose document: a deployment marker (`deployment`, a random id made when the index was first
 * used, and every source ever registered) lets a replica notice an index deleted or re-created
 * under it, and a source document missing although the deployment had it; each source document
 * carries the digest of the account the source reads (never a secret), so a second deployment
 * on the same engine with the same source names is refused instead of sharing the leases.
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
  /** An API 2.0 batch stream only: the files of the page in progress that are finished (its work queue; checkpoints.ts). */
  readonly items?: Readonly<Record<string, 'done' | 'dead'>>;
  /** The lease epoch it was written under. */
  readonly epoch: number;
  /**
   * The checkpoint before it: the engine's copy moves before the local store commits, so a
   * replica whose store does not hold the newest one starts from this one (the last unit is done
   * again; its events are recognised by their ids) and the unit's local bookkeeping is not lost.
   * null: none before it (that replica starts from the source's start); absent: written by an
   * older mimelog (the checkpoint itself is used).
   */
  readonly previous?: Omit<CheckpointSnapshot, 'previous'> | null;
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
  /** A digest of the account the source reads (its API and credential id, cli/source-account.ts accountDigest; no secret): whose document it is. */
  readonly account?: string;
}

/** The deployment marker: which deployment the index belongs to, and every source it ever registered. */
export interface DeploymentDoc {
  readonly kind: 'deployment';
  readonly id: string;
  readonly created_at: string;
  readonly sources: readonly string[];
}

export const DEPLOYMENT_DOC_ID = 'deployment';

/**
 * The share of the lease time the owner uses: it stops its sources and its writes once this much
 * of it passed since its last write was sent (by its own clocks), while a claimant waits the whole
 * lease time by its own. The rest covers clock rates that differ by up to 20 %, a timer that fires
 * late, and a suspend of up to a fifth of the lease the wall clock does not notice.
 */
export const OWNER_SHARE = 0.8;

const HISTORY_SIZE = 50;
/** The longest lease any replica's config can ask for: a document's `lease_ms` beyond it is not believed. */
export const MAX_LEASE_MS = setting('leaseS').max * 1000;

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

/**
 * The state index no longer holds what this deployment wrote (deleted or re-created: its epochs
 * and versions start again, so fencing cannot hold), or a document is not this deployment's.
 * Nothing may go on from there by itself: the replica stops its sources and says what to do.
 */
export class StateIndexMismatch extends MimelogError {
  constructor(message: string) {
    super('search_engine', message);
  }
}

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
  /** The wall clock in ms: the owner's lease also ends when it moved a lease on (a suspended machine). */
  readonly wall?: () => number;
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
  readonly wall: () => number;
  /** Per registered source: the digest of its account, stamped on its document and checked on every read. */
  private readonly accounts = new Map<string, string | undefined>();
  /** The deployment this process joined (the marker's id): a different one later is an index re-created under it. */
  deployment: string | undefined;
  /** This process (a new one per start): see SourceDoc.owner_run. */
  readonly run = randomUUID();

  constructor(
    readonly index: StateIndex,
    readonly options: LeaseOptions,
  ) {
    this.now = options.now ?? monotonic;
    this.wall = options.wall ?? Date.now;
  }

  get replica(): string {
    return this.options.replica;
  }

  /**
   * Joins the deployment whose marker the index holds, creating it on the index's first use.
   * `remembered`: the deployment this replica's store joined before: a marker missing or another
   * one means the index was deleted or re-created, and is refused.
   */
  async joinDeployment(remembered?: string): Promise<string> {
    let read = await this.index.get<DeploymentDoc>(DEPLOYMENT_DOC_ID);
    if (!read && remembered === undefined) {
      const marker: DeploymentDoc = { kind: 'deployment', id: randomUUID(), created_at: new Date().toISOString(), sources: [] };
      await this.index.create(DEPLOYMENT_DOC_ID, marker); // refused when another replica made it first: read theirs
      read = await this.index.get<DeploymentDoc>(DEPLOYMENT_DOC_ID);
    }
    const id = read?.doc.id;
    if (typeof id !== 'string' || (remembered !== undefined && id !== remembered)) throw this.gone(remembered ?? '(none)', id);
    this.deployment = id;
    return id;
  }

  /** Throws StateIndexMismatch unless the index still holds the marker this process joined (each round). */
  async checkDeployment(): Promise<void> {
    const read = await this.index.get<DeploymentDoc>(DEPLOYMENT_DOC_ID);
    if (this.deployment === undefined || read?.doc.id !== this.deployment) throw this.gone(this.deployment ?? '(none)', read?.doc.id);
  }

  private gone(joined: string, found: string | undefined): StateIndexMismatch {
    return new StateIndexMismatch(`state index ${this.index.name} is not the one this replica's deployment used (deployment ${joined}; the index holds ${found === undefined ? 'no deployment marker' : `deployment ${found}`}): it was deleted or re-created, so its leases, epochs and checkpoints are gone and fencing cannot hold. Restore the index from a snapshot; or, to start the cluster's state over knowingly, stop every replica and remove each one's ${'`<store>.cluster.json`'}`);
  }

  /**
   * Creates the source's document unless it exists (free, epoch 0), then lists the source in the
   * deployment marker (in that order: a listed source always had its document). A source listed
   * there whose document is missing was deleted: refused, never silently started over.
   */
  async register(source: string, account?: string): Promise<void> {
    this.accounts.set(source, account);
    if (this.deployment === undefined) await this.joinDeployment();
    const marker = await this.index.get<DeploymentDoc>(DEPLOYMENT_DOC_ID);
    if (!marker || marker.doc.id !== this.deployment) return this.checkDeployment();
    const listed = Array.isArray(marker.doc.sources) && marker.doc.sources.includes(source);
    const existing = await this.index.get<SourceDoc>(sourceDocId(source));
    if (existing) this.checkAccount(source, existing.doc);
    else if (listed) throw this.missing(source);
    else {
      const doc: SourceDoc = { kind: 'source', source, owner: null, epoch: 0, lease_ms: this.options.leaseMs, renewed_at: null, handovers: 0, history: [], checkpoints: {}, ...(account ? { account } : {}) };
      await this.index.create(sourceDocId(source), doc);
    }
    if (!listed) await this.list(source);
  }

  /** Adds the source to the marker's list (conditional, again on a refusal: other replicas add theirs). */
  private async list(source: string): Promise<void> {
    for (let attempt = 0; attempt < 20; attempt++) {
      const read = await this.index.get<DeploymentDoc>(DEPLOYMENT_DOC_ID);
      if (!read || read.doc.id !== this.deployment) return this.checkDeployment();
      const sources = Array.isArray(read.doc.sources) ? read.doc.sources : [];
      if (sources.includes(source)) return;
      if ((await this.index.replace(DEPLOYMENT_DOC_ID, { ...read.doc, sources: [...sources, source] }, read.version)).ok) return;
    }
    throw new MimelogError('search_engine', `state index ${this.index.name}: could not list source ${source} in the deployment marker (refused 20 times)`);
  }

  private missing(source: string): StateIndexMismatch {
    return new StateIndexMismatch(`state index ${this.index.name}: the document of source ${source} is gone, although this deployment had it (its lease epoch and checkpoints with it): restore it from a snapshot; a source is never started over silently. To start it over knowingly, rename the source`);
  }

  /** Refuses a document another deployment's source wrote (another account behind the same source name). */
  private checkAccount(source: string, doc: SourceDoc): void {
    const mine = this.accounts.get(source);
    if (mine === undefined || doc.account === undefined || doc.account === mine) return;
    throw new StateIndexMismatch(`state index ${this.index.name}: source ${source}'s document belongs to a deployment reading another Mimecast account (account digest ${String(doc.account).slice(0, 16)}, this source's ${mine}): two deployments on one engine need a cluster.state_index each; if this source now reads another account or credential, give it a new name`);
  }

  /** Reads the lease and judges it (see the file's comment for the time that is trusted). */
  async inspect(source: string): Promise<LeaseStatus & { doc: SourceDoc; version: Version }> {
    const read = await this.index.get<SourceDoc>(sourceDocId(source));
    if (!read) throw this.missing(source); // registered first, so it existed
    const doc = checkedDoc(source, read.doc);
    this.checkAccount(source, doc);
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
    const [sentAt, sentWall] = [this.now(), this.wall()];
    const { doc } = seen;
    const epoch = doc.epoch + 1;
    const taken = doc.owner !== null && doc.owner !== this.replica ? doc.owner : undefined;
    const record: ClaimRecord = { epoch, owner: this.replica, at: new Date().toISOString(), ...(taken ? { from: taken } : {}) };
    const account = this.accounts.get(source);
    const next: SourceDoc = {
      ...doc, ...(account ? { account } : {}), owner: this.replica, owner_run: this.run, epoch, lease_ms: this.options.leaseMs, renewed_at: record.at,
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
    return new HeldLease(this, next, out.version, sentAt, sentWall);
  }
}

/** Whether two checkpoints say the same place to read from (what restoring one writes into the store). */
function samePlace(a: Omit<CheckpointSnapshot, 'previous'>, b: Omit<CheckpointSnapshot, 'epoch' | 'previous'>): boolean {
  const place = (c: typeof b) => JSON.stringify([c.kind, c.position, c.cursor, c.complete, c.items ?? null]);
  return place(a) === place(b);
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
    /** The same on the wall clock (a suspend moves it, not the monotonic clock). */
    private confirmedAtWall: number,
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
    if (left <= 0) return this.markLost(this.expiredReason());
    // Looked at again at least every second: after a suspend the monotonic timer would fire late, the wall clock says it at once.
    this.expiry = setTimeout(() => this.armExpiry(), Math.min(Math.ceil(left) + 1, 1_000));
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

  /** How long this owner may still run the source and write (≤ 0: it stops; OWNER_SHARE of the lease). */
  remainingMs(): number {
    return this.book.options.leaseMs * OWNER_SHARE - this.ageMs();
  }

  /** Since the last successful write was sent (renewal or checkpoint): the larger of the monotonic and the wall clock's count. */
  ageMs(): number {
    return Math.max(this.book.now() - this.confirmedAtMs, this.book.wall() - this.confirmedAtWall);
  }

  private expiredReason(): string {
    return `not renewed within the lease time (the owner's ${OWNER_SHARE * 100} % of ${this.book.options.leaseMs} ms)`;
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
   * Moves checkpoints, refused (LeaseLost) unless this lease is still the newest claim. Each keeps
   * the one it replaces as `previous` (see CheckpointSnapshot.previous). `extra`: other fields of
   * the document moved in the same conditional write (counts and dead letters kept in the engine).
   */
  commit(checkpoints: Readonly<Record<string, Omit<CheckpointSnapshot, 'epoch' | 'previous'>>>, extra?: (doc: SourceDoc) => Readonly<Record<string, unknown>>): Promise<void> {
    return this.change((doc) => {
      const stamped = Object.fromEntries(Object.entries(checkpoints).map(([k, c]): [string, CheckpointSnapshot] => {
        const replaced = doc.checkpoints[k];
        if (!replaced) return [k, { ...c, epoch: this.epoch, previous: null }];
        const { previous: older, ...before } = replaced; // one step back is kept, not a chain
        // The same place written again (a write sent again after its answer was lost, a unit done
        // again one unit back): the step back stays the one before it, or a second crash skips the unit.
        if (older !== undefined && samePlace(before, c)) return [k, { ...c, epoch: this.epoch, previous: older }];
        return [k, { ...c, epoch: this.epoch, previous: before }];
      }));
      return { ...doc, ...extra?.(doc), checkpoints: { ...doc.checkpoints, ...stamped } };
    });
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
    if (this.remainingMs() <= 0) return this.lose(this.expiredReason());
    for (let attempt = 0; attempt < 2; attempt++) {
      const [sentAt, sentWall] = [this.book.now(), this.book.wall()];
      const doc = next(this.current);
      const out = await this.book.index.replace(sourceDocId(source), doc, this.version);
      if (out.ok) {
        this.current = doc;
        this.version = out.version;
        this.confirmedAtMs = sentAt;
        this.confirmedAtWall = sentWall;
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
