/**
 * `mimelog run --config FILE`: the long-running service. src/service/ runs the sources; this file
 * turns each source of the config into the settings `collect` takes, so both run the same code.
 */
import type { Command } from 'commander';
import { hostname } from 'node:os';
import { Logger, type Level } from '../log/logger.js';
import { maskSecrets } from '../util/secrets.js';
import { type ProductName, listingTypes } from '../mimecast/products.js';
import { FEEDS } from '../mimecast/feeds.js';
import type { ServiceConfig, SourceConfig } from '../service/config.js';
import type { SourceStarter } from '../service/run.js';
import { type CollectOptions, checkpointName, resolveSource, startCollector } from './collect.js';
import { accountDigest } from './source-account.js';
import { EXIT, MimelogError, restated } from '../util/errors.js';
import { openEntries } from './sink-options.js';
import { entryName } from '../sinks/registry.js';
import { Store } from '../store/store.js';
import { listenAddress } from './console.js';
import { type LimitCliOptions, type PipelineOptions, buildTransformer, limitsFrom } from './ingest.js';
import { Driver } from '../pipeline/driver.js';
import { driveFiles } from '../pipeline/run.js';
import { runSpool } from '../sources/spool.js';
import { isLoopback, parseListen } from '../util/listen.js';
import { type NumberSettingName, SECRET_SETTINGS, defaultOf, setting } from '../config/settings.js';

type ApiSourceConfig = Exclude<SourceConfig, { kind: 'spool' }>;
type SpoolSourceConfig = Extract<SourceConfig, { kind: 'spool' }>;

const API: Record<ApiSourceConfig['kind'], { api: 'v1' | 'v2'; mode: 'batch' | 'stream' }> = {
  'mimecast-v2-feeds': { api: 'v2', mode: 'batch' },
  'mimecast-v1': { api: 'v1', mode: 'batch' },
  'mimecast-v2-batch': { api: 'v2', mode: 'batch' },
  'mimecast-v2-stream': { api: 'v2', mode: 'stream' },
};

/** The sink settings as `collect` takes them. */
/** How a source's records become documents, and its input bounds, as `ingest` and `collect` take them. */
export function pipelineOptions(s: SourceConfig): PipelineOptions & LimitCliOptions {
  return {
    type: s.type, typesFile: s.types_file, unknownTypes: s.unknown_types, original: s.original, workers: s.workers,
    maxRecordBytes: s.max_record_bytes, maxDocumentBytes: s.max_document_bytes, maxMemberBytes: s.max_member_bytes,
    maxZipBytes: s.max_zip_bytes, maxArchiveDepth: s.max_archive_depth, maxJsonDepth: s.max_json_depth, maxRecordKeys: s.max_record_keys,
  };
}

const cliDefault = (name: NumberSettingName): number => defaultOf(setting(name), 'cli')!;

/** One source's settings as `collect` takes them. */
function collectOptions(c: ServiceConfig, s: ApiSourceConfig, once: boolean): CollectOptions {
  const { api, mode } = API[s.kind];
  return {
    api, mode, once,
    url: s.url, region: s.region,
    types: s.kind === 'mimecast-v2-batch' ? s.types?.join(',') : undefined,
    product: s.kind === 'mimecast-v2-batch' ? s.product : undefined,
    // A key a kind has not gets the command line's default (the settings table's).
    pageSize: s.kind === 'mimecast-v1' ? undefined : s.page_size,
    feeds: s.kind === 'mimecast-v2-feeds' ? (s.feeds ?? FEEDS.map((f) => f.name)).join(',') : undefined,
    safetyLag: s.kind === 'mimecast-v2-feeds' ? s.safety_lag_s : cliDefault('safetyLag'),
    overlap: s.kind === 'mimecast-v2-feeds' ? s.overlap_s : cliDefault('overlap'),
    firstLookBackDays: s.kind === 'mimecast-v2-feeds' ? s.first_look_back_days : cliDefault('firstLookBackDays'),
    maxPagesPerWindow: s.kind === 'mimecast-v2-feeds' ? s.max_pages_per_window : cliDefault('maxPagesPerWindow'),
    concurrency: s.kind === 'mimecast-v2-batch' || s.kind === 'mimecast-v2-feeds' ? s.concurrency : 1,
    format: s.kind === 'mimecast-v1' ? s.format : 'key_value',
    compress: s.kind === 'mimecast-v1' ? s.compress : true,
    decodeRetries: s.kind === 'mimecast-v2-stream' || s.kind === 'mimecast-v2-feeds' ? cliDefault('decodeRetries') : s.decode_retries,
    onInvalidToken: s.kind === 'mimecast-v1' ? s.on_invalid_token : 'restart',
    handOver: (s.kind === 'mimecast-v2-batch' || s.kind === 'mimecast-v2-stream') && s.hand_over,
    pollInterval: s.poll_interval_s, timeout: s.timeout_s, retryBaseMs: s.retry_base_ms, retryMaxMs: s.retry_max_ms,
    maxRetries: s.max_retries, maxResponseBytes: s.max_response_bytes, maxServerWait: s.max_server_wait_s, logLevel: c.log_level,
    ...pipelineOptions(s),
  };
}

/** A spool directory: its files' checkpoints are their paths, and nothing there ages out. */
function spoolStarter(c: ServiceConfig, s: SpoolSourceConfig, once: boolean): SourceStarter {
  const o = pipelineOptions(s);
  const { transformer, workers } = buildTransformer(o); // a bad types file fails the config check, not the first poll
  const options = { path: s.path, pollIntervalMs: s.poll_interval_s * 1000, once, limits: limitsFrom(o), exclude: [c.store, `${c.store}-wal`, `${c.store}-shm`, `${c.store}-journal`] };
  return {
    name: s.name, kind: s.kind, checkpointNames: [],
    start: (deps) => driveFiles(new Driver(transformer, deps.sink, { kind: 'file', workers }), (publisher) => runSpool(options, publisher, (path) => deps.store.registry.checkpoint(path), deps.log, deps.stop, deps.observe)),
  };
}

function starter(c: ServiceConfig, s: SourceConfig, once: boolean): SourceStarter {
  if (s.kind === 'spool') return spoolStarter(c, s, once);
  const o = collectOptions(c, s, once);
  const given = s.kind === 'mimecast-v1'
    ? { credentials: { appId: s.credentials.app_id, appKey: s.credentials.app_key, accessKey: s.credentials.access_key, secretKey: s.credentials.secret_key } }
    : { clientId: s.credentials.client_id, clientSecret: s.credentials.client_secret };
  // Credentials come from the file (after ${VAR} expansion), never from the service's own environment.
  const source = resolveSource(o, {}, given);
  const names = s.kind === 'mimecast-v2-batch'
    ? (s.types ?? listingTypes(s.product as ProductName)).map((t) => `${checkpointName('mimecast-v2', source.baseUrl, s.name)} ${t}`)
    : s.kind === 'mimecast-v2-feeds'
    ? o.feeds!.split(',').map((f) => `${checkpointName('mimecast-v2-feed', source.baseUrl, s.name)} ${f}`)
    : [checkpointName(s.kind === 'mimecast-v1' ? 'mimecast-v1' : 'mimecast-v2-stream', source.baseUrl, s.name)];
  const id = s.kind === 'mimecast-v1' ? s.credentials.access_key : s.credentials.client_id;
  const account = accountDigest(s.kind === 'mimecast-v1' ? 'v1' : 'v2', id);
  return { name: s.name, kind: s.kind, checkpointNames: names, tenant: s.tenant, account, start: (deps) => startCollector(o, source, { ...deps, name: s.name }) };
}

/** The web console over the service's store, read-only, on its own connection. */
async function serveConsole(config: ServiceConfig, log: Logger): Promise<{ close(): Promise<void> }> {
  const { host, port } = listenAddress(config.console!.listen, 'console.listen');
  const store = new Store(config.store, { readonly: true });
  const { startConsole } = await import('../console/server.js');
  const running = await startConsole({ store, token: config.console!.token, host, port, loopback: isLoopback(host) });
  log.info('console listening', { url: running.url, token: config.console!.token !== undefined });
  return {
    close: async () => {
      await running.close();
      store.close();
    },
  };
}

export function registerRun(program: Command): void {
  program
    .command('run')
    .description('run every source of a config file until stopped, with /healthz, /readyz and /metrics (see the README: "Running as a service")')
    .requiredOption('--config <file>', 'the YAML config file')
    .option('--check', 'validate the config file and exit')
    .option('--once', 'stop each source once it is caught up, then exit (a failed source is not retried)')
    .action(async (o: { config: string; check?: boolean; once?: boolean }) => {
      // A ConfigError says every problem at once, one per line (see errorText).
      // Loaded here, not at start: the config schema, metrics and HTTP modules are heavy to load
      // and no other command needs them (every command pays for what main.ts loads).
      const [{ loadConfig, configSecrets, configPlaceWarnings }, { checkConfig }, { startService }, { exposureWarning }] = await Promise.all([import('../service/config.js'), import('../service/check.js'), import('../service/run.js'), import('../service/health.js')]);
      // --check: every problem in one pass, the places (store, spool paths, listen addresses) too.
      const config = o.check ? await checkConfig(o.config, process.env) : loadConfig(o.config, process.env);
      if (config.console && !config.console.token && !isLoopback(listenAddress(config.console.listen, 'console.listen').host)) {
        process.stderr.write(`mimelog: config ${o.config}: console.listen ${config.console.listen} is reachable from other machines: give the console a token (console.token_file)\n`);
        process.exitCode = EXIT.failure;
        return;
      }
      if (config.console?.require_token && !config.console.token) {
        process.stderr.write(`mimelog: config ${o.config}: console.require_token is set but the console has no token (console.token_file)\n`);
        process.exitCode = EXIT.failure;
        return;
      }
      const log = new Logger(process.stderr, config.log_level as Level);
      log.addSecrets(...configSecrets(config)); // before anything can fail: no error below shows a secret of the file
      let starters;
      try {
        starters = config.sources.map((s) => starter(config, s, o.once ?? false));
      } catch (err) {
        throw restated(err, log.redact((err as Error).message), 'config');
      }
      const exposed = exposureWarning(config.listen, parseListen(config.listen)!.host);
      const placeWarnings = configPlaceWarnings(o.config);
      if (o.check) {
        for (const w of [exposed, ...placeWarnings]) if (w) process.stderr.write(`mimelog: warning: config ${o.config}: ${log.redact(w)}\n`);
        // Masked: a secret reused as a path or a name is not printed either.
        process.stdout.write(maskSecrets(`${o.config}: ok, ${config.sources.length} source${config.sources.length === 1 ? '' : 's'} (${config.sources.map((s) => `${s.name}: ${s.kind}`).join(', ')}); sink ${config.sink.map(entryName).join(' + ')}; store ${config.store}; listen ${config.listen}${config.cluster ? `; cluster: replica ${config.cluster.replica ?? hostname()}, lease ${config.cluster.lease_s} s, state index ${config.cluster.state_index}` : ''}\n`));
        return;
      }
      if (exposed) log.warn(exposed, { listen: config.listen, allowed_hosts: config.allowed_hosts });
      for (const w of placeWarnings) log.warn(w, { config: o.config });
      const stop = new AbortController();
      const onSignal = (signal: string) => {
        log.info('signal received: finishing the units in hand, then stopping', { signal });
        stop.abort();
      };
      process.once('SIGINT', () => onSignal('SIGINT'));
      process.once('SIGTERM', () => onSignal('SIGTERM'));
      let service;
      try {
        service = await startService(config, starters, (l, fence) => openEntries(config.sink, config.store, l, process.env, fence), log, stop.signal, { once: o.once ?? false });
      } catch (err) {
        throw restated(err, log.redact((err as Error).message), 'config');
      }
      let web: { close(): Promise<void> } | undefined;
      try {
        web = config.console && (await serveConsole(config, log));
      } catch (err) {
        stop.abort(); // the sources commit what they hold, then the command fails with the cause
        await service.done;
        throw new MimelogError('console', `console: ${(err as Error).message}`, { cause: err });
      }
      const result = await service.done;
      await web?.close();
      log.info('service stopped', { sources: result.sources });
      if (result.sources.some((s) => s.failure !== undefined)) process.exitCode = EXIT.failure;
      else if (result.sources.some((s) => s.gaps > 0)) process.exitCode = EXIT.gap;
      else if (result.sources.some((s) => s.dead_letters > 0)) process.exitCode = EXIT.deadLettered;
    });
}
