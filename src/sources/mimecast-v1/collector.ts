/**
 * API 1.0 collector: follows the mc-siem-token chain until caught up, then polls. A file is
 * published as several units (one per decoded batch); only its last commits the next token, so a
 * crash at any moment loses nothing (the old token fetches the file again) and duplicates nothing
 * (the fingerprint turns the re-fetch into duplicates).
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
import { type PollingOptions, backoffDelay, sleep, troubleText } from '../../util/backoff.js';
import { EventTimes, isTrustedTime, trustedSpan } from '../../core/trusted-time.js';
import { type V1Answer, V1_ENDPOINT, getSiemLogs } from './client.js';
import { EarlyPassEnd, PassTrail, contentDigest } from '../mimecast-v2/pages.js';

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

/**
 * A first pass over a file that keeps no record: why it fails as a whole, if it does (a broken
 * gzip, a zip member with a bad CRC, a json document cut short), so that a file is fetched again
 * before any of its records is published; and how many records it holds (a file that brings
 * nothing counts towards a looping token chain).
 */
async function firstPass(name: string, body: readonly Buffer[], limits?: DecodeLimits): Promise<{ failure?: string; records: number }> {
  let failure: string | undefined;
  let records = 0;
  for await (const batch of decodeInput(name, Readable.from(body), { limits })) {
    records += batch.items.length;
    for (const item of batch.items) if (item.wholeInput) failure ??= readFailure(item);
  }
  return { failure, records };
}

/** The failures of a file that fails as a whole (a zip member with a bad CRC, say), each with where it came from; the rest as it is, as `ingest` keeps it. */
async function* withFailuresPlaced(batches: AsyncIterable<DecodedBatch>, where: string): AsyncGenerator<DecodedBatch> {
  for await (const b of batches) {
    yield { ...b, items: b.items.map((i) => {
      const failure = i.wholeInput ? readFailure(i) : undefined;
      return failure === undefined ? i : { ...i, result: { ok: false as const, reason: failure + where } };
    }) };
  }
}

/** A file's chunks, each let go once the decoder took it (a file near --max-response-bytes is not held twice over while it is published). */
async function* releasing(chunks: (Buffer | undefined)[]): AsyncGenerator<Buffer> {
  for (let i = 0; i < chunks.length; i++) {
    const chunk = chunks[i]!;
    chunks[i] = undefined;
    yield chunk;
  }
}

/** Each batch of `batches` with whether it is the input's last one (one batch read ahead). */
async function* withLast<T>(batches: AsyncIterable<T> | Iterable<T>): AsyncGenerator<{ batch: T; last: boolean }> {
  let held: { value: T } | undefined;
  for await (const batch of batches) {
    if (held) yield { batch: held.value, last: false };
    held = { value: batch };
  }
  if (held) yield { batch: held.value, last: true };
}

/**
 * The few events of a file that bound its aged-out gaps (see `agedOutGaps`) and the newest time
 * per type it stored: a file is published in several units, its gaps are decided at its last.
 */
class FileTimes {
  /** Any event at all (a file without one leaves the gap to the next file). */
  seen = false;
  private readonly earliest = new Map<string, ProcessedEvent>();
  private newestEvent: ProcessedEvent | undefined;
  readonly newestByType = new Map<string, number>();

  add(events: readonly ProcessedEvent[], now: number): void {
    for (const e of events) {
      this.seen = true;
      if (!isTrustedTime(e.timeMs, now)) continue;
      const type = e.classification.logType;
      if (e.timeMs < (this.earliest.get(type)?.timeMs ?? Infinity)) this.earliest.set(type, e);
      if (e.timeMs > (this.newestEvent?.timeMs ?? -Infinity)) this.newestEvent = e;
      this.newestByType.set(type, Math.max(this.newestByType.get(type) ?? -Infinity, e.timeMs));
    }
  }

  /** Events with the same gaps as the whole file's: each type's earliest and the newest. */
  bounds(): ProcessedEvent[] {
    return [...this.earliest.values(), ...(this.newestEvent ? [this.newestEvent] : [])];
  }
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
      if (answer.waitMs === undefined) this.options.observe?.trouble?.(troubleText(this.options.baseUrl, answer.reason)); // a rate-limit wait is not trouble
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
      const content = contentDigest(answer.body); // before the chunks are let go as they are decoded
      const pass = answer.overLimit ? { records: 0, failure: undefined } : await firstPass(answer.name, answer.body, this.options.limits);
      const inputFailure = answer.overLimit
        ? `file larger than ${this.options.maxResponseBytes} bytes (--max-response-bytes); its first ${headLength(answer.body)} bytes are kept (reading stopped after ${answer.length} bytes)`
        : pass.failure;
      if (inputFailure && !answer.overLimit && decodeAttempts < this.options.decodeRetries) {
        decodeAttempts++;
        this.log.warn('file does not decode; fetching it again', { file: answer.name, reason: inputFailure, attempt: decodeAttempts });
        if (!(await sleep(backoffDelay(decodeAttempts, { baseMs: this.options.retryBaseMs, maxMs: this.options.retryMaxMs }, this.random), stop))) break;
        continue;
      }
      // Decoded lazily from the chunks, each batch its own unit: memory holds a few batches, not the file's events.
      let batches: AsyncIterable<DecodedBatch> | DecodedBatch[];
      if (inputFailure) {
        // Dead-lettered with the token that fetched it, and skipped: ingestion never stalls on one file.
        this.log.error('file dead-lettered', { file: answer.name, reason: inputFailure, bytes: answer.length });
        const where = ` (file ${answer.name}, token ${token ?? '(start)'})`;
        // Only the head was read: the file is larger than the bound, how much larger is not known.
        // Otherwise, as `ingest` does: what failed (a zip member with a bad CRC, the file itself)
        // is dead-lettered with its bytes, the rest is stored.
        batches = answer.overLimit
          ? [deadLetterBatch(answer.name, inputFailure + where, Buffer.concat(answer.body), this.options.maxResponseBytes)]
          : withFailuresPlaced(decodeInput(answer.name, releasing([...answer.body]), { limits: this.options.limits }), where);
      } else batches = decodeInput(answer.name, releasing([...answer.body]), { limits: this.options.limits });
      (answer.body as Buffer[]).length = 0; // the decoder holds the chunks it has yet to read, no one else
      const runaway = trail.runaway(token, answer.nextToken, pass.records, content);
      // A looping chain: the file is stored, the token stays where it is (never moved back).
      const nextToken = runaway ? token : answer.nextToken;
      decodeAttempts = 0;
      filesDone++;
      const position = filesDone; // the checkpoint is made once the file is processed, after the loop moved on
      // Units before the file's last keep the checkpoint where it was (they only record their event
      // times): a crash mid-file fetches the file again and its stored events drop as duplicates.
      // Right after a restart they move nothing, so the restart and its gap are decided again.
      const before: V1State | undefined = restarted ? undefined : { kind: 'mimecast-v1', key: checkpointKey, filesDone: position - 1, token };
      const file = new FileTimes();
      for await (const { batch, last } of withLast(batches)) {
        await publisher.publish({
          batch,
          source: answer.name,
          last: false, // a file's end is not the account's: see 'caught-up'
          endsInput: last,
          checkpoint: (u: Unit): V1State | undefined => {
            const now = Date.now();
            this.times.span(checkpointKey, u.events, now); // says once per run that a time is not believed
            file.add(u.events, now);
            if (!last) return before;
            let gaps: Gap[] | undefined;
            if (restarted && file.seen) {
              restarted = false;
              gaps = this.reportGaps(agedOutGaps(newestByType, file.bounds(), now, LOG_TYPE_NAMES));
            }
            for (const [type, ms] of file.newestByType) newestByType.set(type, Math.max(newestByType.get(type) ?? -Infinity, ms));
            return { kind: 'mimecast-v1', key: checkpointKey, filesDone: position, token: nextToken, gaps };
          },
        });
        if (stop.aborted) break; // the file's last unit is never published: its token is asked again next run
      }
      if (stop.aborted) break;
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
