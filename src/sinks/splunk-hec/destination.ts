/**
 * Splunk HEC as a destination. A unit's events become HEC event lines, packed into requests
 * bounded by events and bytes, each gzipped and POSTed to `/services/collector/event`.
 *
 * With indexer acknowledgement (the default) a request's events count as delivered only once
 * the ack endpoint says its ackId is `true`; an ack that does not come within `ackTimeoutMs` makes
 * the request go again (a new ackId), busy and unreachable answers are waited out with back-off,
 * and either way the events count as `resent`. Past `giveUpMs` since a request was first sent,
 * deliver() rejects: the run stops and nothing is checkpointed. A request refused for its data is
 * split to find the event at fault, which becomes a dead letter with HEC's reason. Without
 * acknowledgement an HTTP 200 is all there is, and the destination said so when it opened.
 */
import type { Logger } from '../../log/logger.js';
import { batches } from '../batches.js';
import type { Unit } from '../../core/unit.js';
import type { PreparedDeadLetter } from '../../store/prepared.js';
import { backoffDelay, sleep } from '../../util/backoff.js';
import { MimelogError } from '../../util/errors.js';
import { Slots } from '../../util/slots.js';
import { type Destination, type DestinationReport, refusedEvent } from '../destination.js';
import type { AckPoller } from './acks.js';
import { type HecClient, HecUnreachable } from './client.js';
import { EVENT_PATH, type HecAnswer, type HecMetadata, actionOf, describeAnswer, eventLine } from './protocol.js';

export interface HecOptions {
  readonly metadata: HecMetadata;
  readonly maxEvents: number;
  readonly maxBytes: number;
  /** Requests sent and not yet acknowledged, across units. */
  readonly inFlight: number;
  readonly ackTimeoutMs: number;
  readonly retryBaseMs: number;
  readonly retryMaxMs: number;
  readonly giveUpMs: number;
}

/** Who must act when the destination stops: the Splunk side or the destination's settings. */
export function hecError(message: string, options?: ErrorOptions): MimelogError {
  return new MimelogError('output', `splunk-hec destination: ${message}`, options);
}

/** One event's line, and where it sits in its unit. */
interface Line {
  readonly slot: number;
  readonly text: string;
  readonly bytes: number;
}

type Tally = { indexed: number; duplicates: number; resent: number; collisions: never[]; rejected: PreparedDeadLetter[] };

/** What became of one request. */
type Sent =
  | { readonly kind: 'delivered' }
  | { readonly kind: 'again'; readonly reason: string; readonly wait: boolean }
  | { readonly kind: 'refused'; readonly answer: HecAnswer };

export class HecDestination implements Destination {
  private readonly slots: Slots;
  /** The first error that stopped delivery: every later request fails with it at once. */
  private fatal: Error | undefined;
  private readonly closing = new AbortController();

  constructor(
    readonly name: string,
    private readonly client: HecClient,
    /** Undefined without indexer acknowledgement (`ack: false`). */
    private readonly acks: AckPoller | undefined,
    private readonly o: HecOptions,
    private readonly log: Logger,
  ) {
    this.slots = new Slots(Math.max(1, o.inFlight));
  }

  async deliver(unit: Unit): Promise<DestinationReport> {
    const lines: Line[] = unit.events.map((e, slot) => {
      const text = eventLine(e, this.o.metadata, unit.source);
      return { slot, text, bytes: Buffer.byteLength(text) + 1 };
    });
    const tally: Tally = { indexed: 0, duplicates: 0, resent: 0, collisions: [], rejected: [] };
    await Promise.all(batches(lines, this.o.maxEvents, this.o.maxBytes, (l) => l.bytes).map((b) => this.deliverBatch(b, unit, tally)));
    return tally;
  }

  async close(): Promise<void> {
    this.closing.abort();
    this.acks?.close();
    await this.client.close();
  }

  /** Sends one request's events until each is indexed or dead-lettered. */
  private async deliverBatch(lines: Line[], unit: Unit, tally: Tally): Promise<void> {
    const started = Date.now();
    let attempt = 0;
    for (let sends = 0; ; sends++) {
      if (sends > 0) tally.resent += lines.length;
      const sent = await this.slots.run(() => this.sendOnce(lines));
      if (sent.kind === 'delivered') {
        tally.indexed += lines.length;
        return;
      }
      if (sent.kind === 'refused') return this.split(lines, sent.answer, unit, tally);
      const waited = Date.now() - started;
      if (waited > this.o.giveUpMs) {
        throw this.stop(hecError(`Splunk did not acknowledge ${lines.length} events for ${Math.round(waited / 1000)} s (last: ${sent.reason}); nothing after the last delivered unit was checkpointed`));
      }
      const delay = sent.wait ? backoffDelay(attempt++, { baseMs: this.o.retryBaseMs, maxMs: this.o.retryMaxMs }) : 0;
      this.log.warn('splunk-hec: sending again', { destination: this.name, events: lines.length, reason: sent.reason, delay_ms: delay });
      if (delay > 0 && !(await sleep(delay, this.closing.signal))) throw this.stop(hecError('closed while events were waiting to be sent again'));
    }
  }

  /** One POST and, with acknowledgement, the wait for its ack. */
  private async sendOnce(lines: Line[]): Promise<Sent> {
    if (this.fatal) throw this.fatal;
    let answer: HecAnswer;
    try {
      answer = await this.client.post(EVENT_PATH, lines.map((l) => l.text).join('\n'), true);
    } catch (err) {
      if (!(err instanceof HecUnreachable)) throw err;
      if (err.tls) throw this.stop(hecError(`TLS with ${this.client.origin} failed: ${err.message} (check ca_file, or the collector's certificate)`));
      return { kind: 'again', reason: err.message, wait: true };
    }
    if (this.fatal) throw this.fatal;
    switch (actionOf(answer)) {
      case 'retry':
        return { kind: 'again', reason: describeAnswer(answer), wait: true };
      case 'refused':
        return { kind: 'refused', answer };
      case 'stop':
        throw this.stop(hecError(`${this.client.origin} refused the events: ${describeAnswer(answer)}`));
      case 'ok':
        break;
    }
    if (!this.acks) return { kind: 'delivered' };
    if (answer.ackId === undefined) {
      throw this.stop(hecError(`${this.client.origin} accepted the events but gave no ackId (${describeAnswer(answer)}): the token has no indexer acknowledgement, or a proxy answered instead of HEC. Enable indexer acknowledgement on the token (Settings > Data inputs > HTTP Event Collector > the token > Enable indexer acknowledgement), or set ack: false to count HTTP 200 as delivered`));
    }
    const outcome = await this.acks.wait(answer.ackId, this.o.ackTimeoutMs).catch((err: Error) => {
      throw this.stop(err);
    });
    if (outcome === 'indexed') return { kind: 'delivered' };
    return { kind: 'again', reason: `ack ${answer.ackId} still not true after ${Math.round(this.o.ackTimeoutMs / 1000)} s`, wait: false };
  }

  /**
   * A request refused for its data. One event: a dead letter with HEC's reason. More: sent again
   * in parts, around the event HEC named when it said one, else in halves, so the event at fault
   * is found in at most about 2 × log2(n) more requests per bad event.
   */
  private async split(lines: Line[], answer: HecAnswer, unit: Unit, tally: Tally): Promise<void> {
    if (lines.length === 1) {
      const e = unit.events[lines[0]!.slot]!;
      const reason = `Splunk HEC ${this.client.origin} refused event ${e.id}: ${describeAnswer(answer)}`;
      this.log.warn('splunk-hec: event refused, dead-lettered', { destination: this.name, id: e.id, reason: describeAnswer(answer) });
      tally.rejected.push(refusedEvent(unit, e, reason));
      return;
    }
    const k = answer.invalidEvent;
    const parts = k !== undefined && k < lines.length
      ? [lines.slice(0, k), lines.slice(k, k + 1), lines.slice(k + 1)]
      : [lines.slice(0, lines.length >> 1), lines.slice(lines.length >> 1)];
    // Sent again, part by part: events before the bad one may already be in Splunk (the id in `fields` tells).
    for (const part of parts.filter((p) => p.length > 0)) {
      tally.resent += part.length;
      await this.deliverBatch(part, unit, tally);
    }
  }

  /** Remembers the first error that stops delivery, so requests in flight end with it too. */
  private stop(err: Error): Error {
    this.fatal ??= err;
    return this.fatal;
  }
}
