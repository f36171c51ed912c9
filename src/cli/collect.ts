/** `mimelog collect`: pull SIEM logs from Mimecast (API 1.0 or 2.0) into the embedded store or a search engine. */
import { type SmallFile, UnreadableFile, readSmallFile, readableByOthers } from '../config/read-file.js';
import { type Command, Option } from 'commander';
import { Logger, type Level } from '../log/logger.js';
import { V1_REGIONS, V2_REGIONS } from '../mimecast/endpoints.js';
import { type ProductName, SIEM_PRODUCTS, listingTypes, logTypeForV2 } from '../mimecast/products.js';
import type { V1Credentials } from '../mimecast/v1-auth.js';
import { Driver } from '../pipeline/driver.js';
import type { RunSummary } from '../pipeline/summary.js';
import type { ApiObserver, PollingOptions } from '../util/backoff.js';
import { EXIT, MimelogError, UsageError, restated } from '../util/errors.js';
import { type InvalidTokenPolicy, V1Collector } from '../sources/mimecast-v1/collector.js';
import { V2BatchCollector } from '../sources/mimecast-v2/batch.js';
import { FeedCollector } from '../sources/mimecast-v2/feeds.js';
import { FEEDS, type FeedSpec, feedNamed } from '../mimecast/feeds.js';
import { V2StreamCollector } from '../sources/mimecast-v2/stream.js';
import { TokenSource } from '../sources/mimecast-v2/oauth.js';
import { Store } from '../store/store.js';
import { handoverJson, handoverStatus, recordHandoverGaps, startHandover, streamStartMs } from '../store/handover.js';
import type { Gap, Sink } from '../core/sink.js';
import { ENV } from '../config/env.js';
import { addNumberOptions } from './options.js';
import { defaultOf, setting } from '../config/settings.js';
import { checkNoUrlCredentials } from '../sources/http-body.js';
import { type LimitCliOptions, type PipelineOptions, addDbOption, addLimitOptions, addPipelineOptions, addWorkersOption, buildTransformer, limitsFrom } from './ingest.js';
import { Progress } from './progress.js';
import { trustedSpan } from '../core/trusted-time.js';
import { type SinkCliOptions, addSinkOptions, openCliSink } from './sink-options.js';
import { type ApiCheckpointKind, accountIdentity, checkSourceName, choosePlace, claimPlace } from './source-account.js';

const V1_ENV = ENV.v1;

interface ConfigFile extends Partial<V1Credentials> {
  baseUrl?: string;
}

/** Credentials from a config file, overridden by environment variables. Values are never printed. */
export function loadCredentials(configPath: string | undefined, env: NodeJS.ProcessEnv): { credentials: V1Credentials; baseUrl?: string } {
  let file: ConfigFile = {};
  if (configPath) {
    let read: SmallFile;
    try {
      read = readSmallFile(configPath, 64 * 1024); // a regular file only: a FIFO or device named here must not hang the command
    } catch (err) {
      if (!(err instanceof UnreadableFile)) throw err;
      throw new UsageError(`config file ${configPath}: ${err.message}`);
    }
    try {
      file = JSON.parse(read.text) as ConfigFile;
    } catch {
      // JSON.parse's message quotes the text around the mistake, which may be a key.
      throw new UsageError(`config file ${configPath}: not valid JSON`);
    }
    if (file === null || typeof file !== 'object' || Array.isArray(file)) throw new UsageError(`config file ${configPath}: expected a JSON object`);
    // It holds keys: one that others can read is refused, with the fix.
    if (readableByOthers(read.mode) && (file.secretKey || file.appKey || file.accessKey)) {
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

export interface CollectOptions extends PipelineOptions, LimitCliOptions {
  maxResponseBytes: number;
  api: string;
  mode: string;
  concurrency: number;
  types?: string;
  /** v2 batch: `cg` (default) or `ci`. */
  product?: string;
  /** Default: the mode's (see the settings table). */
  pageSize?: number;
  url?: string;
  region?: string;
  config?: string;
  format: 'key_value' | 'json'; // commander checks the choices
  compress: boolean;
  once: boolean;
  pollInterval: number;
  timeout: number;
  retryBaseMs: number;
  retryMaxMs: number;
  maxRetries: number;
  decodeRetries: number;
  onInvalidToken: string;
  logLevel: string;
  /** API 2.0 POST feeds instead of the SIEM logs (mimecast/feeds.ts). */
  feeds?: string;
  safetyLag: number;
  overlap: number;
  firstLookBackDays: number;
  maxPagesPerWindow: number;
  maxServerWait: number;
  /** v2: take over from the API 1.0 data in this store (sources/handover.ts). */
  handOver?: boolean;
  /** What the checkpoint names say instead of the URL's origin (cli/source-account.ts). */
  sourceName?: string;
}

function checkUrl(url: string, where = '--url'): void {
  try {
    checkNoUrlCredentials(url, where);
  } catch (err) {
    throw new UsageError((err as Error).message);
  }
}

/** Retry and polling settings shared by both API generations. */
function pollingOptions(o: CollectOptions): PollingOptions {
  return {
    once: o.once,
    pollIntervalMs: o.pollInterval * 1000,
    timeoutMs: o.timeout * 1000,
    retryBaseMs: o.retryBaseMs,
    retryMaxMs: o.retryMaxMs,
    maxRetries: o.maxRetries,
    maxResponseBytes: o.maxResponseBytes,
    maxServerWaitMs: o.maxServerWait * 1000,
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
    .option('--feeds <list>', `v2: collect these POST feeds instead of the SIEM logs: all, or a list of ${FEEDS.map((f) => f.name).join(', ')}`)
    .option('--url <url>', 'API base URL (e.g. the simulator); overrides --region')
    .option('--region <region>', `API host by region: v1 ${Object.keys(V1_REGIONS).join(', ')}; v2 ${Object.keys(V2_REGIONS).join(', ')}`)
    .option('--config <path>', 'JSON file with appId, appKey, accessKey, secretKey, baseUrl (environment variables win)')
    .addOption(new Option('--source-name <name>', "name the source's checkpoints by this word instead of the URL: they stay whatever the URL (default: the URL's origin, or where the store already keeps this account's checkpoints)").argParser(checkSourceName))
    .addOption(new Option('--format <format>', 'file format to request').choices(['key_value', 'json']).default('key_value'))
    .option('--no-compress', 'ask for plain files instead of zip')
    .option('--once', 'exit when caught up instead of polling', false)
    .option('--hand-over', 'v2: take over from the API 1.0 data in this store: start where it ends per log type, with an overlap; API 1.0 stops once covered', false)
    .addOption(new Option('--on-invalid-token <policy>', 'restart (from the oldest retained data; duplicates are dropped) or stop').choices(['restart', 'stop']).default('restart'))
    .addOption(new Option('--log-level <level>', 'how much the collector logs').choices(['debug', 'info', 'warn', 'error']).default('info'))
    .addHelpText('after', `
Credentials come from the environment, never from the command line:
  API 1.0: ${Object.values(V1_ENV).join(', ')} (or --config)
  API 2.0: ${Object.values(ENV.v2).join(', ')}`);
  addNumberOptions(cmd, ['pageSize', 'safetyLag', 'overlap', 'firstLookBackDays', 'concurrency', 'pollInterval', 'timeout', 'retryBaseMs', 'retryMaxMs', 'maxRetries', 'decodeRetries', 'maxResponseBytes', 'maxServerWait', 'maxPagesPerWindow']);
  addLimitOptions(addWorkersOption(addPipelineOptions(addSinkOptions(addDbOption(cmd), 'where events go')))).action(async (o: CollectOptions & SinkCliOptions) => {
    if (o.url !== undefined) checkUrl(o.url);
    const source = resolveSource(o, process.env);
    const log = collectorLogger(o, ...source.secrets);
    const store = new Store(o.db); // reads checkpoints, page tokens and work-item states; the sink writes
    const kind = checkpointKind(o);
    const account = accountIdentity(source.api, source.api === 'v2' ? source.clientId : source.credentials.accessKey);
    let place: string;
    try {
      const chosen = choosePlace(store.db, kind, account, new URL(source.baseUrl).origin, o.sourceName);
      if (chosen.warning) log.warn(chosen.warning);
      place = chosen.place;
      claimPlace(store.db, kind, place, account);
    } catch (err) {
      store.close();
      throw err;
    }
    const sink = await openCliSink(o, log);
    const stop = stopOnSignal(log);
    const progress = new Progress(process.stderr, 'collect', (fields) => log.info('progress', fields));
    const run = async () => {
      try {
        return await startCollector(o, source, { sink, store, log, stop, progress, place });
      } finally {
        progress.done(); // clear the terminal line before the summary is logged
      }
    };
    await runCollection(log, run, async () => {
      await sink.close();
      claimPlace(store.db, kind, place, account); // the checkpoints this run created
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
  if (baseUrl === loaded.baseUrl) checkUrl(baseUrl, 'baseUrl in --config');
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
  /** What the checkpoint names say instead of the URL's origin (`collect --source-name`, or where the account's are: cli/source-account.ts). */
  readonly place?: string;
}

/** Checkpoint name of an API source: `<kind> <origin or place>`, plus `[name]` for a named source. */
export function checkpointName(kind: ApiCheckpointKind, baseUrl: string, name?: string, place?: string): string {
  return `${kind} ${place ?? new URL(baseUrl).origin}${name ? ` [${name}]` : ''}`;
}

/** The kind of checkpoint a collection writes (one per source, or per type or feed). */
function checkpointKind(o: CollectOptions): ApiCheckpointKind {
  if (o.api !== 'v2') return 'mimecast-v1';
  return o.feeds !== undefined ? 'mimecast-v2-feed' : o.mode === 'stream' ? 'mimecast-v2-stream' : 'mimecast-v2';
}

/** Runs one collection (API 1.0, API 2.0 batch or stream) until caught up (`--once`) or stopped. */
export function startCollector(o: CollectOptions, source: ResolvedSource, deps: CollectorDeps): Promise<RunSummary> {
  return source.api === 'v1' ? startV1(o, source, deps) : startV2(o, source, deps);
}

async function startV1(o: CollectOptions, source: Extract<ResolvedSource, { api: 'v1' }>, deps: CollectorDeps): Promise<RunSummary> {
  const { log, stop, progress } = deps;
  const { transformer, workers } = buildTransformer(o);
  const checkpointKey = checkpointName('mimecast-v1', source.baseUrl, deps.name, deps.place);
  const cp = deps.store.registry.checkpoint(checkpointKey);
  const collector = new V1Collector(
    {
      ...pollingOptions(o),
      observe: deps.observe,
      baseUrl: source.baseUrl,
      credentials: source.credentials,
      fileFormat: o.format,
      compress: o.compress,
      decodeRetries: o.decodeRetries,
      onInvalidToken: o.onInvalidToken as InvalidTokenPolicy,
      checkpointKey,
      maxResponseBytes: o.maxResponseBytes,
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
      const newest = trustedSpan(unit.events, Date.now()).newest; // an event dated 2126 says nothing about the lag
      const lagMin = newest === undefined ? undefined : Math.round((Date.now() - newest) / 60000);
      progress?.update(s.records, `${s.inputs} files${lagMin !== undefined ? `, lag ${lagMin} min` : ''}`, { files: s.inputs, lag_minutes: lagMin });
    },
  });
  const state = { token: cp?.cursor ?? undefined, filesDone: cp?.position ?? 0, newestByType: cp?.newestByType ?? {} };
  const handedOver = whenHandedOver(deps.store, o.pollInterval * 1000, stop, log);
  try {
    if (!handedOver.signal.aborted) await driver.run((publisher) => collector.run(state, publisher, AbortSignal.any([stop, handedOver.signal])));
  } finally {
    handedOver.release();
  }
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

/** `--page-size`, or the default of the mode it serves. */
function pageSize(o: CollectOptions, mode: 'mimecast-v2-batch' | 'mimecast-v2-stream' | 'mimecast-v2-feeds'): number {
  return o.pageSize ?? defaultOf(setting('pageSize'), mode)!;
}

async function startV2(o: CollectOptions, source: Extract<ResolvedSource, { api: 'v2' }>, deps: CollectorDeps): Promise<RunSummary> {
  const { log, stop, store } = deps;
  const baseUrl = source.baseUrl;
  const { transformer, workers } = buildTransformer(o);
  const product = SIEM_PRODUCTS[(o.product ?? 'cg') as ProductName];
  const types = o.types ? o.types.split(',').map((t) => t.trim()).filter(Boolean) : listingTypes(product.name);
  const streamName = (type: string) => `${checkpointName('mimecast-v2', baseUrl, deps.name, deps.place)} ${type}`;
  const polling = { ...pollingOptions(o), observe: deps.observe };
  const tokens = new TokenSource(baseUrl, { clientId: source.clientId, clientSecret: source.clientSecret }, polling.timeoutMs, deps.observe);
  if (o.feeds !== undefined) {
    const feeds = parseFeeds(o.feeds);
    const checkpointKey = (feed: FeedSpec) => `${checkpointName('mimecast-v2-feed', baseUrl, deps.name, deps.place)} ${feed.name}`;
    const collector = new FeedCollector(
      {
        ...polling, baseUrl, feeds, pageSize: pageSize(o, 'mimecast-v2-feeds'), limits: limitsFrom(o), checkpointKey,
        safetyLagMs: o.safetyLag * 1000, overlapMs: o.overlap * 1000,
        maxWindowMs: 86_400_000, firstLookBackMs: o.firstLookBackDays * 86_400_000,
        concurrency: o.concurrency,
        maxPagesPerWindow: o.maxPagesPerWindow,
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
    const checkpointKey = checkpointName('mimecast-v2-stream', baseUrl, deps.name, deps.place);
    const collector = new V2StreamCollector({ ...polling, baseUrl, pageSize: pageSize(o, 'mimecast-v2-stream'), checkpointKey, limits: limitsFrom(o) }, tokens, log);
    const cp = store.registry.checkpoint(checkpointKey);
    const token = cp?.cursor || undefined;
    const startAt = o.handOver && !token ? handOverStart(store) : undefined;
    log.info('collecting', { api: 'v2', mode: 'stream', url: baseUrl, resume: token ? 'from checkpoint' : startAt !== undefined ? `hand-over from ${new Date(startAt).toISOString()}` : 'from the oldest retained data' });
    const driver = new Driver(transformer, deps.sink, { kind: 'mimecast-v2-stream', workers });
    await driver.run((publisher) => collector.run(token, publisher, stop, cp?.newestEventMs ?? undefined, startAt));
    return afterHandOver(o, store, log, driver.summary, 'all');
  }
  const collector = new V2BatchCollector(
    {
      ...polling, baseUrl, path: product.batchPath, types, pageSize: pageSize(o, 'mimecast-v2-batch'), maxRelists: Math.max(10, polling.maxRetries),
      decodeRetries: o.decodeRetries, concurrency: o.concurrency, limits: limitsFrom(o),
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
  if (o.handOver) handOverStart(store); // batch files start at the oldest file kept (7 days): before API 1.0's end whenever it is still reachable
  log.info('collecting', { api: 'v2', mode: 'batch', product: product.title, url: baseUrl, types: types.length, concurrency: o.concurrency });
  const driver = new Driver(transformer, deps.sink, { kind: 'mimecast-v2', workers });
  await driver.run((publisher) => collector.run(publisher, stop));
  return afterHandOver(o, store, log, driver.summary, new Set(types.map((t) => logTypeForV2(t) ?? t)));
}

/** Marks the hand-over started; the stream's start: API 1.0's oldest per-type end less the overlap. */
function handOverStart(store: Store): number | undefined {
  startHandover(store.db, Date.now());
  return streamStartMs(handoverStatus(store.db));
}

/** After an API 2.0 run of a hand-over: where each type stands, and a gap for each type the horizon no longer reached (never silent). */
function afterHandOver(o: CollectOptions, store: Store, log: Logger, summary: RunSummary, read: ReadonlySet<string> | 'all'): RunSummary {
  if (!o.handOver) return summary;
  const handover = handoverStatus(store.db);
  // Only a pass read to its end (--once) knows that API 2.0 holds nothing more of a type.
  for (const gap of recordHandoverGaps(store.db, handover, Date.now(), o.once ? read : new Set())) {
    summary.gaps++;
    logHandoverGap(log, gap);
  }
  const now = handoverStatus(store.db);
  log.info(now.complete ? 'hand-over complete: API 2.0 covers every log type API 1.0 stored; the API 1.0 source stops' : 'hand-over in progress', { ...handoverJson(now) });
  return summary;
}

function logHandoverGap(log: Logger, gap: Gap): void {
  log.error('gap recorded: API 2.0 no longer reaches back to the newest API 1.0 event of the type', { log_type: gap.logType, from: new Date(gap.fromMs).toISOString(), to: new Date(gap.toMs).toISOString() });
}

/**
 * An API 1.0 source stops once a hand-over to API 2.0 covers every type it stored: the signal is
 * aborted at once when it already does, else as soon as a check (every poll interval) finds it.
 */
function whenHandedOver(store: Store, everyMs: number, stop: AbortSignal, log: Logger): { signal: AbortSignal; release: () => void } {
  const handed = new AbortController();
  const check = () => {
    const handover = handoverStatus(store.db);
    // A type whose API 2.0 data begins after API 1.0's end is a gap as soon as it is seen, whichever source sees it first.
    for (const gap of recordHandoverGaps(store.db, handover, Date.now(), new Set())) logHandoverGap(log, gap);
    if (!handover.complete || handed.signal.aborted) return;
    log.info('API 1.0 handed over to API 2.0: this source stops', { ...handoverJson(handover) });
    handed.abort();
  };
  check();
  const timer = setInterval(check, Math.max(1000, everyMs));
  timer.unref();
  const release = () => clearInterval(timer);
  stop.addEventListener('abort', release, { once: true });
  return { signal: handed.signal, release };
}
