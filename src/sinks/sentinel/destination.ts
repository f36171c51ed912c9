/**
 * Microsoft Sentinel (a Log Analytics workspace) through the Azure Monitor Logs Ingestion API.
 *
 * A unit's events become rows (rows.ts) packed into calls of at most `max_request_bytes` of JSON
 * (the API refuses more than 1 MiB). deliver() resolves when Azure answered 204 to every row, or
 * a row was refused for a reason of its own (a dead letter with Azure's words). Busy answers are
 * waited out; a person is needed for credentials, the role, a wrong DCR or stream: deliver()
 * rejects and nothing is checkpointed. Azure removes no duplicates: a row re-sent after a lost
 * answer or a crash is stored twice, and the KQL in the README keeps one per EventId.
 */
import type { Logger } from '../../log/logger.js';
import type { Unit } from '../../core/unit.js';
import { type Destination, type DestinationReport, refusedEvent } from '../destination.js';
import { MimelogError } from '../../util/errors.js';
import { backoffDelay, sleep } from '../../util/backoff.js';
import { serverWaitMs } from '../../util/rate-budget.js';
import { type EntraToken, TokenUnavailable } from './entra-token.js';
import { type Answer, type IngestionTarget, arrayBody, ingestionUrl, post } from './ingestion.js';
import { rowJson } from './rows.js';
import { Slots } from '../../util/slots.js';
import { batches } from '../batches.js';

export interface SentinelOptions extends IngestionTarget {
  /** A call's JSON body at most (bytes, before gzip: so the compressed body is under it too). */
  readonly maxRequestBytes: number;
  /** Calls in flight at once, across units. */
  readonly concurrency: number;
  /** The longest Retry-After waited (a lying clock or a broken proxy cannot stop the run for days). */
  readonly maxRetryAfterMs: number;
  readonly retryBaseMs: number;
  readonly retryMaxMs: number;
  /** Rows unaccepted this long (busy, unreachable): the run stops. */
  readonly giveUpMs: number;
}

/** Who must act when the destination stops: the settings of the destination or its Azure resources. */
export function sentinelError(message: string): MimelogError {
  return new MimelogError('usage', message);
}

/** One event's row, and where it sits in its unit (for its dead letter). */
interface Row {
  readonly slot: number;
  readonly json: string;
  readonly bytes: number;
}

type Tally = { -readonly [K in keyof DestinationReport]: DestinationReport[K] extends readonly (infer T)[] ? T[] : DestinationReport[K] };

/** A unit's outcomes, and the rows Azure refused alone with 400 (judged once the unit is done). */
interface UnitWork {
  readonly unit: Unit;
  readonly tally: Tally;
  readonly refusedAlone: { row: Row; reason: string }[];
}

/** The bytes of a JSON array of these rows: brackets and commas included. */
const arrayBytes = (rows: readonly Row[]) => rows.reduce((n, r) => n + r.bytes, 2 + Math.max(0, rows.length - 1));

/** Rows in order, packed into calls of at most `max` bytes; a row alone over `max` is not packed (the caller refuses it). */
export function pack<R extends { readonly bytes: number }>(rows: readonly R[], max: number): R[][] {
  // `[a,b,c]` is 2 + the rows + a comma between each: counting each row with one byte more, the
  // array fits in `max` when that count fits in `max - 1`.
  return batches(rows, Infinity, max - 1, (r) => r.bytes + 1);
}

export class SentinelDestination implements Destination {
  private readonly slots: Slots;
  private readonly stop = new AbortController();
  /** Azure has answered 204 at least once: the DCR, stream and shape are right, so a row refused alone is that row's fault. */
  private accepted = false;

  constructor(
    readonly name: string,
    private readonly options: SentinelOptions,
    private readonly token: EntraToken,
    private readonly log: Logger,
  ) {
    this.slots = new Slots(Math.max(1, options.concurrency));
  }

  async deliver(unit: Unit): Promise<DestinationReport> {
    const work: UnitWork = { unit, tally: { indexed: 0, duplicates: 0, resent: 0, collisions: [], rejected: [] }, refusedAlone: [] };
    const rows: Row[] = [];
    unit.events.forEach((e, slot) => {
      const json = rowJson(e);
      const row = { slot, json, bytes: Buffer.byteLength(json) };
      if (arrayBytes([row]) <= this.options.maxRequestBytes) rows.push(row);
      else this.reject(work, row, `its row is ${row.bytes} bytes: a call to the Logs Ingestion API holds at most ${this.options.maxRequestBytes} (max_request_bytes; Azure's limit is 1 MiB)`);
    });
    await Promise.all(pack(rows, this.options.maxRequestBytes).map((call) => this.send(call, work, false)));
    this.judgeRefusedAlone(work);
    return work.tally;
  }

  async close(): Promise<void> {
    this.stop.abort();
  }

  /** Sends these rows until each has an outcome; `again`: they were sent before (a half of a refused call). */
  private async send(rows: Row[], work: UnitWork, again: boolean): Promise<void> {
    const started = Date.now();
    let renewed = false;
    for (let attempt = 0; ; attempt++) {
      if (this.stop.signal.aborted) throw sentinelError(`sentinel destination ${this.name} closed with ${rows.length} events unacknowledged`);
      if (again || attempt > 0) work.tally.resent += rows.length;
      const answer = await this.slots.run(() => this.call(rows));
      switch (answer.verdict) {
        case 'accepted':
          this.accepted = true;
          work.tally.indexed += rows.length;
          return;
        case 'split':
          return this.split(rows, work, answer);
        case 'renew':
          if (renewed) throw this.refused(answer, 'a new access token was refused too: the application, its secret or the tenant is wrong');
          renewed = true;
          continue;
        case 'stop':
          throw this.refused(answer, answer.status === 403 ? 'the application needs the role "Monitoring Metrics Publisher" on the data collection rule' : 'check endpoint, dcr_immutable_id and stream');
        case 'wait':
        case 'retry':
          renewed = false; // a later 401 is a later expiry
          await this.pause(rows, answer, attempt, started);
      }
    }
  }

  /** One call with a valid token; a token endpoint that is down is an answer to retry, like a busy Azure. */
  private async call(rows: readonly Row[]): Promise<Answer> {
    let token: string;
    try {
      token = await this.token.get(this.stop.signal);
    } catch (err) {
      if (err instanceof TokenUnavailable) return { verdict: 'retry', status: 0, reason: err.message, requestId: '' };
      throw err;
    }
    const answer = await post(this.options, token, arrayBody(rows), this.stop.signal);
    if (answer.verdict === 'renew') this.token.invalidate(token);
    return answer;
  }

  /** 413 or 400: each half alone; one row left is refused with Azure's reason. */
  private async split(rows: Row[], work: UnitWork, answer: Answer): Promise<void> {
    if (rows.length === 1) {
      if (answer.status === 413) this.reject(work, rows[0]!, `Azure refused its row as too large (${answer.reason})`);
      else work.refusedAlone.push({ row: rows[0]!, reason: answer.reason });
      return;
    }
    const half = Math.ceil(rows.length / 2);
    // One half after the other: a refused call is rare, and its halves should not crowd out other units.
    await this.send(rows.slice(0, half), work, true);
    await this.send(rows.slice(half), work, true);
  }

  /**
   * Rows Azure refused alone with 400 are dead letters only once Azure has accepted something:
   * before that, the 400 more likely means the stream or DCR is wrong for every row, and
   * dead-lettering the whole collection (moving the checkpoint past it) would hide that.
   */
  private judgeRefusedAlone(work: UnitWork): void {
    if (work.refusedAlone.length === 0) return;
    if (!this.accepted) {
      const first = work.refusedAlone[0]!;
      throw sentinelError(`sentinel destination ${this.name}: Azure refused every call so far (${first.reason}); check stream ${this.options.stream} and the DCR's stream declaration (${ingestionUrl(this.options)})`);
    }
    for (const { row, reason } of work.refusedAlone) this.reject(work, row, `Azure refused its row (${reason})`);
  }

  private reject(work: UnitWork, row: Row, why: string): void {
    const e = work.unit.events[row.slot]!;
    work.tally.rejected.push(refusedEvent(work.unit, e, `sentinel ${this.name} refused event ${e.id}: ${why}`));
  }

  /** Waits before sending again: Retry-After when Azure gave one (bounded), else a back-off; past give_up_s the run stops. */
  private async pause(rows: readonly Row[], answer: Answer, attempt: number, started: number): Promise<void> {
    const waited = Date.now() - started;
    if (waited > this.options.giveUpMs) {
      throw sentinelError(`sentinel destination ${this.name}: ${rows.length} events unaccepted for ${Math.round(waited / 1000)} s (give_up_s; last: ${answer.reason}); nothing after the last delivered unit was checkpointed`);
    }
    const asked = answer.verdict === 'wait' && answer.headers ? serverWaitMs(answer.headers, this.options.maxRetryAfterMs) : undefined;
    const backoff = backoffDelay(attempt, { baseMs: this.options.retryBaseMs, maxMs: this.options.retryMaxMs });
    // Never sooner than the back-off: "Retry-After: 0" or a date in the past, answered again and again, must not become a busy loop.
    const delay = Math.max(asked?.ms ?? 0, backoff);
    const clamped = asked?.askedMs === undefined ? '' : ` (Retry-After asked ${asked.askedMs} ms: clamped to max_retry_after_s)`;
    this.log.warn('sentinel: Azure busy or unreachable, sending again', { destination: this.name, events: rows.length, attempt: attempt + 1, delay_ms: delay, reason: `${answer.reason}${clamped}`, request_id: answer.requestId });
    await sleep(delay, this.stop.signal);
  }

  private refused(answer: Answer, hint: string): MimelogError {
    return sentinelError(`sentinel destination ${this.name}: ${ingestionUrl(this.options)} refused the call (${answer.reason}): ${hint} (x-ms-client-request-id ${answer.requestId})`);
  }
}
