/**
 * API 2.0 stream collector (`--mode stream`): pages of events inline, every type together. Each
 * page is one unit whose commit moves the page token, so a restart resumes at the first page
 * not yet stored; an empty page that carries `@nextPage` still moves it.
 *
 * The stream holds about 24 hours. A token older than that is refused: the collector starts
 * again with `dateRangeStartsAt` at the newest event it stored (the overlap is dropped as
 * duplicates), and records the interval up to the first event still held as a gap, in the same
 * transaction as that page. Nothing is skipped silently.
 */
import { decodeRecords } from '../../decode/records.js';
import type { DecodeLimits } from '../../decode/limits.js';
import type { Logger } from '../../log/logger.js';
import { STREAM_PATH_V2 } from '../../mimecast/endpoints.js';
import type { Publisher } from '../../core/publish.js';
import type { Gap, V2StreamState } from '../../core/sink.js';
import type { Unit } from '../../core/unit.js';
import { RequestRejectedError } from '../../util/errors.js';
import { STREAM_TOKEN_EXPIRED_CODES } from '../../mimecast/horizons.js';
import { type PollingOptions, sleep } from '../../util/backoff.js';
import { EventTimes, trustedOrUndefined, trustedSpan } from '../../core/trusted-time.js';
import { RateBudget } from '../../util/rate-budget.js';
import type { TokenSource } from './oauth.js';
import { EarlyPassEnd, PageClient, PassTrail, contentDigest } from './pages.js';

export interface StreamOptions extends PollingOptions {
  /** Decoding bounds (default: DEFAULT_LIMITS). */
  readonly limits?: DecodeLimits;
  readonly baseUrl: string;
  readonly pageSize: number;
  /** The checkpoint row of this stream. */
  readonly checkpointKey: string;
}

export class V2StreamCollector {
  private readonly pages: PageClient;
  private readonly times: EventTimes;
  private readonly earlyEnd: EarlyPassEnd;

  constructor(
    private readonly options: StreamOptions,
    tokens: TokenSource,
    private readonly log: Logger,
  ) {
    this.pages = new PageClient(options.baseUrl, tokens, options, new RateBudget(), log);
    this.times = new EventTimes(log);
    this.earlyEnd = new EarlyPassEnd(log, options.observe);
  }

  /**
   * From `pageToken` (the stored one; undefined: the oldest retained) until caught up; then polls
   * unless `once`. `newestStoredMs`: the newest event time stored through this stream, where a
   * restart after an expired token begins. Only believable times count (core/trusted-time.ts): an
   * event dated 2126 must not make the restart ask for 2126 and find nothing.
   * `startAtMs`: without a stored token, start at this time (a hand-over from API 1.0,
   * sources/handover.ts, which judges a gap itself) instead of the oldest retained.
   */
  async run(pageToken: string | undefined, publisher: Publisher, stop: AbortSignal, newestStoredMs?: number, startAtMs?: number): Promise<void> {
    let token = pageToken;
    let startAt = token === undefined ? startAtMs : undefined;
    /** The newest event time stored, followed as each unit is processed (in publication order). */
    const stored = { newest: trustedOrUndefined(newestStoredMs, Date.now()) };
    /** Set after a restart from a date: the gap is recorded with the first page that holds an event. */
    let restartedFrom: number | undefined;
    do {
      let trail = new PassTrail(false);
      while (!stop.aborted) {
        let page;
        try {
          const fromMs = token === undefined ? restartedFrom ?? startAt : undefined;
          const from = fromMs !== undefined ? new Date(fromMs).toISOString() : undefined;
          page = await this.pages.get<unknown>(STREAM_PATH_V2, { pageSize: String(this.options.pageSize), nextPage: token, dateRangeStartsAt: from }, stop, 'stream page');
        } catch (err) {
          if (!(err instanceof RequestRejectedError && token !== undefined && STREAM_TOKEN_EXPIRED_CODES.includes(err.code ?? ''))) throw err;
          await publisher.flush(); // every page before this one processed: `stored.newest` is final
          const newest = stored.newest;
          if (newest === undefined) throw err; // nothing stored yet to restart from: a person must look
          this.log.warn('stream token is older than the stream window: starting again from the newest event stored; the events after it that aged out will be recorded as a gap', { from: new Date(newest).toISOString() });
          token = undefined;
          restartedFrom = newest;
          trail = new PassTrail(false); // a new chain of tokens: they may spell offsets already seen
          continue;
        }
        if (!page) break;
        startAt = undefined;
        let gap: Gap | undefined;
        const firstMs = restartedFrom !== undefined ? oldestTrustedTime(page.value) : undefined;
        if (restartedFrom !== undefined && (firstMs !== undefined || page.isCaughtUp)) {
          const toMs = firstMs ?? Date.now();
          if (toMs > restartedFrom + 1) {
            gap = { fromMs: restartedFrom, toMs, reason: 'the stream token was older than the stream window: events after the newest one stored and before the oldest one still held aged out at Mimecast' };
            this.log.error('gap recorded: events aged out at Mimecast before they were collected', { from: new Date(restartedFrom).toISOString(), to: new Date(toMs).toISOString() });
          }
          restartedFrom = undefined;
        }
        const runaway = trail.runaway(token, page.nextPage, page.value.length, contentDigest(page.value));
        if (runaway) {
          // The page's events are kept; the token stays where it is (never moved back) and the next poll asks again.
          await this.store(page.value, token, token ?? '', false, publisher, gap, stored);
          this.earlyEnd.say(`stream paging ended for this pass: ${runaway}; asking again at the next poll`, { what: 'stream page' });
          break;
        }
        await this.store(page.value, token, page.nextPage, page.isCaughtUp, publisher, gap, stored);
        token = page.nextPage;
        if (page.isCaughtUp) {
          this.log.info('caught up', { mode: 'stream' });
          break;
        }
      }
    } while (!this.options.once && !stop.aborted && (await sleep(this.options.pollIntervalMs, stop)));
  }

  /**
   * Decodes a page's events as NDJSON lines (each event re-serialized: its fields, not its bytes,
   * make the fingerprint; `events` is emptied as they are) and commits them batch by batch; only
   * the page's last unit moves the token to `next`.
   * `stored.newest` follows the newest event time of the units as they are processed.
   */
  private async store(events: unknown[], token: string | undefined, next: string, caughtUp: boolean, publisher: Publisher, gap: Gap | undefined, stored: { newest: number | undefined }): Promise<void> {
    const source = `${this.options.checkpointKey} page ${token ?? 'first'}`;
    let gapToRecord = gap;
    for await (const batch of decodeRecords(source, events, { limits: this.options.limits })) {
      // `last` of the page's last unit records whether the stream is caught up (checkpoints.complete).
      const checkpoint: V2StreamState = { kind: 'mimecast-v2-stream', key: this.options.checkpointKey, token: batch.last ? next : token ?? '', gaps: gapToRecord && [gapToRecord] };
      await publisher.publish({
        batch,
        last: batch.last && caughtUp,
        endsInput: batch.last,
        checkpoint: (unit: Unit) => {
          const { newest } = this.times.span(this.options.checkpointKey, unit.events);
          if (newest !== undefined) stored.newest = Math.max(stored.newest ?? newest, newest);
          return checkpoint;
        },
      });
      gapToRecord = undefined;
    }
  }
}

/** The time of a stream event (`timestamp`, epoch ms, usually as a string). */
function eventTime(event: unknown): number {
  return Number((event as { timestamp?: unknown } | undefined)?.timestamp);
}

/** The oldest believable event time of a page (the oldest event still held, after a restart); undefined when none is. */
function oldestTrustedTime(events: readonly unknown[]): number | undefined {
  return trustedSpan(events.map((e) => ({ timeMs: eventTime(e) })), Date.now()).oldest;
}
