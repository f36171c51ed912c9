/**
 * API 2.0 stream collector (`--mode stream`): pages of events inline, every type together. Each
 * page is one unit whose commit moves the page token, so a restart resumes at the first page
 * not yet stored; an empty page that carries `@nextPage` still moves it.
 */
import { decodeBytes } from '../../decode/input.js';
import type { DecodeLimits } from '../../decode/limits.js';
import type { Logger } from '../../log/logger.js';
import { STREAM_PATH_V2 } from '../../mimecast/endpoints.js';
import { RunSummary } from '../../pipeline/summary.js';
import type { Transformer } from '../../pipeline/transform.js';
import type { Sink } from '../../core/sink.js';
import { type PollingOptions, sleep } from '../../util/backoff.js';
import { RateBudget } from '../../util/rate-budget.js';
import type { TokenSource } from './oauth.js';
import { PageClient } from './pages.js';

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

  constructor(
    private readonly options: StreamOptions,
    tokens: TokenSource,
    private readonly transformer: Transformer,
    private readonly sink: Sink,
    private readonly log: Logger,
  ) {
    this.pages = new PageClient(options.baseUrl, tokens, options, new RateBudget(), log);
  }

  /** From `pageToken` (the stored one; undefined: the oldest retained) until caught up; then polls unless `once`. */
  async run(pageToken: string | undefined, stop: AbortSignal): Promise<RunSummary> {
    const summary = new RunSummary();
    let token = pageToken;
    do {
      while (!stop.aborted) {
        const page = await this.pages.get<unknown>(STREAM_PATH_V2, { pageSize: String(this.options.pageSize), nextPage: token }, stop, 'stream page');
        if (!page) break;
        await this.store(page.value, token, page.nextPage, page.isCaughtUp, summary);
        token = page.nextPage;
        summary.inputs++;
        if (page.isCaughtUp) {
          this.log.info('caught up', { mode: 'stream' });
          break;
        }
      }
    } while (!this.options.once && !stop.aborted && (await sleep(this.options.pollIntervalMs, stop)));
    return summary;
  }

  /**
   * Decodes a page's events as NDJSON lines (each event re-serialized: its fields, not its bytes,
   * make the fingerprint) and commits them; only the page's last unit moves the token to `next`.
   */
  private async store(events: unknown[], token: string | undefined, next: string, caughtUp: boolean, summary: RunSummary): Promise<void> {
    const source = `${this.options.checkpointKey} page ${token ?? 'first'}`;
    const text = events.map((e) => JSON.stringify(e)).join('\n');
    for await (const batch of decodeBytes(source, Buffer.from(text), { limits: this.options.limits })) {
      // `last` of the page's last unit records whether the stream is caught up (checkpoints.complete).
      const unit = { ...this.transformer.process(batch), last: batch.last && caughtUp };
      summary.countUnit(unit);
      summary.addSink(await this.sink.write(unit, { key: this.options.checkpointKey, position: 0, cursor: batch.last ? next : token ?? '' }));
    }
  }
}
