/**
 * API 1.0 collector: follows the mc-siem-token chain until caught up, then polls. Each file is
 * one unit: its events, its dead letters and the next token commit together, so a crash at any
 * moment loses nothing (the old token fetches the file again) and duplicates nothing (the
 * fingerprint turns the re-fetch into duplicates).
 *
 * Files are kept about 7 days. A token whose file aged out is refused as invalid; the collector
 * starts again from the oldest file still kept and, if that file is newer than everything stored,
 * records per log type the interval whose files it never saw as a gap (see `agedOutGaps`), in the
 * same transaction as that file.
 */
import { CollectorError } from '../../util/errors.js';
import type { Publisher } from '../../core/publish.js';
import type { Gap, V1State } from '../../core/sink.js';
import type { ProcessedEvent, Unit } from '../../core/unit.js';
import { Readable } from 'node:stream';
import { type DecodedBatch, deadLetterBatch, decodeInput, readFailure } from '../../decode/input.js';
import { FirstContact } from '../http-body.js';
import type { DecodeLimits } from '../../decode/limits.js';
import type { Logger } from '../../log/logger.js';
import type { V1Credentials } from '../../mimecast/v1-auth.js';
import { LOG_TYPES } from '../../mimecast/log-types.js';
import { type PollingOptions, backoffDelay, sleep } from '../../util/backoff.js';
import { EventTimes, isTrustedTime, trustedSpan } from '../../core/trusted-time.js';
import { type V1Answer, V1_ENDPOINT, getSiemLogs } from './client.js';
import { EarlyPassEnd, PassTrail } from '../mimecast-v2/pages.js';

const LOG_TYPE_NAMES = LOG_TYPES.map((t) => t.name);

export type InvalidTokenPolicy = 'restart' | 'stop';

export interface V1CollectorOptions extends PollingOptions {
  readonly baseUrl: string;
  readonly credentials: V1Credentials;
  readonly fileFormat: 'key_value' | 'json';
  readonly compress: boolean;
  /** Extra fetches of a file that does not decode before it is dead-lettered. */
  readonly decodeRetries: number;
  readonly onInvalidToken: InvalidTokenPolicy;
  /** Checkpoint row name in the store. */
  readonly checkpointKey: string;
  /** Larger API answers are not read whole (a file is dead-lettered with its head). */
  readonly maxResponseBytes: number;
  readonly limits?: DecodeLimits;
}

export interface CollectorState {
  /** The token to start from (the stored checkpoint), or undefined for the oldest retained data. */
  readonly token: string | undefined;
  readonly filesDone: number;
  /** The newest event time stored through this checkpoint, per log type (where a gap would begin). */
  readonly newestByType?: Readonly<Record<string, number>>;
}

/** How many bytes a file's chunks hold. */
function headLength(body: readonly Buffer[]): number {
  return body.reduce((n, c) => n + c.length, 0);
}

/** A file's decoded batches (published as one unit, one transaction), and why it failed as a whole, if it did. */
async function decodeFile(name: string, body: readonly Buffer[], limits?: DecodeLimits): Promise<{ batches: DecodedBatch[]; inputFailure?: string }> {
  const batches: DecodedBatch[] = [];
  let inputFailure: string | undefined;
  for await (const batch of decodeInput(name, Readable.from(body), { limits })) {
    for (const item of batch.items) if (item.wholeInput) inputFailure ??= readFailure(item);
    batches.push(batch);
  }
  return { batches, inputFailure };
}

/**
 * How far back a file's events may reach before the file's last event. Mimecast publishes API 1.0
 * files about every 30 minutes; twice that bounds where a never-stored type's lost events begin.
 */
export const V1_FILE_SPAN_BOUND_MS = 3_600_000;

/**
 * After a restart from the oldest file still kept: the per-type intervals whose files aged out.
 * Files are published in the order of their last event, so every lost file ends before `first`
 * (the first file served now) ends; and a type's files never overlap in time, so a lost event of a
 * type also precedes that type's first event in `first`, and follows the newest one stored. A type
 * never stored begins V1_FILE_SPAN_BOUND_MS before the newest event stored (every file before that
 * was stored). None when `first` ends no later than the newest event stored: the server went back
 * to files already stored, so nothing was skipped. `nowMs` bounds the interval when nothing is kept.
 * Only believable times bound anything (core/trusted-time.ts): `newestByType` holds no other, and
 * an event of `first` dated 2126 or 1970 neither ends nor hides a gap.
 */
export function agedOutGaps(newestByType: ReadonlyMap<string, number>, first: readonly ProcessedEvent[] | undefined, nowMs: number, knownTypes: readonly string[]): Gap[] {
  // `first`: the events of the first file served now (a file with some); undefined when none is kept.
  const newestStored = Math.max(...newestByType.values());
  let end = nowMs;
  const firstOfType = new Map<string, number>();
  if (first !== undefined) {
    end = trustedSpan(first, nowMs).newest ?? nowMs;
    for (const e of first) {
      if (isTrustedTime(e.timeMs, nowMs)) firstOfType.set(e.classification.logType, Math.min(firstOfType.get(e.classification.logType) ?? Infinity, e.timeMs));
    }
  }
  if (newestByType.size === 0 || end <= newestStored) return [];
  const gaps: Gap[] = [];
  const unseenFrom = newestStored - V1_FILE_SPAN_BOUND_MS;
  for (const logType of knownTypes) {
    const fromMs = newestByType.get(logType) ?? unseenFrom;
    const toMs = Math.min(end, firstOfType.get(logType) ?? Infinity);
    if (toMs > fromMs + 1) gaps.push({ fromMs, toMs, logType, reason: `the token's file aged out at Mimecast (files are kept about 7 days): the ${logType} events after the newest one stored and before the oldest one still held were never collected` });
  }
  return gaps;
}

export class V1Collector {
  private readonly random = Math.random;
  private readonly contact = new FirstContact();
  private readonly times: EventTimes;
  private readonly earlyEnd: EarlyPassEnd;

  constructor(
    private readonly options: V1CollectorOptions,
    private readonly log: Logger,
  ) {
    this.times = new EventTimes(log);
    this.earlyEnd = new EarlyPassEnd(log, options.observe);
  }

  /** Calls get-siem-logs until it answers something other than "retry". */
  private async fetch(token: string | undefined, stop: AbortSignal): Promise<Exclude<V1Answer, { kind: 'retry' }> | undefined> {
    for (let attempt = 0; ; attempt++) {
      const answer = await getSiemLogs({ ...this.options, token, stop });
      if (stop.aborted) return undefined; // a body in progress was dropped: the same token is asked again next run
      if (answer.kind !== 'retry' || answer.unreachable === undefined) this.contact.answer();
      if (answer.kind !== 'retry') return answer;
      const unreachable = this.contact.miss(answer.unreachable, this.options.baseUrl);
      if (unreachable) throw new CollectorError(unreachable);
      if (attempt >= this.options.maxRetries) throw new CollectorError(`giving up after ${attempt + 1} failed calls: ${answer.reason}`);
      const wait = answer.waitMs ?? backoffDelay(attempt, { baseMs: this.options.retryBaseMs, maxMs: this.options.retryMaxMs }, this.random);
      this.log.warn('retrying', { reason: answer.reason, attempt: attempt + 1, wait_ms: wait });
      this.options.observe?.retry(V1_ENDPOINT);
      if (!(await sleep(wait, stop))) return undefined;
    }
  }

  private reportGaps(gaps: Gap[]): Gap[] {
    for (const g of gaps) this.log.error('gap recorded: files aged out at Mimecast before they were collected', { log_type: g.logType, from: new Date(g.fromMs).toISOString(), to: new Date(g.toMs).toISOString() });
    return gaps;
  }

  /** Publishes file after file (each with the token after it) until caught up (`once`) or stopped. */
  async run(state: CollectorState, publisher: Publisher, stop: AbortSignal): Promise<void> {
    let token = state.token;
    let filesDone = state.filesDone;
    let decodeAttempts = 0;
    const newestByType = new Map(Object.entries(state.newestByType ?? {}));
    /** Set after an invalid token, until the first file (or the end of data) says whether files aged out. */
    let restarted = false;
    const { checkpointKey } = this.options;
    /** The tokens of this pass (until caught up): one followed before means the chain loops. */
    let trail = new PassTrail(true);
    while (!stop.aborted) {
      const answer = await this.fetch(token, stop);
      if (!answer) break;
      if (answer.kind === 'fatal') throw new CollectorError(answer.reason);
      if (answer.kind === 'invalid-token') {
        if (this.options.onInvalidToken === 'stop') throw new CollectorError(`${answer.reason}; stopping (--on-invalid-token stop)`);
        this.log.warn('token refused: restarting from the oldest retained data; the fingerprint drops what was already stored', { reason: answer.reason });
        token = undefined;
        trail = new PassTrail(true);
        await publisher.flush(); // every file before this one processed: `newestByType` is final
        restarted = newestByType.size > 0;
        continue;
      }
      if (answer.kind === 'caught-up' && restarted && token === undefined) {
        // Nothing is kept at all: every file after the newest event stored aged out.
        restarted = false;
        const gaps = this.reportGaps(agedOutGaps(newestByType, undefined, Date.now(), LOG_TYPE_NAMES));
        if (gaps.length > 0) await publisher.publish({ source: checkpointKey, last: false, minPosition: filesDone, checkpoint: { kind: 'mimecast-v1', key: checkpointKey, filesDone, token, gaps } });
      }
      if (answer.kind === 'caught-up') {
        this.log.info('caught up', { files: filesDone });
        // Recorded (checkpoints.complete, shown by `stats`) after every file before it commits.
        await publisher.publish({ source: checkpointKey, last: true, minPosition: filesDone, checkpoint: { kind: 'mimecast-v1', key: checkpointKey, filesDone, token } });
        if (this.options.once) break;
        if (!(await sleep(this.options.pollIntervalMs, stop))) break;
        trail = new PassTrail(true);
        continue;
      }
      const decoded = answer.overLimit
        ? { batches: [], inputFailure: `file larger than ${this.options.maxResponseBytes} bytes (--max-response-bytes); its first ${headLength(answer.body)} bytes are kept (reading stopped after ${answer.length} bytes)` }
        : await decodeFile(answer.name, answer.body, this.options.limits);
      const { inputFailure } = decoded;
      if (inputFailure && !answer.overLimit && decodeAttempts < this.options.decodeRetries) {
        decodeAttempts++;
        this.log.warn('file does not decode; fetching it again', { file: answer.name, reason: inputFailure, attempt: decodeAttempts });
        if (!(await sleep(backoffDelay(decodeAttempts, { baseMs: this.options.retryBaseMs, maxMs: this.options.retryMaxMs }, this.random), stop))) break;
        continue;
      }
      let batches: DecodedBatch[] = decoded.batches;
      if (inputFailure) {
        // Dead-lettered with the token that fetched it, and skipped: ingestion never stalls on one file.
        this.log.error('file dead-lettered', { file: answer.name, reason: inputFailure, bytes: answer.length });
        const where = ` (file ${answer.name}, token ${token ?? '(start)'})`;
        if (answer.overLimit) {
          // Only the head was read: the file is larger than the bound, how much larger is not known.
          batches = [deadLetterBatch(answer.name, inputFailure + where, Buffer.concat(answer.body), this.options.maxResponseBytes)];
        } else {
          // As `ingest` does: what failed (a zip member with a bad CRC, the file itself) is dead-lettered with its bytes, the rest is stored.
          batches = batches.map((b) => ({ ...b, items: b.items.map((i) => (i.wholeInput && readFailure(i) !== undefined ? { ...i, result: { ok: false as const, reason: readFailure(i)! + where } } : i)) }));
        }
      }
      const runaway = trail.runaway(token, answer.nextToken, batches.reduce((n, b) => n + b.items.length, 0));
      // A looping chain: the file is stored, the token stays where it is (never moved back).
      const nextToken = runaway ? token : answer.nextToken;
      decodeAttempts = 0;
      filesDone++;
      const position = filesDone; // the checkpoint is made once the file is processed, after the loop moved on
      await publisher.publish({
        batch: batches,
        source: answer.name,
        last: false, // a file's end is not the account's: see 'caught-up'
        endsInput: true,
        checkpoint: (u: Unit): V1State => {
          let gaps: Gap[] | undefined;
          if (restarted && u.events.length > 0) {
            restarted = false;
            gaps = this.reportGaps(agedOutGaps(newestByType, u.events, Date.now(), LOG_TYPE_NAMES));
          }
          const now = Date.now();
          this.times.span(checkpointKey, u.events, now); // says once per run that a time is not believed
          for (const e of u.events) {
            if (isTrustedTime(e.timeMs, now)) newestByType.set(e.classification.logType, Math.max(newestByType.get(e.classification.logType) ?? -Infinity, e.timeMs));
          }
          return { kind: 'mimecast-v1', key: checkpointKey, filesDone: position, token: nextToken, gaps };
        },
      });
      token = nextToken;
      if (runaway) {
        this.earlyEnd.say(`file chain ended for this pass: ${runaway}; asking again at the next poll`, { file: answer.name });
        if (this.options.once) break;
        if (!(await sleep(this.options.pollIntervalMs, stop))) break;
        trail = new PassTrail(true);
      }
    }
  }
}
