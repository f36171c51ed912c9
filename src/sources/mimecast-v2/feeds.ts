/**
 * The API 2.0 `POST` feeds (audit, TTP URL / attachment / impersonation, DLP, held-release,
 * rejections, archive search and view): a time-window source, `concurrency` feeds at a time.
 *
 * Oldest first, one window at a time. A window ends at now − a safety lag (Mimecast indexes some
 * records minutes late) and is asked for from a small overlap before the previous window's end;
 * the fingerprint drops the records read twice. Every page of a window is a unit; only the last
 * page's unit moves the feed's cursor to the window's end, so a crash re-reads the window and
 * never skips it. The cursor never jumps to "now" when data came back. HTTP 200 with `fail[]` is
 * an error: retried when it says so, reported once per feed with the admin's action when it is a
 * configuration fact (not licensed, a missing role), and the other feeds go on. A cursor older
 * than the feed's look-back starts again at the oldest instant still held, with a gap recorded.
 */
import { ApiAnswerError, CollectorError, OAuthError } from '../../util/errors.js';
import type { Publisher } from '../../core/publish.js';
import type { Gap } from '../../core/sink.js';
import { deadLetterBatch } from '../../decode/input.js';
import { decodeRecords, parsePage } from '../../decode/records.js';
import { type DecodeLimits, DEFAULT_LIMITS } from '../../decode/limits.js';
import { type JsonParse, parseJson } from '../../decode/json.js';
import type { Logger } from '../../log/logger.js';
import { FEED_NOT_AVAILABLE_CODES, type FeedSpec, feedNamed, feedTime } from '../../mimecast/feeds.js';
import { type PollingOptions, sleep } from '../../util/backoff.js';
import { RateBudget } from '../../util/rate-budget.js';
import { FUTURE_SKEW_MS, timeText } from '../../core/trusted-time.js';
import type { TokenSource } from './oauth.js';
import { PageClient, PageTrail } from './pages.js';
import { answerText, firstFailError } from '../http-body.js';

export interface FeedOptions extends PollingOptions {
  readonly baseUrl: string;
  readonly feeds: readonly FeedSpec[];
  readonly pageSize: number;
  /** Windows end this long before now (default 15 min). */
  readonly safetyLagMs: number;
  /** Each window starts this long before the previous one ended (default 1 min). */
  readonly overlapMs: number;
  /** The longest window asked for at once. */
  readonly maxWindowMs: number;
  /** Where a feed never collected starts: this long ago, at most its look-back (default 7 days). */
  readonly firstLookBackMs: number;
  /** Feeds collected at once; they share one rate budget. */
  readonly concurrency: number;
  readonly limits?: DecodeLimits;
  /** The checkpoint row of a feed. */
  readonly checkpointKey: (feed: FeedSpec) => string;
  /** Pages read in one window before it is given up as a runaway (default DEFAULT_MAX_PAGES_PER_WINDOW). */
  readonly maxPagesPerWindow?: number;
}

/** 10,000 pages of 500 records: 5 million records in one window of at most a day; more is a server looping. */
export const DEFAULT_MAX_PAGES_PER_WINDOW = 10_000;

/** A window shorter than this waits for the next poll (else a caught-up feed would ask for milliseconds). */
const MIN_WINDOW_MS = 60_000;

/** A feed's `fail[]` answer or refusal that asking again cannot help. */
interface FeedPage {
  readonly records: unknown[];
  readonly next: string | undefined;
}

/** A page whose body never parsed (after retries), or was over the bound: kept as a dead letter. */
interface UnreadablePage {
  readonly unreadable: true;
  /** The body, or its head (then `truncatedFrom` says how many bytes arrived). */
  readonly body: Buffer;
  readonly reason: string;
  readonly truncatedFrom?: number;
}

/** Why a window is given up before its last page (and recorded as a gap), with what was received. */
interface LostWindow {
  readonly reason: string;
  readonly body: Buffer;
  readonly truncatedFrom?: number;
}

/** Fetches of a page whose body does not parse before it is kept as a dead letter. */
const UNREADABLE_PAGE_RETRIES = 2;

/** The source name of a window's page (its dead letters name it): the feed's checkpoint key (which ends with the feed's name), the window, the page. */
function pageSource(key: string, fromMs: number, pageNo: number): string {
  return `${key} window ${feedTime(fromMs)} page ${pageNo}`;
}

/**
 * The feed a page's source name names (see pageSource), if it is one of FEEDS, and the feed's
 * checkpoint key the name begins with: how a dead letter kept before dead letters carried their
 * feed (schema 20) is still replayed as that feed's. A name alone proves nothing in a store (a
 * file may be named like a page): the store's upgrade also asks for that feed checkpoint.
 */
export function feedOfPageSource(source: string): { readonly feed: string; readonly checkpoint: string } | undefined {
  const match = /^(mimecast-v2-feed .* (\S+)) window \S+ page \d+( next)?$/.exec(source);
  return match !== null && feedNamed(match[2]!) ? { feed: match[2]!, checkpoint: match[1]! } : undefined;
}

/** A feed answer's records: `data[]`, or `data[0].<recordsAt>`; a string says why it holds none. */
function answerRecords(feed: FeedSpec, data: unknown[]): unknown[] | string {
  const records = feed.recordsAt === undefined ? data : ((data[0] as Record<string, unknown> | undefined)?.[feed.recordsAt] ?? []);
  return Array.isArray(records) ? records : `${feed.name}: data[0].${feed.recordsAt} is not a list`;
}

/**
 * A feed answer's body parsed. A record nested deeper than the bound is cut out unparsed
 * (parsePage) and refused on its own by the decoder with its text, not the whole window with it;
 * the rest is parsed at any depth. A repeated key anywhere makes the page unreadable: JSON.parse
 * would keep one value silently.
 */
function parseAnswer(feed: FeedSpec, body: Buffer, limits: DecodeLimits = DEFAULT_LIMITS): JsonParse {
  const records = feed.recordsAt === undefined ? ['data'] : ['data', 0, feed.recordsAt];
  return parsePage(body.toString('utf8'), records, limits.maxJsonDepth, (text) => parseJson(text, Infinity));
}

/**
 * The records of a page body kept whole as a dead letter when its window was given up
 * (abandonWindow), read as the collector reads an answer, with today's bounds: what `replay` hands
 * on as the feed's records. A string says why there are none: it still does not parse, or it is
 * not a page of records (a runaway's note of the token it was given, a list of items that are not
 * records), so there is nothing to replay: the window's records are in its gap.
 */
export function pageRecords(feed: FeedSpec, body: Buffer, limits?: DecodeLimits): unknown[] | string {
  const parsed = parseAnswer(feed, body, limits);
  if (!parsed.ok) return `${feed.name}: the page still does not parse: ${parsed.reason}`;
  const data = (parsed.value as { data?: unknown } | null)?.data;
  if (!Array.isArray(data)) return `${feed.name}: not a page of records (no "data" list): nothing to replay; the window it was kept for is recorded as a gap`;
  return answerRecords(feed, data);
}

export class FeedCollector {
  private readonly client: PageClient;

  constructor(
    private readonly options: FeedOptions,
    tokens: TokenSource,
    /** The stored cursor of a feed: the end of its last window (epoch ms), if any. */
    private readonly cursor: (feed: FeedSpec) => number | undefined,
    private readonly log: Logger,
  ) {
    this.client = new PageClient(options.baseUrl, tokens, options, new RateBudget(), log);
  }

  /**
   * Every feed until caught up, `concurrency` at a time within one rate budget (then polls unless
   * `once`). A configuration fact stops one feed for good; other failures are reported after the
   * other feeds have had their turn.
   */
  async run(publisher: Publisher, stop: AbortSignal): Promise<{ unavailableFeeds: string[] }> {
    const unavailable = new Set<string>();
    do {
      const failures: Error[] = [];
      const queue = this.options.feeds.filter((f) => !unavailable.has(f.name));
      const worker = async () => {
        for (let feed = queue.shift(); feed !== undefined && !stop.aborted; feed = queue.shift()) {
          try {
            await this.collectFeed(feed, stop, publisher);
          } catch (err) {
            if (err instanceof ApiAnswerError && err.code !== undefined && FEED_NOT_AVAILABLE_CODES.has(err.code)) {
              unavailable.add(feed.name); // said once, not retried: only an admin can change it
              this.log.error('feed not available: skipping it, the other feeds go on', { feed: feed.name, code: err.code, action: FEED_NOT_AVAILABLE_CODES.get(err.code) });
              continue;
            }
            if (err instanceof OAuthError) throw err;
            failures.push(err as Error);
            this.log.error('feed failed; the other feeds go on', { feed: feed.name, reason: (err as Error).message });
          }
        }
      };
      const results = await Promise.allSettled(Array.from({ length: Math.max(1, Math.min(this.options.concurrency, queue.length)) }, worker));
      const fatal = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
      if (fatal) throw fatal.reason;
      if (failures.length > 0) throw new CollectorError(`${failures.length} feed(s) failed: ${failures.map((f) => f.message).join('; ')}`);
      await publisher.flush(); // the next pass reads the cursors this one moved
    } while (!this.options.once && !stop.aborted && (await sleep(this.options.pollIntervalMs, stop)));
    return { unavailableFeeds: [...unavailable] };
  }

  private async collectFeed(feed: FeedSpec, stop: AbortSignal, publisher: Publisher): Promise<void> {
    const key = this.options.checkpointKey(feed);
    const now = Date.now();
    const oldestHeld = now - feed.lookBackMs;
    let from = this.believedCursor(feed, now) ?? now - Math.min(this.options.firstLookBackMs, feed.lookBackMs);
    let gaps: Gap[] | undefined;
    if (from < oldestHeld) {
      // Past the look-back: what lies between the cursor and the oldest instant held is gone.
      gaps = [{ fromMs: from, toMs: oldestHeld, logType: feed.name, reason: `the ${feed.name} cursor was older than the feed's look-back (${Math.round(feed.lookBackMs / 86_400_000)} days)` }];
      this.log.error('gap recorded: the feed cursor is older than its look-back', { feed: feed.name, from: new Date(from).toISOString(), to: new Date(oldestHeld).toISOString() });
      from = oldestHeld;
    }
    while (!stop.aborted) {
      // Whole seconds: the time filters carry none, so the cursor must be the end actually asked for
      // (a cursor inside a second would skip that second's records when there is no overlap).
      const present = Date.now() - this.options.safetyLagMs;
      const end = Math.floor(Math.min(from + this.options.maxWindowMs, present) / 1000) * 1000;
      // The window that reaches the present: its last page marks the feed caught up (`stats`).
      const reachesPresent = from + this.options.maxWindowMs >= present;
      if (end - from < MIN_WINDOW_MS) return; // caught up: the next window is not old enough yet
      const askFrom = Math.max(from - this.options.overlapMs, oldestHeld);
      let pageToken: string | undefined;
      let pageNo = 0;
      const paging = new PageTrail(this.options.maxPagesPerWindow ?? DEFAULT_MAX_PAGES_PER_WINDOW);
      for (;;) {
        const page = await this.post(feed, askFrom, end, pageToken, stop);
        if (!page) return;
        const source = pageSource(key, askFrom, pageNo);
        const window = { fromMs: askFrom, toMs: end };
        if ('unreadable' in page) {
          // Never stall on one answer: keep its bytes, say what may be missing, go on after the window.
          await this.abandonWindow(feed, key, source, { ...page, reason: `page could not be read: ${page.reason}` }, window, publisher, gaps);
          break;
        }
        const runaway = page.next === undefined ? undefined : paging.runaway(page.next);
        const last = page.next === undefined;
        await this.store(feed, key, source, page.records, { start: from, moveTo: last ? end : from }, publisher, gaps, last, last && reachesPresent);
        gaps = undefined;
        pageNo++;
        if (runaway) {
          // A token that repeats or never ends: the window would be read forever and the cursor never move.
          await this.abandonWindow(feed, key, `${source} next`, runaway, window, publisher, undefined);
          break;
        }
        if (last) break;
        pageToken = page.next;
      }
      from = end;
    }
  }

  /**
   * The stored cursor, unless it lies after now + skew: written while the clock ran ahead, it would
   * hold the feed until that time came, and what Mimecast held meanwhile would age out unseen. The
   * feed then starts as one never collected (the fingerprint drops what is read again).
   */
  private believedCursor(feed: FeedSpec, now: number): number | undefined {
    const cursor = this.cursor(feed);
    if (cursor === undefined || cursor <= now + FUTURE_SKEW_MS) return cursor;
    this.log.warn('feed cursor lies after now (the clock ran ahead when it was written): collecting the feed again from its first look-back; duplicates drop', { feed: feed.name, cursor: timeText(cursor) });
    return undefined;
  }

  /**
   * One page's records as units (NDJSON of the records: their fields, not the page's bytes, make
   * the fingerprint; `records` is emptied as they are). The page's last unit writes the cursor `moveTo` (the window's end on its last
   * page, else its start); the units before it keep the window's `start`.
   */
  private async store(
    feed: FeedSpec, key: string, source: string, records: unknown[], cursor: { start: number; moveTo: number }, publisher: Publisher, gaps: Gap[] | undefined, endsWindow: boolean,
    caughtUp = false,
  ): Promise<void> {
    let pending = gaps;
    let wrote = false;
    for await (const batch of decodeRecords(source, records, { limits: this.options.limits })) {
      const checkpoint = { kind: 'mimecast-v2-feed' as const, key, windowEndMs: batch.last ? cursor.moveTo : cursor.start, gaps: pending };
      await publisher.publish({ batch, feed: feed.name, last: caughtUp && batch.last, endsInput: endsWindow && batch.last, checkpoint });
      pending = undefined;
      wrote = true;
    }
    if (!wrote) {
      // An empty page still moves the cursor (and records a gap found before it).
      await publisher.publish({ source, last: caughtUp, endsInput: endsWindow, checkpoint: { kind: 'mimecast-v2-feed', key, windowEndMs: cursor.moveTo, gaps: pending } });
    }
  }

  /**
   * A window given up before its last page (a page that never parsed or was over the bound, a
   * runaway page token): what was received as a dead letter, and the rest of the window (this page
   * and the pages after it) as a gap of the feed, with the cursor at the window's end.
   */
  private async abandonWindow(
    feed: FeedSpec, key: string, source: string, lost: LostWindow, window: { fromMs: number; toMs: number }, publisher: Publisher, earlier: Gap[] | undefined,
  ): Promise<void> {
    const reason = `${feed.name}: ${lost.reason}`;
    const gap: Gap = { ...window, logType: feed.name, reason: `${reason}; the records of this page and of the window's later pages were not collected (what was received is kept as a dead letter)` };
    this.log.error('feed window given up: what was received is dead-lettered, the rest of the window is recorded as a gap', { feed: feed.name, from: new Date(window.fromMs).toISOString(), to: new Date(window.toMs).toISOString(), reason: lost.reason, bytes: lost.truncatedFrom ?? lost.body.length });
    await publisher.publish({ batch: deadLetterBatch(source, reason, lost.body, lost.truncatedFrom), feed: feed.name, last: false, endsInput: true, checkpoint: { kind: 'mimecast-v2-feed', key, windowEndMs: window.toMs, gaps: [...(earlier ?? []), gap] } });
  }

  /** POSTs one page request, retrying what can be retried (PageClient); undefined when stopped while waiting. */
  private post(feed: FeedSpec, fromMs: number, toMs: number, pageToken: string | undefined, stop: AbortSignal): Promise<FeedPage | UnreadablePage | undefined> {
    const body = JSON.stringify({
      meta: { pagination: { pageSize: this.options.pageSize, ...(pageToken ? { pageToken } : {}) } },
      data: [{ [feed.window.from]: feedTime(fromMs), [feed.window.to]: feedTime(toMs), ...(feed.oldestFirst ? { oldestFirst: true } : {}) }],
    });
    const request = { method: 'POST' as const, url: new URL(feed.path, this.options.baseUrl), body, endpoint: `feed-${feed.name}`, what: `${feed.name} page` };
    let unreadable = 0;
    return this.client.request<FeedPage | UnreadablePage>(request, stop, async (res) => {
      const bytes = res.bytes;
      // Over the bound: asking again would read the same endless answer; its head is kept.
      if (res.tooLarge) return { done: { unreadable: true, body: bytes, reason: res.tooLarge, truncatedFrom: res.read } };
      const parsed = parseAnswer(feed, bytes, this.options.limits);
      if (!parsed.ok && res.status === 200) {
        // The transfer may have been cut: ask again before keeping it as it is.
        if (++unreadable > UNREADABLE_PAGE_RETRIES) return { done: { unreadable: true, body: bytes, reason: parsed.reason } };
        return { retry: `${feed.name}: the answer does not parse: ${parsed.reason}` };
      }
      const answer = (parsed.ok && parsed.value !== null && typeof parsed.value === 'object' ? parsed.value : {}) as {
        meta?: { pagination?: { next?: string } };
        data?: unknown[];
        fail?: unknown;
      };
      const error = firstFailError(answer.fail);
      if (res.status === 200 && error === undefined && Array.isArray(answer.data)) {
        const records = answerRecords(feed, answer.data);
        if (typeof records === 'string') throw new ApiAnswerError(records, undefined);
        return { done: { records, next: answer.meta?.pagination?.next || undefined } };
      }
      const code = answerText(error?.code);
      const text = answerText(error?.message);
      const message = `${feed.name}: HTTP ${res.status}${code ? ` ${code}` : ''}${text ? `: ${text}` : ''}`;
      if (res.status >= 500 || (res.status === 200 && error?.retryable === true)) return { retry: message };
      throw new ApiAnswerError(message, code);
    });
  }
}
