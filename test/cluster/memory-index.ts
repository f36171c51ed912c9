/** An in-memory stand-in for the state index (src/cluster/state-index.ts): the engine's conditional writes, no engine. */
import { type HeldLease, LeaseBook, type SourceDoc } from '../../src/cluster/leases.js';
import type { ListOptions, Listed, StateIndex, Version, Versioned, WriteOutcome } from '../../src/cluster/state-index.js';
import { MimelogError } from '../../src/util/errors.js';

/** The engine's conditional writes, in memory. `hold()` makes writes hang until `release()`. */
export class MemoryIndex {
  readonly name = 'memory-state';
  private readonly docs = new Map<string, { json: string; seqNo: number }>();
  private seq = 0;
  private gate: Promise<void> | undefined;
  private failures = 0;
  private lostAnswers = 0;
  private open: (() => void) | undefined;

  hold(): void {
    this.gate = new Promise((resolve) => (this.open = resolve));
  }
  release(): void {
    this.open?.();
    this.gate = undefined;
  }
  /**
   * The next conditional write goes through, but its answer is lost: the client sends it again to
   * the next node, whose copy meets the first's version and is refused (HTTP 409).
   */
  loseNextAnswer(): void {
    this.lostAnswers = 1;
  }
  /** The next `n` conditional writes fail as a busy engine fails them (HTTP 503, nothing written). */
  failNext(n = 1): void {
    this.failures = n;
  }

  async ensure(): Promise<void> {}
  async get<T>(id: string): Promise<Versioned<T> | undefined> {
    const d = this.docs.get(id);
    return d && { doc: JSON.parse(d.json) as T, version: { seqNo: d.seqNo, primaryTerm: 1 } };
  }
  async create(id: string, doc: object): Promise<WriteOutcome> {
    await this.gate;
    if (this.docs.has(id)) return { ok: false };
    return this.store(id, doc);
  }
  async replace(id: string, doc: object, version: Version): Promise<WriteOutcome> {
    await this.gate;
    if (this.failures > 0) {
      this.failures--;
      throw new MimelogError('search_engine', `state index ${this.name} on http://memory: could not write: HTTP 503`);
    }
    const d = this.docs.get(id);
    if (!d || d.seqNo !== version.seqNo || version.primaryTerm !== 1) return { ok: false };
    const out = this.store(id, doc);
    if (this.lostAnswers > 0) {
      this.lostAnswers--;
      return { ok: false };
    }
    return out;
  }
  async put(id: string, doc: object): Promise<Version> {
    return (this.store(id, doc) as { version: Version }).version;
  }
  /** Which listed documents a search shows (a test hides some, as a stale replica's view of the index would). */
  listFilter: (doc: { kind?: string; replica?: string }) => boolean = () => true;
  async list<T>(kind: string, o: ListOptions = {}): Promise<Listed<T>> {
    const all = [...this.docs].map(([id, d]) => ({ id, doc: JSON.parse(d.json) as T & { kind?: string }, version: { seqNo: d.seqNo, primaryTerm: 1 } }))
      .filter((v) => v.doc.kind === kind && this.listFilter(v.doc))
      .sort((a, b) => (o.order === 'oldest' ? a.version.seqNo - b.version.seqNo : b.version.seqNo - a.version.seqNo));
    return { hits: all.slice(0, o.size ?? 1_000), total: all.length };
  }
  async removeIf(items: readonly { id: string; version: Version }[]): Promise<number> {
    const gone = items.filter(({ id, version }) => this.docs.get(id)?.seqNo === version.seqNo);
    for (const { id } of gone) this.docs.delete(id);
    return gone.length;
  }
  /** The index deleted and created again (by hand, or by a replica that found none): empty, its sequence numbers from 0. */
  recreate(): void {
    this.docs.clear();
    this.seq = 0;
  }
  /** One document deleted by hand. */
  remove(id: string): void {
    this.docs.delete(id);
  }
  /** A hand edit (an operator, a bug elsewhere, a hostile writer). */
  edit(id: string, change: (doc: SourceDoc) => object): void {
    const d = this.docs.get(id)!;
    this.store(id, change(JSON.parse(d.json) as SourceDoc));
  }
  private store(id: string, doc: object): WriteOutcome {
    const seqNo = this.seq++;
    this.docs.set(id, { json: JSON.stringify(doc), seqNo });
    return { ok: true, version: { seqNo, primaryTerm: 1 } };
  }
}

/** A source registered in `index` and claimed by `replica` (a new process of it each call), with a 30 s lease. */
export async function claimedLease(index: MemoryIndex, source = 's', replica = 'a'): Promise<HeldLease> {
  const book = new LeaseBook(index as unknown as StateIndex, { replica, leaseMs: 30_000 });
  await book.register(source);
  return (await book.claim(source))!;
}
