/**
 * API 2.0 batch collector. For each type it pages through the batch listing; every listed file is
 * an item of a durable work queue in the store. A file's events commit batch by batch, and the
 * last batch marks the item done in the same transaction. The page token moves only when every
 * file of the page is done or dead-lettered, and it is kept even when a page is empty. An expired
 * pre-signed URL is never skipped: the page is listed again for a fresh URL to the same file.
 * Types run concurrently within one rate budget.
 *
 * Files are kept about 7 days. When a type's page token points at files that aged out, the type is
 * listed again from the oldest file still kept, and the interval between the newest event stored
 * and the oldest event still held is recorded as a gap of that type, in the same transaction as
 * the first events after it. A type's files never overlap in time, so per type that interval is
 * exact: every lost event lies inside it.
 */
import { Readable } from 'node:stream';
import { type DecodedBatch, decodeBytes, decodeInput, readFailure } from '../../decode/input.js';
import { type DecodeLimits, DEFAULT_LIMITS } from '../../decode/limits.js';
import { answerText, cappedChunks, discardBody } from '../http-body.js';
import type { Logger } from '../../log/logger.js';
import type { Publisher } from '../../core/publish.js';
import { type PollingOptions, backoffDelay, sleep } from '../../util/backoff.js';
import { CollectorError, RequestRejectedError } from '../../util/errors.js';
import type { Gap, V2BatchState } from '../../core/sink.js';
import type { Unit } from '../../core/unit.js';
import { BATCH_TOKEN_EXPIRED_CODES } from '../../mimecast/horizons.js';
import { logTypeForV2 } from '../../mimecast/products.js';
import { RateBudget } from '../../util/rate-budget.js';
import { EventTimes } from '../../core/trusted-time.js';
import type { TokenSource } from './oauth.js';
import { EarlyPassEnd, type Page, PageClient, PassTrail, contentDigest } from './pages.js';

export interface BatchOptions extends PollingOptions {
  readonly baseUrl: string;
  /** The product's batch listing (mimecast/products.ts): Cloud Gateway's or Cloud Integrated's. */
  readonly path: string;
  /** Decoding bounds (default: DEFAULT_LIMITS). */
  readonly limits?: DecodeLimits;
  /** API 2.0 type names to collect, e.g. `receipt`, `url protect`. */
  readonly types: readonly string[];
  readonly pageSize: number;
  /** Failed attempts at one file (each followed by a fresh listing) before the run stops. */
  readonly maxRelists: number;
  /** Streamed attempts of a file whose stream breaks before it is fetched whole (and, if its bytes do not decode, dead-lettered). */
  readonly decodeRetries: number;
  /** Types collected at once; they share one rate budget. */
  readonly concurrency: number;
}

interface ListedFile {
  readonly url: string;
  readonly size?: number;
  readonly expiry?: string;
}

function isListedFile(f: unknown): f is ListedFile {
  const url = (f as { url?: unknown } | null)?.url;
  if (typeof url !== 'string') return false;
  try {
    const { protocol } = new URL(url);
    return protocol === 'https:' || protocol === 'http:';
  } catch {
    return false;
  }
}

/** What the store knows about progress; provided by the caller (it owns the store). */
export interface BatchState {
  /** The page token of the page in progress, or undefined for the first page. */
  pageToken(type: string): string | undefined;
  itemState(type: string, key: string): string | undefined;
  /** The newest event time stored for the type, where a gap after aged-out files begins. */
  newestEventMs(type: string): number | undefined;
}

/**
 * Where a file's records come from, as its events and dead letters name it: the stream (the
 * source's kind, its URL or name, the API 2.0 type), our log type where it is named otherwise,
 * and the object key, e.g. `mimecast-v2 https://… journal (jrnl) file host/bucket/f.json.gz`.
 * The key comes last, so the input's base name (a type signal, and what replay decodes by) is
 * still the file's own name.
 */
export function fileLocation(stream: string, type: string, key: string): string {
  const logType = logTypeForV2(type);
  return `${stream}${logType && logType !== type ? ` (${logType})` : ''} file ${key}`;
}

/** The object key of a pre-signed URL: stable when the page is listed again. */
export function fileKey(url: string): string {
  const u = new URL(url);
  return `${u.host}${u.pathname}`;
}

type DownloadOutcome = 'done' | 'expired' | 'retry';

export class V2BatchCollector {
  private readonly pages: PageClient;
  /** Per type restarted after its files aged out: the newest event stored, until the gap is recorded. */
  private readonly gapFrom = new Map<string, number>();
  /** Event times that may bound a gap (core/trusted-time.ts): one dated 2126 or 1970 bounds none. */
  private readonly times: EventTimes;
  private readonly earlyEnd: EarlyPassEnd;

  constructor(
    private readonly options: BatchOptions,
    tokens: TokenSource,
    private readonly state: BatchState,
    private readonly log: Logger,
    private readonly streamName: (type: string) => string,
  ) {
    this.pages = new PageClient(options.baseUrl, tokens, options, new RateBudget(), log);
    this.times = new EventTimes(log);
    this.earlyEnd = new EarlyPassEnd(log, options.observe);
  }

  private backoff(attempt: number): number {
    return backoffDelay(attempt, { baseMs: this.options.retryBaseMs, maxMs: this.options.retryMaxMs });
  }

  /**
   * One listing page. An entry that is not a file with an http(s) URL is no file to fetch: the type
   * stops, saying which entry and what it held (its page token does not move: nothing is skipped).
   */
  private async list(type: string, pageToken: string | undefined, stop: AbortSignal): Promise<Page<ListedFile> | undefined> {
    const page = await this.pages.get<unknown>(this.options.path, { type, pageSize: String(this.options.pageSize), nextPage: pageToken }, stop, `${type} listing`);
    const bad = page === undefined ? -1 : page.value.findIndex((f) => !isListedFile(f));
    if (bad >= 0) throw new CollectorError(`API 2.0 ${type} listing: entry ${bad + 1} is not a file with an http(s) url: ${answerText(page!.value[bad])}; the type stops here, its page token unmoved`);
    return page as Page<ListedFile> | undefined;
  }

  /**
   * Downloads one file (no Authorization header: the URL is pre-signed) and stores it batch by
   * batch. 'expired' when the URL no longer works, so the caller lists the page again; 'retry'
   * when the download failed or its stream broke (lines already stored are duplicates on the
   * next fetch, never lost or doubled).
   *
   * Streamed, a broken body cannot be told from a broken file. So after `decodeRetries` broken
   * attempts the file is fetched whole (`final`): if all its bytes arrive and still do not decode,
   * it is dead-lettered with those bytes; if the transfer breaks again, it is simply retried.
   */
  private async download(type: string, file: ListedFile, pageToken: string | undefined, publisher: Publisher, final: boolean, stop: AbortSignal): Promise<DownloadOutcome> {
    const abort = new AbortController();
    const idle = idleTimer(abort, this.options.timeoutMs);
    let res: Response;
    try {
      idle.start();
      // SIGTERM (`stop`) drops a transfer in progress: a trickling body never idles out.
      res = await fetch(file.url, { signal: AbortSignal.any([abort.signal, stop]) });
      this.options.observe?.call('batch-file', String(res.status));
    } catch (err) {
      this.options.observe?.call('batch-file', 'network_error');
      this.log.warn('download failed', { type, reason: (err as Error).message });
      return 'retry';
    } finally {
      idle.stop();
    }
    if (res.status === 403 || res.status === 404) {
      await discardBody(res);
      return 'expired';
    }
    if (res.status !== 200 || !res.body) {
      await discardBody(res);
      this.log.warn('download failed', { type, status: res.status });
      return 'retry';
    }
    try {
      const body = cappedChunks(res.body as unknown as AsyncIterable<Uint8Array>, this.options.maxResponseBytes ?? DEFAULT_LIMITS.maxZipBytes, file.url);
      return await this.store(type, file, pageToken, publisher, final, body, idle);
    } finally {
      abort.abort(); // a file left part-read (a retry) must not hold its connection open
    }
  }

  private async store(
    type: string, file: ListedFile, pageToken: string | undefined, publisher: Publisher, final: boolean, body: AsyncIterable<Uint8Array>, idle: IdleTimer,
  ): Promise<DownloadOutcome> {
    const key = fileKey(file.url);
    const name = key.slice(key.lastIndexOf('/') + 1);
    const stream = this.streamName(type);
    const location = fileLocation(stream, type, key);
    let whole: Buffer | undefined;
    let batches: AsyncIterable<DecodedBatch>;
    if (final) {
      try {
        whole = await readIdle(body, idle);
      } catch (err) {
        this.log.warn('download broke', { type, file: key, reason: (err as Error).message });
        return 'retry';
      }
      batches = decodeBytes(location, whole, { limits: this.options.limits });
    } else {
      batches = decodeInput(location, Readable.from(chunksIdle(body, idle)), { limits: this.options.limits });
    }
    for await (const decoded of batches) {
      const broken = decoded.items.find((i) => i.wholeInput && readFailure(i) !== undefined);
      const reason = broken && readFailure(broken);
      let batch = decoded;
      // The line in hand at the break is part of the break: fetched again, or inside the whole file kept below.
      if (reason !== undefined) batch = { ...batch, items: batch.items.filter((i) => !i.cutShort) }; // a cut-short line is never a record
      if (reason !== undefined && !final) {
        // Keep what was read; fetch the file again rather than dead-letter it now.
        // A file's end is not the type's: only the page-token move says whether the type is caught up.
        await publisher.publish({ batch: { ...batch, items: batch.items.filter((i) => i !== broken) }, last: false, checkpoint: { kind: 'mimecast-v2', key: stream, pageToken: pageToken ?? '' } });
        this.log.warn('file broke while streaming: fetching it again', { type, file: key, reason });
        return 'retry';
      }
      if (reason !== undefined && whole) {
        // Every byte arrived and the file still does not decode: keep the file itself, for replay.
        batch = { ...batch, items: batch.items.map((i) => (i === broken ? { ...i, raw: whole!, result: { ok: false as const, reason: `${name}: ${reason}` } } : i)) };
      }
      await publisher.publish({
        batch,
        last: false,
        endsInput: decoded.last,
        checkpoint: (unit: Unit): V2BatchState => ({
          kind: 'mimecast-v2',
          key: stream,
          pageToken: pageToken ?? '',
          gaps: this.takeGap(type, this.times.span(stream, unit.events).oldest),
          ...(decoded.last ? { workItem: { stream, key, state: reason === undefined ? 'done' as const : 'dead' as const, detail: reason } } : {}),
        }),
      });
    }
    return 'done';
  }

  /** Records a page's files in the work queue as pending (with their page token and URL expiry). */
  private async queue(stream: string, pageToken: string | undefined, page: Page<ListedFile>, publisher: Publisher): Promise<void> {
    if (page.value.length === 0) return;
    const items = page.value.map((f) => ({ key: fileKey(f.url), expiry: f.expiry }));
    await publisher.publish({ source: stream, last: false, checkpoint: { kind: 'mimecast-v2', key: stream, pageToken: pageToken ?? '', listed: { stream, pageToken: pageToken ?? '', items } } });
  }

  /**
   * The gap of a type restarted after its files aged out, once the oldest event still held is known
   * (`oldestHeldMs`: the oldest believable time of the first events stored after the restart; now,
   * when nothing is held). None when that event is not newer than the newest one stored: nothing
   * was lost after all.
   */
  private takeGap(type: string, oldestHeldMs: number | undefined): Gap[] | undefined {
    const fromMs = this.gapFrom.get(type);
    if (fromMs === undefined || oldestHeldMs === undefined) return undefined;
    this.gapFrom.delete(type);
    if (oldestHeldMs <= fromMs + 1) return undefined;
    const logType = logTypeForV2(type);
    this.log.error('gap recorded: files aged out at Mimecast before they were collected', { type, from: new Date(fromMs).toISOString(), to: new Date(oldestHeldMs).toISOString() });
    return [{ fromMs, toMs: oldestHeldMs, logType, reason: `the ${type} files after the newest event stored aged out at Mimecast (kept about 7 days) before they were collected` }];
  }

  /**
   * Lists a page; when the page token points at files that aged out, marks the files still queued
   * as aged out, remembers where the gap begins and lists the type again from its oldest file kept.
   */
  private async listOrRestart(type: string, pageToken: string | undefined, publisher: Publisher, stop: AbortSignal): Promise<{ page: Page<ListedFile>; pageToken: string | undefined } | undefined> {
    try {
      const page = await this.list(type, pageToken, stop);
      return page && { page, pageToken };
    } catch (err) {
      if (!(pageToken !== undefined && err instanceof RequestRejectedError && BATCH_TOKEN_EXPIRED_CODES.includes(err.code ?? ''))) throw err;
    }
    const stream = this.streamName(type);
    await publisher.flush(); // the newest event stored includes the units still in flight
    const fromMs = this.state.newestEventMs(type) ?? 0;
    this.log.warn('the page token points at files that aged out at Mimecast: listing the type again from its oldest file still kept; the interval lost will be recorded as a gap', { type });
    // The files still kept are queued again (as pending) by the new listing; the others never will be.
    await publisher.publish({ source: stream, last: false, checkpoint: { kind: 'mimecast-v2', key: stream, agedOut: { stream } } }); // no page token: the checkpoint stays
    this.gapFrom.set(type, fromMs);
    const page = await this.list(type, undefined, stop);
    return page && { page, pageToken: undefined };
  }

  private async collectType(type: string, stop: AbortSignal, publisher: Publisher): Promise<void> {
    const stream = this.streamName(type);
    let pageToken = this.state.pageToken(type);
    const failures = new Map<string, number>(); // file key → failed fetches
    let trail = new PassTrail(false);
    while (!stop.aborted) {
      const listed = await this.listOrRestart(type, pageToken, publisher, stop);
      if (!listed) return;
      let page = listed.page;
      if (pageToken !== undefined && listed.pageToken === undefined) trail = new PassTrail(false); // listed again from the start: a new chain of tokens
      pageToken = listed.pageToken;
      const runaway = trail.runaway(pageToken, page.nextPage, page.value.length, contentDigest(page.value.map((f) => fileKey(f.url))));
      await this.queue(stream, pageToken, page, publisher);
      let relists = 0;
      for (let i = 0; i < page.value.length && !stop.aborted; ) {
        const file = page.value[i]!;
        const key = fileKey(file.url);
        if (this.state.itemState(type, key)) {
          i++;
          continue;
        }
        const failed = failures.get(key) ?? 0;
        const outcome = await this.download(type, file, pageToken, publisher, failed >= this.options.decodeRetries, stop);
        if (outcome === 'done') {
          i++;
          relists = 0; // the bound is per file: a long page may need many fresh listings in all
          continue;
        }
        if (outcome === 'retry') {
          failures.set(key, failed + 1);
          if (!(await sleep(this.backoff(failed), stop))) return;
        }
        // Expired (or failing) URL: list the same page again for fresh URLs, never skip the file.
        // Bounded per file: a person must look at a file that keeps failing (nothing is lost by stopping).
        if (++relists > this.options.maxRelists) throw new CollectorError(`file ${key} of ${type} still not stored after ${relists} attempts with fresh listings`);
        this.log.warn('listing the page again for fresh URLs', { type, file: key, after: outcome });
        await publisher.flush(); // which files are done is read back from the store
        const fresh = await this.list(type, pageToken, stop);
        if (!fresh) return;
        page = fresh;
        await this.queue(stream, pageToken, page, publisher);
        i = 0;
      }
      if (stop.aborted) return;
      if (runaway) {
        // The page's files are stored; its token is not followed (never moved back): the next poll lists again.
        this.earlyEnd.say(`batch listing of ${type} ended for this pass: ${runaway}; listing again at the next poll`, { type });
        return;
      }
      // Every file of the page is stored or dead-lettered: move the page token, even for an empty page.
      // `last` records whether the type is caught up (checkpoints.complete, shown by `stats`).
      // A gap still open when the type is caught up: nothing of the type is held at all. Taken in
      // the checkpoint function, like the files' own, so that it is taken after theirs.
      const { nextPage, isCaughtUp } = page;
      await publisher.publish({
        source: stream,
        last: isCaughtUp,
        checkpoint: (): V2BatchState => ({ kind: 'mimecast-v2', key: stream, pageToken: nextPage, gaps: isCaughtUp ? this.takeGap(type, Date.now()) : undefined }),
      });
      pageToken = page.nextPage;
      if (page.isCaughtUp) {
        this.log.info('caught up', { type });
        return;
      }
    }
  }

  /**
   * Every type until caught up, `concurrency` at a time within one rate budget; then, unless
   * `once`, poll again after the interval. A type that fails stops the others (after the file
   * in hand) and the run reports the failure.
   */
  async run(publisher: Publisher, stop: AbortSignal): Promise<void> {
    const halt = new AbortController();
    const onStop = () => halt.abort();
    stop.addEventListener('abort', onStop, { once: true });
    try {
      do {
        const queue = [...this.options.types];
        const workers = Array.from({ length: Math.max(1, Math.min(this.options.concurrency, queue.length)) }, async () => {
          for (let type = queue.shift(); type !== undefined && !halt.signal.aborted; type = queue.shift()) {
            try {
              await this.collectType(type, halt.signal, publisher);
            } catch (err) {
              halt.abort();
              throw err;
            }
          }
        });
        const results = await Promise.allSettled(workers);
        const failure = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
        if (failure) throw failure.reason;
        await publisher.flush(); // the next pass reads the page tokens this one moved
      } while (!this.options.once && !halt.signal.aborted && (await sleep(this.options.pollIntervalMs, halt.signal)));
    } finally {
      stop.removeEventListener('abort', onStop);
    }
  }
}

/**
 * A timeout on waiting for the network only: armed while a request waits for headers or the next
 * chunk, disarmed while the consumer works (decoding, committing), so a large file that takes long
 * to store is never cut off, and a stalled transfer always is.
 */
interface IdleTimer {
  start(): void;
  stop(): void;
}

function idleTimer(abort: AbortController, ms: number): IdleTimer {
  let timer: NodeJS.Timeout | undefined;
  return {
    start: () => {
      timer = setTimeout(() => abort.abort(new Error(`no data for ${ms} ms`)), ms);
    },
    stop: () => clearTimeout(timer),
  };
}

async function* chunksIdle(body: AsyncIterable<Uint8Array>, idle: IdleTimer): AsyncGenerator<Uint8Array> {
  const it = body[Symbol.asyncIterator]();
  for (;;) {
    idle.start();
    let next: IteratorResult<Uint8Array>;
    try {
      next = await it.next();
    } finally {
      idle.stop();
    }
    if (next.done) return;
    yield next.value;
  }
}

async function readIdle(body: AsyncIterable<Uint8Array>, idle: IdleTimer): Promise<Buffer> {
  const parts: Uint8Array[] = [];
  for await (const c of chunksIdle(body, idle)) parts.push(c);
  return Buffer.concat(parts);
}
