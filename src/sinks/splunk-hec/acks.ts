/**
 * Indexer acknowledgement: the ack ids of requests HEC accepted on this process's channel, asked
 * about together (`POST /services/collector/ack {"acks":[...]}`) every poll interval while any is
 * pending. A request's events count as indexed only when its id comes back `true`. An id still
 * pending when its bound passes is given up (its request is sent again by the caller). An ack
 * endpoint that answers 4xx stops everything: HTTP 200 alone is never taken for indexed.
 */
import type { Logger } from '../../log/logger.js';
import { sleep } from '../../util/backoff.js';
import { type HecClient, HecUnreachable } from './client.js';
import { ACK_PATH, actionOf, describeAnswer } from './protocol.js';

export type AckOutcome = 'indexed' | 'timeout';

interface Waiter {
  readonly deadline: number;
  readonly resolve: (outcome: AckOutcome) => void;
  readonly reject: (err: Error) => void;
}

/** Ids asked in one ack request at most (Splunk takes lists; this keeps a request small). */
const MAX_IDS_PER_QUERY = 1000;

export class AckPoller {
  private readonly waiting = new Map<number, Waiter>();
  private polling = false;
  private failure: Error | undefined;
  private readonly stop = new AbortController();

  constructor(
    private readonly client: HecClient,
    private readonly pollMs: number,
    private readonly stopped: (message: string) => Error,
    private readonly log: Logger,
  ) {}

  /** Resolves `indexed` when HEC says the id is indexed, `timeout` when `timeoutMs` passes first. */
  wait(ackId: number, timeoutMs: number): Promise<AckOutcome> {
    if (this.failure) return Promise.reject(this.failure);
    return new Promise<AckOutcome>((resolve, reject) => {
      const earlier = this.waiting.get(ackId);
      if (earlier) {
        // Its ack can no longer be told from this one's: it goes again rather than wait for ever.
        this.log.warn(`splunk-hec: ackId ${ackId} was given to a second request while the first still waited; the first is sent again. A load balancer must keep each X-Splunk-Request-Channel on one HEC instance (or HEC restarted)`);
        earlier.resolve('timeout');
      }
      this.waiting.set(ackId, { deadline: Date.now() + timeoutMs, resolve, reject });
      if (!this.polling) void this.poll();
    });
  }

  /** Ends the polling; waiters still pending are told `err`. */
  close(err: Error = this.stopped('closed while acknowledgements were pending')): void {
    this.stop.abort();
    this.fail(err);
  }

  private fail(err: Error): void {
    this.failure ??= err;
    for (const w of this.waiting.values()) w.reject(err);
    this.waiting.clear();
  }

  private async poll(): Promise<void> {
    this.polling = true;
    let unreachableSaid = false;
    try {
      while (this.waiting.size > 0 && !this.stop.signal.aborted) {
        if (!(await sleep(this.pollMs, this.stop.signal))) return;
        const ids = [...this.waiting.keys()].slice(0, MAX_IDS_PER_QUERY);
        try {
          await this.query(ids);
          unreachableSaid = false;
        } catch (err) {
          if (!(err instanceof HecUnreachable)) throw err;
          // Waiters keep their deadlines: an ack endpoint that stays away ends in re-sends, then the give-up bound.
          if (!unreachableSaid) this.log.warn('splunk-hec: the ack endpoint did not answer; asking again', { reason: err.message });
          unreachableSaid = true;
        }
        this.expire();
      }
    } catch (err) {
      this.fail(err as Error);
    } finally {
      this.polling = false;
    }
  }

  /** Asks about `ids`; settles the indexed ones. Throws the stop error on a 4xx. */
  private async query(ids: number[]): Promise<void> {
    const answer = await this.client.post(ACK_PATH, JSON.stringify({ acks: ids }), false);
    const action = actionOf(answer);
    if (action === 'retry') return;
    if (action !== 'ok' || answer.acks === undefined) {
      throw this.stopped(`the ack endpoint answered ${describeAnswer(answer)}; the events are not counted as delivered (HTTP 200 alone does not say they were indexed)`);
    }
    for (const [id, done] of answer.acks) {
      if (!done) continue;
      const w = this.waiting.get(id);
      this.waiting.delete(id);
      w?.resolve('indexed');
    }
  }

  private expire(): void {
    const now = Date.now();
    for (const [id, w] of this.waiting) {
      if (w.deadline > now) continue;
      this.waiting.delete(id);
      w.resolve('timeout');
    }
  }
}
