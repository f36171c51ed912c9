/**
 * Sink writes in flight, acknowledged in order: while one unit commits the next is decoded or
 * fetched, and at most `size` are outstanding. A failed write surfaces at the next `push` that
 * waits for it, or at `drain`.
 */
export class AckWindow {
  private readonly pending: Promise<void>[] = [];

  constructor(private readonly size = 2) {}

  async push(acked: Promise<void>): Promise<void> {
    acked.catch(() => undefined); // awaited in order below; this only silences the early warning
    this.pending.push(acked);
    if (this.pending.length >= this.size) await this.pending.shift();
  }

  /** Waits for every write to end, without throwing (for `finally`). */
  async settle(): Promise<void> {
    await Promise.allSettled(this.pending);
  }

  /**
   * Waits for the writes pushed so far and throws the first failure, leaving them in place (a
   * `push` still surfaces a failure; callers that run side by side each wait for all of them).
   */
  async flush(): Promise<void> {
    for (const p of [...this.pending]) await p;
  }

  /** Waits for every write and throws the first failure. */
  async drain(): Promise<void> {
    for (const p of this.pending.splice(0)) await p;
  }
}
