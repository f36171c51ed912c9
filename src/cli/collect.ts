/** `mimelog collect`: pull SIEM logs from Mimecast (API 1.0 or 2.0) into the embedded store or a search engine. */
import { readFileSync, statSync } from 'node:fs';
import { type Command, Option } from 'commander';
import { Logger, type Level } from '../log/logger.js';
import { V1_REGIONS, V2_REGIONS } from '../mimecast/endpoints.js';
import { type ProductName, SIEM_PRODUCTS, listingTypes } from '../mimecast/products.js';
import type { V1Credentials } from '../mimecast/v1-auth.js';
import { Driver } from '../pipeline/driver.js';
import type { RunSummary } from '../pipeline/summary.js';
import type { ApiObserver, PollingOptions } from '../util/backoff.js';
import { EXIT, MimelogError, UsageError, restated } from '../util/errors.js';
import { type InvalidTokenPolicy, V1Collector } from '../sources/mimecast-v1/collector.js';
import { V2BatchCollector } from '../sources/mimecast-v2/batch.js';
import { DEFAULT_MAX_PAGES_PER_WINDOW, FeedCollector } from '../sources/mimecast-v2/feeds.js';
import { FEEDS, type FeedSpec, feedNamed } from '../mimecast/feeds.js';
import { V2StreamCollector } from '../sources/mimecast-v2/stream.js';
import { TokenSource } from '../sources/mimecast-v2/oauth.js';
import { Store } from '../store/store.js';
import type { Sink } from '../core/sink.js';
import { ENV } from './env.js';
import { integerOption } from './options.js';
import { DEFAULT_MAX_SERVER_WAIT_MS } from '../util/rate-budget.js';
import { DEFAULT_LIMITS } from '../decode/limits.js';
import { checkNoUrlCredentials } from '../sources/http-body.js';
import { type LimitCliOptions, type PipelineOptions, addDbOption, addLimitOptions, addPipelineOptions, addWorkersOption, buildTransformer, limitsFrom } from './ingest.js';
import { Progress } from './progress.js';
import { SEARCH_SINKS, type SearchSinkCliOptions, addSearchSinkOptions, openStoreOrSearchSink } from './sink-options.js';

const V1_ENV = ENV.v1;

interface ConfigFile extends Partial<V1Credentials> {
  baseUrl?: string;
}

/** Credentials from a config file, overridden by environment variables. Values are never printed. */
export function loadCredentials(configPath: string | undefined, env: NodeJS.ProcessEnv): { credentials: V1Credentials; baseUrl?: string } {
  let file: ConfigFile = {};
  if (configPath) {
    let text: string;
    try {
      text = readFileSync(configPath, 'utf8');
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      throw new UsageError(`config file ${configPath}: ${code === 'ENOENT' ? 'no such file' : code === 'EACCES' ? 'permission denied' : (err as Error).message}`);
    }
    try {
      file = JSON.parse(text) as ConfigFile;
    } catch (err) {
      throw new UsageError(`config file ${configPath}: not valid JSON (${(err as Error).message})`);
    }
    // It holds keys: one that others can read is refused, with the fix.
    if ((statSync(configPath).mode & 0o077) !== 0 && (file.secretKey || file.appKey || file.accessKey)) {
      throw new UsageError(`config file ${configPath} holds Mimecast keys and is readable by others: run chmod 600 ${configPath}`);
    }
  }
  const pick = (k: keyof typeof V1_ENV) => env[V1_ENV[k]] ?? file[k];
  const missing = (Object.keys(V1_ENV) as (keyof typeof V1_ENV)[]).filter((k) => !pick(k));
  if (missing.length) {
    throw new UsageError(`missing Mimecast credentials: set ${missing.map((k) => V1_ENV[k]).join(', ')} (or put them in --config)`);
  }
  return { credentials: { appId: pick('appId')!, appKey: pick('appKey')!, accessKey: pick('accessKey')!, secretKey: pick('secretKey')! }, baseUrl: file.baseUrl };
}

export interface CollectOptions extends PipelineOptions, SearchSinkCliOptions, LimitCliOptions {
  maxResponseBytes: string;
  api: string;
  mode: string;
  concurrency: string;
  types?: string;
  /** v2 batch: `cg` (default) or `ci`. */
  product?: string;
  pageSize?: string;
  url?: string;
  region?: string;
  config?: string;
  format: 'key_value' | 'json'; // commander checks the choices
  compress: boolean;
  once: boolean;
  pollInterval: string;
  timeout: string;
  retryBaseMs: string;
  retryMaxMs: string;
  maxRetries: string;
  decodeRetries: string;
  onInvalidToken: string;
  logLevel: string;
  /** API 2.0 POST feeds instead of the SIEM logs (mimecast/feeds.ts). */
  feeds?: string;
  safetyLag: string;
  overlap: string;
  firstLookBackDays: string;
  /** The longest wait (seconds) a server's X-RateLimit-Reset or Retry-After may impose (default DEFAULT_MAX_SERVER_WAIT_MS). */
  maxServerWait?: string;
  /** feeds: pages in one window before it is given up as a runaway (default DEFAULT_MAX_PAGES_PER_WINDOW). */
  maxPagesPerWindow?: string;
}

function checkUrl(url: string): void {
  try {
    checkNoUrlCredentials(url, '--url');
  } catch (err) {
    throw new UsageError((err as Error).message);
  }
}

function num(value: string, flag: string): number {
  const n = Number(value);
  if (!Number.isFinite(n) || n < 0) throw new UsageError(`${flag} must be a non-negative number`);
  return n;
}

/** Retry and polling settings shared by both API generations. */
function pollingOptions(o: CollectOptions): PollingOptions {
  return {
    once: o.once,
    pollIntervalMs: num(o.pollInterval, '--poll-interval') * 1000,
    timeoutMs: num(o.timeout, '--timeout') * 1000,
    retryBaseMs: num(o.retryBaseMs, '--retry-base-ms'),
    retryMaxMs: num(o.retryMaxMs, '--retry-max-ms'),
    maxRetries: num(o.maxRetries, '--max-retries'),
    maxResponseBytes: integerOption(o.maxResponseBytes, '--max-response-bytes', 1024),
    maxServerWaitMs: o.maxServerWait === undefined ? undefined : num(o.maxServerWait, '--max-server-wait') * 1000,
  };
}

/** The collector's structured log, masking the given secrets. */
function collectorLogger(o: CollectOptions, ...secrets: string[]): Logger {
  const log = new Logger(process.stderr, o.logLevel as Level);
  log.addSecrets(...secrets);
  return log;
}

/** Aborts on SIGINT/SIGTERM: the collector finishes the file in hand, then stops. */
function stopOnSignal(log: Logger): AbortSignal {
  const stop = new AbortController();
  const onSignal = () => {
    log.info('signal received: finishing the file in hand, then stopping');
    stop.abort();
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  return stop.signal;
}

/**
 * Runs a collection: logs its summary, exits 2 when something was dead-lettered, turns errors
 * that need a person into one clear line, and always releases what it opened.
 */
async function runCollection(log: Logger, run: () => Promise<RunSummary>, release: () => Promise<void>): Promise<void> {
  try {
    const summary = await run();
    log.info('done', summary.toJSON());
    if (summary.sink.deadLetters > 0) process.exitCode = EXIT.deadLettered;
    if (summary.gaps > 0) process.exitCode = EXIT.gap; // data was lost at the source: the loudest status
  } catch (err) {
    if (err instanceof MimelogError) throw restated(err, `collect: ${log.redact(err.message)}`, err.kind);
    throw err;
  } finally {
    await release();
  }
}

export function registerCollect(program: Command): void {
  const cmd = program
    .command('collect')
    .description('collect SIEM logs from the Mimecast API into the embedded store, resuming from the stored checkpoint')
    .addOption(new Option('--api <version>', 'API generation: v1 (get-siem-logs) or v2 (OAuth2: batch files or stream)').choices(['v1', 'v2']).default('v1'))
    .option('--types <list>', "v2 batch: comma-separated API 2.0 types to collect (default: all of the product's)")
    .addOption(new Option('--product <product>', 'v2 batch: cg (Cloud Gateway: the SIEM logs) or ci (Cloud Integrated: entities, mailflow, urlclick)').choices(['cg', 'ci']).default('cg'))
    .addOption(new Option('--mode <mode>', 'v2: batch (files, durable work queue) or stream (events inline)').choices(['batch', 'stream']).default('batch'))
    .option('--page-size <n>', 'v2: files per listing page (batch, default 25) or events per page (stream and feeds, default 500)')
    .option('--feeds <list>', `v2: collect these POST feeds instead of the SIEM logs: all, or a list of ${FEEDS.map((f) => f.name).join(', ')}`)
    .option('--safety-lag <seconds>', 'feeds: windows end this long before now (Mimecast indexes some records late)', '900')
    .option('--overlap <seconds>', 'feeds: each window starts this long before the previous one ended', '60')
    .option('--first-look-back-days <days>', "feeds: where a feed never collected starts (at most the feed's look-back)", '7')
    .option('--max-pages-per-window <n>', `feeds: pages in one window before the window is given up (dead letter and gap) as a runaway next-page token (default ${DEFAULT_MAX_PAGES_PER_WINDOW})`)
    .option('--concurrency <n>', 'v2 batch and feeds: types or feeds collected at once, sharing one rate budget', '3')
    .option('--url <url>', 'API base URL (e.g. the simulator); overrides --region')
    .option('--region <region>', `API host by region: v1 ${Object.keys(V1_REGIONS).join(', ')}; v2 ${Object.keys(V2_REGIONS).join(', ')}`)
    .option('--config <path>', 'JSON file with appId, appKey, accessKey, secretKey, baseUrl (environment variables win)')
    .addOption(new Option('--format <format>', 'file format to request').choices(['key_value', 'json']).default('key_value'))
    .option('--no-compress', 'ask for plain files instead of zip')
    .option('--once', 'exit when caught up instead of polling', false)
    .option('--poll-interval <seconds>', 'wait between polls once caught up', '300')
    .option('--timeout <seconds>', 'per-request timeout', '120')
    .option('--retry-base-ms <ms>', 'first back-off delay', '1000')
    .option('--retry-max-ms <ms>', 'longest back-off delay', '120000')
    .option('--max-retries <n>', 'consecutive failed calls before giving up', '30')
    .option('--max-server-wait <seconds>', `longest wait a server's X-RateLimit-Reset or Retry-After may impose; a longer one is capped (said once) (default ${DEFAULT_MAX_SERVER_WAIT_MS / 1000})`)
    .option('--decode-retries <n>', 'extra fetches of a file that does not decode before it is dead-lettered', '2')
    .addOption(new Option('--on-invalid-token <policy>', 'restart (from the oldest retained data; duplicates are dropped) or stop').choices(['restart', 'stop']).default('restart'))
    .addOption(new Option('--log-level <level>', 'how much the collector logs').choices(['debug', 'info', 'warn', 'error']).default('info'))
    .option('--max-response-bytes <n>', 'larger API answers are not read whole: a file is dead-lettered with its head', String(DEFAULT_LIMITS.maxZipBytes))
    .addHelpText('after', `
Credentials come from the environment, never from the command line:
  API 1.0: ${Object.values(V1_ENV).join(', ')} (or --config)
  API 2.0: ${Object.values(ENV.v2).join(', ')}`);
  cmd.addOption(new Option('--sink <sink>', 'where events go: sqlite (the embedded store) or a search engine').choices(['sqlite', ...SEARCH_SINKS]).default('sqlite'));
  addLimitOptions(addWorkersOption(addPipelineOptions(addSearchSinkOptions(addDbOption(cmd))))).action(async (o: CollectOptions) => {
    if (o.url !== undefined) checkUrl(o.url);
    const source = resolveSource(o, process.env);
    const log = collectorLogger(o, ...source.secrets);
    const store = new Store(o.db); // reads checkpoints, page tokens and work-item states; the sink writes
    const sink = await openStoreOrSearchSink(o, log);
    const stop = stopOnSignal(log);
    const progress = new Progress(process.stderr, 'collect', (fields) => log.info('progress', fields));
    const run = async () => {
      try {
        return await startCollector(o, source, { sink, store, log, stop, progress });
      } finally {
        progress.done(); // clear the terminal line before the summary is logged
      }
    };
    await runCollection(log, run, async () => {
      await sink.close();
      store.close();
    });
  });
}

/** Where a collection reads from and with which credentials; `secrets` for the log's mask. */
export type ResolvedSource =
  | { readonly api: 'v1'; readonly baseUrl: string; readonly credentials: V1Credentials; readonly secrets: string[] }
  | { readonly api: 'v2'; readonly baseUrl: string; readonly clientId: string; readonly clientSecret: string; readonly secrets: string[] };

/** The API, its address and its credentials, from the options, the config file and the environment. */
export function resolveSource(o: CollectOptions, env: NodeJS.ProcessEnv, given?: { credentials?: V1Credentials; clientId?: string; clientSecret?: string }): ResolvedSource {
  if (o.api === 'v2') {
    const clientId = given?.clientId ?? env[ENV.v2.clientId];
    const clientSecret = given?.clientSecret ?? env[ENV.v2.clientSecret];
    if (!clientId || !clientSecret) throw new UsageError(`missing Mimecast API 2.0 credentials: set ${ENV.v2.clientId} and ${ENV.v2.clientSecret}`);
    const baseUrl = o.url ?? (o.region ? V2_REGIONS[o.region] : undefined);
    if (!baseUrl) throw new UsageError(`say where Mimecast is: --region (${Object.keys(V2_REGIONS).join(', ')}) or --url`);
    return { api: 'v2', baseUrl, clientId, clientSecret, secrets: [clientSecret] };
  }
  const loaded = given?.credentials ? { credentials: given.credentials, baseUrl: undefined } : loadCredentials(o.config, env);
  const baseUrl = o.url ?? (o.region ? V1_REGIONS[o.region] : undefined) ?? loaded.baseUrl;
  if (!baseUrl) throw new UsageError(`say where Mimecast is: --region (${Object.keys(V1_REGIONS).join(', ')}) or --url`);
  const c = loaded.credentials;
  return { api: 'v1', baseUrl, credentials: c, secrets: [c.secretKey, c.accessKey, c.appKey] };
}

export interface CollectorDeps {
  readonly sink: Sink;
  /** Read side of the state: checkpoints, page tokens, work-item states. */
  readonly store: Store;
  readonly log: Logger;
  readonly stop: AbortSignal;
  readonly progress?: Progress;
  /** Told about every API call (the service's metrics). */
  readonly observe?: ApiObserver;
  /**
   * The service's name for this source: it goes into the checkpoint names, so two accounts on
   * one API host keep separate state. `collect` has none (its names stay as they were).
   */
  readonly name?: string;
}

/** Checkpoint name of an API source: `<kind> <origin>`, plus `[name]` for a named source. */
export function checkpointName(kind: 'mimecast-v1' | 'mimecast-v2' | 'mimecast-v2-stream' | 'mimecast-v2-feed', baseUrl: string, name?: string): string {
  return `${kind} ${new URL(baseUrl).origin}${name ? ` [${name}]` : ''}`;
}

/** Runs one collection (API 1.0, API 2.0 batch or stream) until caught up (`--once`) or stopped. */
export function startCollector(o: CollectOptions, source: ResolvedSource, deps: CollectorDeps): Promise<RunSummary> {
  return source.api === 'v1' ? startV1(o, source, deps) : startV2(o, source, deps);
}

async function startV1(o: CollectOptions, source: Extract<ResolvedSource, { api: 'v1' }>, deps: CollectorDeps): Promise<RunSummary> {
  const { log, stop, progress } = deps;
  const { transformer, workers } = buildTransformer(o);
  const checkpointKey = checkpointName('mimecast-v1', source.baseUrl, deps.name);
  const cp = deps.store.registry.checkpoint(checkpointKey);
  const collector = new V1Collector(
    {
      ...pollingOptions(o),
      observe: deps.observe,
      baseUrl: source.baseUrl,
      credentials: source.credentials,
      fileFormat: o.format,
      compress: o.compress,
      decodeRetries: num(o.decodeRetries, '--decode-retries'),
      onInvalidToken: o.onInvalidToken as InvalidTokenPolicy,
      checkpointKey,
      maxResponseBytes: integerOption(o.maxResponseBytes, '--max-response-bytes', 1024)!,
      limits: limitsFrom(o),
    },
    log,
  );
  log.info('collecting', { api: 'v1', url: source.baseUrl, resume: cp?.cursor ? 'from checkpoint' : 'from the oldest retained data', files_done: cp?.position ?? 0 });
  const driver = new Driver(transformer, deps.sink, {
    kind: 'mimecast-v1',
    workers,
    onUnit: (unit, s) => {
      if (unit.events.length === 0 && unit.deadLetters.length === 0) return;
      const lag = unit.events.length > 0 ? Date.now() - unit.events.reduce((m, e) => Math.max(m, e.timeMs), -Infinity) : undefined;
      const lagMin = lag === undefined ? undefined : Math.round(lag / 60000);
      progress?.update(s.records, `${s.inputs} files${lagMin !== undefined ? `, lag ${lagMin} min` : ''}`, { files: s.inputs, lag_minutes: lagMin });
    },
  });
  const state = { token: cp?.cursor ?? undefined, filesDone: cp?.position ?? 0, newestByType: cp?.newestByType ?? {} };
  await driver.run((publisher) => collector.run(state, publisher, stop));
  return driver.summary;
}

/** API 2.0: batch files through the durable work queue, or the stream (`--mode stream`). */
/** `--feeds`: `all` or a comma-separated list of feed names. */
function parseFeeds(list: string): FeedSpec[] {
  const names = list.split(',').map((n) => n.trim()).filter(Boolean);
  if (names.length === 1 && names[0] === 'all') return [...FEEDS];
  return names.map((n) => {
    const feed = feedNamed(n);
    if (!feed) throw new UsageError(`unknown feed "${n}" in --feeds; known: all, ${FEEDS.map((f) => f.name).join(', ')}`);
    return feed;
  });
}

async function startV2(o: CollectOptions, source: Extract<ResolvedSource, { api: 'v2' }>, deps: CollectorDeps): Promise<RunSummary> {
  const { log, stop, store } = deps;
  const baseUrl = source.baseUrl;
  const { transformer, workers } = buildTransformer(o);
  const product = SIEM_PRODUCTS[(o.product ?? 'cg') as ProductName];
  const types = o.types ? o.types.split(',').map((t) => t.trim()).filter(Boolean) : listingTypes(product.name);
  const streamName = (type: string) => `${checkpointName('mimecast-v2', baseUrl, deps.name)} ${type}`;
  const polling = { ...pollingOptions(o), observe: deps.observe };
  const tokens = new TokenSource(baseUrl, { clientId: source.clientId, clientSecret: source.clientSecret }, polling.timeoutMs, deps.observe);
  if (o.feeds !== undefined) {
    const feeds = parseFeeds(o.feeds);
    const checkpointKey = (feed: FeedSpec) => `${checkpointName('mimecast-v2-feed', baseUrl, deps.name)} ${feed.name}`;
    const collector = new FeedCollector(
      {
        ...polling, baseUrl, feeds, pageSize: num(o.pageSize ?? '500', '--page-size'), limits: limitsFrom(o), checkpointKey,
        safetyLagMs: num(o.safetyLag, '--safety-lag') * 1000, overlapMs: num(o.overlap, '--overlap') * 1000,
        maxWindowMs: 86_400_000, firstLookBackMs: num(o.firstLookBackDays, '--first-look-back-days') * 86_400_000,
        concurrency: Math.max(1, num(o.concurrency, '--concurrency')),
        maxPagesPerWindow: integerOption(o.maxPagesPerWindow, '--max-pages-per-window', 1),
      },
      tokens,
      (feed) => {
        const cursor = Number(store.registry.checkpoint(checkpointKey(feed))?.cursor ?? NaN);
        return Number.isFinite(cursor) && cursor > 0 ? cursor : undefined;
      },
      log,
    );
    log.info('collecting', { api: 'v2', mode: 'feeds', url: baseUrl, feeds: feeds.map((f) => f.name) });
    const driver = new Driver(transformer, deps.sink, { kind: 'mimecast-v2-feed', workers });
    const { unavailableFeeds } = await driver.run((publisher) => collector.run(publisher, stop));
    driver.summary.unavailableFeeds = unavailableFeeds;
    return driver.summary;
  }
  if (o.mode === 'stream') {
    if (product.name !== 'cg') throw new UsageError(`--mode stream reads Cloud Gateway's stream only; collect ${product.title} with --mode batch`);
    const checkpointKey = checkpointName('mimecast-v2-stream', baseUrl, deps.name);
    const collector = new V2StreamCollector({ ...polling, baseUrl, pageSize: num(o.pageSize ?? '500', '--page-size'), checkpointKey, limits: limitsFrom(o) }, tokens, log);
    const cp = store.registry.checkpoint(checkpointKey);
    const token = cp?.cursor || undefined;
    log.info('collecting', { api: 'v2', mode: 'stream', url: baseUrl, resume: token ? 'from checkpoint' : 'from the oldest retained data' });
    const driver = new Driver(transformer, deps.sink, { kind: 'mimecast-v2-stream', workers });
    await driver.run((publisher) => collector.run(token, publisher, stop, cp?.newestEventMs ?? undefined));
    return driver.summary;
  }
  const collector = new V2BatchCollector(
    {
      ...polling, baseUrl, path: product.batchPath, types, pageSize: num(o.pageSize ?? '25', '--page-size'), maxRelists: Math.max(10, polling.maxRetries),
      decodeRetries: num(o.decodeRetries, '--decode-retries'), concurrency: Math.max(1, num(o.concurrency, '--concurrency')), limits: limitsFrom(o),
    },
    tokens,
    {
      pageToken: (type) => store.registry.checkpoint(streamName(type))?.cursor || undefined,
      itemState: (type, key) => store.registry.workItemState(streamName(type), key),
      newestEventMs: (type) => store.registry.checkpoint(streamName(type))?.newestEventMs ?? undefined,
    },
    log,
    streamName,
  );
  log.info('collecting', { api: 'v2', mode: 'batch', product: product.title, url: baseUrl, types: types.length, concurrency: o.concurrency });
  const driver = new Driver(transformer, deps.sink, { kind: 'mimecast-v2', workers });
  await driver.run((publisher) => collector.run(publisher, stop));
  return driver.summary;
}
