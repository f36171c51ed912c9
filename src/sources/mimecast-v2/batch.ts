/**
 * API 2.0 batch collector. For each type it pages through the batch listing; every listed file is
 * an item of a durable work queue in the store. A file's events commit batch by batch, and the
 * last batch marks the item done in the same transaction. The page token moves only when every
 * file of the page is done or dead-lettered, and it is kept even when a page is empty. An expired
 * pre-signed URL is never skipped: the page is listed again for a fresh URL to the same file.
 */
import { Readable } from 'node:stream';
import type { ReadableStream as WebReadableStream } from 'node:stream/web';
import { decodeInput } from '../../decode/input.js';
import type { Logger } from '../../log/logger.js';
import { BATCH_PATH_V2 } from '../../mimecast/endpoints.js';
import { RunSummary } from '../../pipeline/summary.js';
import type { Transformer } from '../../pipeline/transform.js';
import type { Sink } from '../../sinks/sink.js';
import { type PollingOptions, backoffDelay, sleep } from '../backoff.js';
import { CollectorError } from '../mimecast-v1/collector.js';
import { OAuthError, type TokenSource } from './oauth.js';

export interface BatchOptions extends PollingOptions {
  readonly baseUrl: string;
  /** API 2.0 type names to collect, e.g. `receipt`, `url protect`. */
  readonly types: readonly string[];
  readonly pageSize: number;
  /** Listings of a page to get fresh URLs before a file is dead-lettered as unreachable. */
  readonly maxRelists: number;
}

interface ListedFile {
  readonly url: string;
  readonly size?: number;
  readonly expiry?: string;
}

interface Page {
  readonly value: ListedFile[];
  readonly nextPage: string;
  readonly isCaughtUp: boolean;
}

/** What the store knows about progress; provided by the caller (it owns the store). */
export interface BatchState {
  /** The page token of the page in progress, or undefined for the first page. */
  pageToken(type: string): string | undefined;
  itemState(type: string, key: string): string | undefined;
}

/** The object key of a pre-signed URL: stable when the page is listed again. */
export function fileKey(url: string): string {
  const u = new URL(url);
  return `${u.host}${u.pathname}`;
}

export class V2BatchCollector {
  constructor(
    private readonly options: BatchOptions,
    private readonly tokens: TokenSource,
    private readonly transformer: Transformer,
    private readonly sink: Sink,
    private readonly state: BatchState,
    private readonly log: Logger,
    private readonly streamName: (type: string) => string,
  ) {}

  private backoff(attempt: number): number {
    return backoffDelay(attempt, { baseMs: this.options.retryBaseMs, maxMs: this.options.retryMaxMs });
  }

  /** One listing call with token refresh on 401, 429 waits and 5xx back-off. */
  private async list(type: string, pageToken: string | undefined, stop: AbortSignal): Promise<Page | undefined> {
    let refreshed = false;
    for (let attempt = 0; ; attempt++) {
      const url = new URL(BATCH_PATH_V2, this.options.baseUrl);
      url.searchParams.set('type', type);
      url.searchParams.set('pageSize', String(this.options.pageSize));
      if (pageToken) url.searchParams.set('nextPage', pageToken);
      let wait: number | undefined;
      let reason: string;
      try {
        const res = await fetch(url, { headers: { authorization: `Bearer ${await this.tokens.get()}`, accept: 'application/json' }, signal: AbortSignal.timeout(this.options.timeoutMs) });
        const body = (await res.json().catch(() => ({}))) as { value?: ListedFile[]; '@nextPage'?: string; isCaughtUp?: boolean; error?: { code?: string; message?: string } };
        if (res.status === 200 && Array.isArray(body.value)) {
          return { value: body.value, nextPage: body['@nextPage'] ?? pageToken ?? '', isCaughtUp: body.isCaughtUp === true };
        }
        if (res.status === 401 && !refreshed) {
          refreshed = true; // one new token, then one retry
          this.tokens.invalidate();
          attempt--;
          continue;
        }
        if (res.status === 401 || res.status === 403) throw new CollectorError(`API 2.0 refused the listing (HTTP ${res.status}): check the application's permissions for SIEM logs`);
        if (res.status === 400) throw new CollectorError(`API 2.0 rejected the listing for type "${type}": ${body.error?.message ?? 'bad request'}`);
        reason = `HTTP ${res.status}${body.error?.code ? ` ${body.error.code}` : ''}`;
        if (res.status === 429) {
          const reset = Number(res.headers.get('x-ratelimit-reset'));
          wait = Number.isFinite(reset) && reset > 0 ? reset : 1000;
        }
      } catch (err) {
        if (err instanceof CollectorError || err instanceof OAuthError) throw err; // a person must act
        reason = `listing failed: ${(err as Error).name === 'TimeoutError' ? 'timed out' : (err as Error).message}`;
      }
      if (attempt >= this.options.maxRetries) throw new CollectorError(`giving up on the ${type} listing after ${attempt + 1} tries: ${reason}`);
      const delay = wait ?? this.backoff(attempt);
      this.log.warn('retrying', { type, reason, attempt: attempt + 1, wait_ms: delay });
      if (!(await sleep(delay, stop))) return undefined;
    }
  }

  /**
   * Downloads one file (no Authorization header: the URL is pre-signed) and stores it batch by
   * batch. Returns 'expired' when the URL no longer works, so the caller lists the page again.
   */
  private async download(type: string, file: ListedFile, pageToken: string | undefined, summary: RunSummary): Promise<'done' | 'expired' | 'retry'> {
    let res: Response;
    try {
      res = await fetch(file.url, { signal: AbortSignal.timeout(this.options.timeoutMs) });
    } catch (err) {
      this.log.warn('download failed', { type, reason: (err as Error).message });
      return 'retry';
    }
    if (res.status === 403 || res.status === 404) {
      await res.arrayBuffer().catch(() => undefined);
      return 'expired';
    }
    if (res.status !== 200 || !res.body) {
      await res.arrayBuffer().catch(() => undefined);
      this.log.warn('download failed', { type, status: res.status });
      return 'retry';
    }
    const key = fileKey(file.url);
    const name = key.slice(key.lastIndexOf('/') + 1);
    const stream = this.streamName(type);
    const body = Readable.fromWeb(res.body as unknown as WebReadableStream<Uint8Array>);
    for await (const batch of decodeInput(name, body)) {
      const unit = this.transformer.process(batch);
      const whole = batch.items.find((i) => i.wholeInput && !i.result.ok);
      summary.countUnit(unit);
      const counts = await this.sink.write(unit, {
        key: stream,
        cursor: pageToken ?? '',
        ...(batch.last ? { workItem: { stream, key, state: whole ? 'dead' : 'done', detail: whole ? (whole.result.ok ? '' : whole.result.reason) : undefined } } : {}),
      });
      summary.addSink(counts);
    }
    summary.inputs++;
    return 'done';
  }

  private async collectType(type: string, stop: AbortSignal, summary: RunSummary): Promise<void> {
    const stream = this.streamName(type);
    let pageToken = this.state.pageToken(type);
    while (!stop.aborted) {
      let page = await this.list(type, pageToken, stop);
      if (!page) return;
      let relists = 0;
      for (let i = 0; i < page.value.length && !stop.aborted; ) {
        const file = page.value[i]!;
        if (this.state.itemState(type, fileKey(file.url))) {
          i++;
          continue;
        }
        const outcome = await this.download(type, file, pageToken, summary);
        if (outcome === 'done') {
          i++;
          continue;
        }
        if (outcome === 'retry') {
          if (!(await sleep(this.backoff(relists), stop))) return;
        }
        // Expired (or failing) URL: list the same page again for fresh URLs, never skip the file.
        if (++relists > this.options.maxRelists) throw new CollectorError(`file ${fileKey(file.url)} of ${type} still unreachable after ${relists - 1} fresh listings`);
        this.log.warn('pre-signed URL expired or failed: listing the page again', { type, file: fileKey(file.url) });
        const fresh = await this.list(type, pageToken, stop);
        if (!fresh) return;
        page = fresh;
        i = 0;
      }
      if (stop.aborted) return;
      // Every file of the page is stored or dead-lettered: move the page token, even for an empty page.
      await this.sink.write({ source: stream, events: [], deadLetters: [], position: 0, last: true }, { key: stream, cursor: page.nextPage });
      pageToken = page.nextPage;
      if (page.isCaughtUp) {
        this.log.info('caught up', { type });
        return;
      }
    }
  }

  /** Each type until caught up, in turn; then, unless `once`, poll again after the interval. */
  async run(stop: AbortSignal): Promise<RunSummary> {
    const summary = new RunSummary();
    do {
      for (const type of this.options.types) {
        if (stop.aborted) break;
        await this.collectType(type, stop, summary);
      }
    } while (!this.options.once && !stop.aborted && (await sleep(this.options.pollIntervalMs, stop)));
    return summary;
  }
}
