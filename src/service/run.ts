/**
 * `mimelog run`: every source of the config file in one process, until stopped. One sink for
 * all (the embedded store or a search engine); each source has its own name, checkpoints,
 * counts and log field. A source that fails is started again after a back-off and shows as
 * `failing` meanwhile; the others go on. An HTTP listener serves /healthz, /readyz and /metrics.
 */
import type { AddressInfo } from 'node:net';
import { serve } from '@hono/node-server';
import { Hono } from 'hono';
import { type CollectOptions, checkpointName, resolveSource, startCollector } from '../cli/collect.js';
import type { SearchSinkCliOptions } from '../cli/sink-options.js';
import { openStoreOrSearchSink } from '../cli/sink-options.js';
import type { Sink } from '../core/sink.js';
import type { Logger } from '../log/logger.js';
import { LOG_TYPES } from '../mimecast/log-types.js';
import { Store } from '../store/store.js';
import { type ServiceConfig, type SourceConfig, configSecrets } from './config.js';
import { type SourceHealth, type SourceStatus, sourceHealth, worst } from './health.js';
import { ServiceMetrics } from './metrics.js';

const API: Record<SourceConfig['kind'], { api: 'v1' | 'v2'; mode: 'batch' | 'stream' }> = {
  'mimecast-v1': { api: 'v1', mode: 'batch' },
  'mimecast-v2-batch': { api: 'v2', mode: 'batch' },
  'mimecast-v2-stream': { api: 'v2', mode: 'stream' },
};

/** The sink settings as `collect` takes them. */
function sinkOptions(c: ServiceConfig): SearchSinkCliOptions {
  const s = c.sink;
  return {
    sink: s.kind, db: c.store, searchUrl: s.urls?.join(','), searchUser: s.user, searchCa: s.ca_file, insecure: s.insecure,
    index: s.index ?? 'mimecast-siem-{yyyy}.{MM}.{dd}', template: s.template, bulkDocs: String(s.bulk_docs), bulkBytes: String(s.bulk_bytes),
    bulkConcurrency: String(s.bulk_concurrency), replicas: s.replicas === undefined ? undefined : String(s.replicas), shards: s.shards === undefined ? undefined : String(s.shards),
    searchGiveUp: String(s.give_up_s), searchTimeout: String(s.timeout_s),
  };
}

/** One source's settings as `collect` takes them: the same code runs both. */
export function collectOptions(c: ServiceConfig, s: SourceConfig, once: boolean): CollectOptions {
  const { api, mode } = API[s.kind];
  return {
    ...sinkOptions(c),
    api, mode, once,
    url: s.url, region: s.region,
    types: s.kind === 'mimecast-v2-batch' ? s.types?.join(',') : undefined,
    pageSize: 'page_size' in s ? String(s.page_size) : undefined,
    concurrency: String(s.kind === 'mimecast-v2-batch' ? s.concurrency : 1),
    format: s.kind === 'mimecast-v1' ? s.format : 'key_value',
    compress: s.kind === 'mimecast-v1' ? s.compress : true,
    decodeRetries: String('decode_retries' in s ? s.decode_retries : 2),
    onInvalidToken: s.kind === 'mimecast-v1' ? s.on_invalid_token : 'restart',
    pollInterval: String(s.poll_interval_s), timeout: String(s.timeout_s), retryBaseMs: String(s.retry_base_ms), retryMaxMs: String(s.retry_max_ms),
    maxRetries: String(s.max_retries), maxResponseBytes: String(s.max_response_bytes), logLevel: c.log_level,
    type: s.type, typesFile: s.types_file, unknownTypes: s.unknown_types, original: s.original,
    maxRecordBytes: String(s.max_record_bytes), maxDocumentBytes: String(s.max_document_bytes), maxMemberBytes: String(s.max_member_bytes),
    maxZipBytes: String(s.max_zip_bytes), maxArchiveDepth: String(s.max_archive_depth), maxJsonDepth: String(s.max_json_depth), maxRecordKeys: String(s.max_record_keys),
  };
}

function checkpointNames(s: SourceConfig, baseUrl: string): string[] {
  if (s.kind === 'mimecast-v1') return [checkpointName('mimecast-v1', baseUrl, s.name)];
  if (s.kind === 'mimecast-v2-stream') return [checkpointName('mimecast-v2-stream', baseUrl, s.name)];
  return (s.types ?? LOG_TYPES.map((t) => t.v2Types[0]!)).map((t) => `${checkpointName('mimecast-v2', baseUrl, s.name)} ${t}`);
}

export interface ServiceResult {
  /** Per source: how its last run ended. */
  readonly sources: { name: string; stored: number; duplicates: number; collisions: number; dead_letters: number; failure?: string }[];
}

export interface RunningService {
  /** Where /healthz, /readyz and /metrics are served. */
  readonly url: string;
  health(): SourceHealth[];
  /** Resolves when every source ended (`once`) or the service was stopped and wound down. */
  readonly done: Promise<ServiceResult>;
}

const RESTART_BASE_MS = 5_000;
const RESTART_MAX_MS = 300_000;

/**
 * Starts every source and the HTTP listener. `once`: each source stops when caught up, and a
 * failed source is not retried (the result says so); otherwise sources run until `stop` aborts.
 */
export async function startService(config: ServiceConfig, log: Logger, stop: AbortSignal, options: { once: boolean; restartBaseMs?: number }): Promise<RunningService> {
  log.addSecrets(...configSecrets(config));
  const env: NodeJS.ProcessEnv = {}; // credentials come from the file (after ${VAR} expansion), never from the service's own environment
  const resolved = config.sources.map((s) => {
    const o = collectOptions(config, s, options.once);
    const given = s.kind === 'mimecast-v1'
      ? { credentials: { appId: s.credentials.app_id, appKey: s.credentials.app_key, accessKey: s.credentials.access_key, secretKey: s.credentials.secret_key } }
      : { clientId: s.credentials.client_id, clientSecret: s.credentials.client_secret };
    const source = resolveSource(o, env, given);
    return { config: s, options: o, source, status: { name: s.name, kind: s.kind, checkpointNames: checkpointNames(s, source.baseUrl), running: 'starting', restarts: 0 } as SourceStatus };
  });
  const store = new Store(config.store);
  let sink: Sink;
  try {
    sink = await openStoreOrSearchSink(sinkOptions(config), log);
  } catch (err) {
    store.close();
    throw err;
  }
  const health = () => resolved.map((r) => sourceHealth(store, r.status, config.horizon_warning_share));
  const metrics = new ServiceMetrics(store, health);

  const app = new Hono();
  app.get('/healthz', (c) => c.json({ status: 'alive' }));
  app.get('/readyz', (c) => {
    const sources = health();
    const state = worst(sources.map((s) => s.state));
    return c.json({ status: state, sources }, state === 'failing' ? 503 : 200);
  });
  app.get('/metrics', async (c) => c.body(await metrics.registry.metrics(), 200, { 'content-type': metrics.registry.contentType }));
  const [, host = '127.0.0.1', portText = '9464'] = /^\[?([^\]]*?)\]?:(\d+)$/.exec(config.listen) ?? [];
  const server = serve({ fetch: app.fetch, hostname: host, port: Number(portText) });
  await new Promise<void>((resolve, reject) => {
    server.once('listening', resolve);
    server.once('error', (err) => reject(new Error(`cannot listen on ${config.listen}: ${err.message}`)));
  });
  const address = server.address() as AddressInfo;
  const url = `http://${host.includes(':') ? `[${host}]` : host}:${address.port}/`;
  log.info('service listening', { url, sources: resolved.length, sink: config.sink.kind, store: config.store });

  // Warn once when a source turns degraded or failing through its horizon, again when it recovers.
  const warned = new Map<string, string>();
  const watch = setInterval(() => {
    for (const h of health()) {
      const before = warned.get(h.name) ?? 'ok';
      if ((h.state === 'degraded' || h.state === 'failing') && before !== h.state) log.child({ source: h.name }).warn(`source ${h.state}`, { reason: h.reason });
      if (h.state === 'ok' && before !== 'ok') log.child({ source: h.name }).info('source ok again');
      warned.set(h.name, h.state);
    }
  }, 10_000);

  const runOne = async (r: (typeof resolved)[number]): Promise<ServiceResult['sources'][number]> => {
    const slog = log.child({ source: r.config.name });
    const counting = metrics.countingSink(r.config.name, sink);
    let failures = 0;
    const total = { stored: 0, duplicates: 0, collisions: 0, dead_letters: 0 };
    for (;;) {
      try {
        r.status.running = 'running';
        const summary = await startCollector(r.options, r.source, { sink: counting, store, log: slog, stop, name: r.config.name });
        total.stored += summary.sink.stored;
        total.duplicates += summary.sink.duplicates;
        total.collisions += summary.sink.collisions;
        total.dead_letters += summary.sink.deadLetters;
        slog.info('source stopped', summary.toJSON());
        r.status.running = 'stopped';
        return { name: r.config.name, ...total };
      } catch (err) {
        const reason = log.redact(err instanceof Error ? err.message : String(err));
        r.status.running = 'failing';
        r.status.failure = reason;
        failures++;
        if (options.once || stop.aborted) {
          slog.error('source failed', { reason });
          return { name: r.config.name, ...total, failure: reason };
        }
        const waitMs = Math.min(RESTART_MAX_MS, (options.restartBaseMs ?? RESTART_BASE_MS) * 2 ** Math.min(failures - 1, 10));
        slog.error('source failed; starting it again', { reason, retry_in_s: Math.round(waitMs / 1000) });
        await new Promise<void>((resolve) => {
          const t = setTimeout(resolve, waitMs);
          stop.addEventListener('abort', () => {
            clearTimeout(t);
            resolve();
          }, { once: true });
        });
        if (stop.aborted) return { name: r.config.name, ...total, failure: reason };
        r.status.restarts++;
      }
    }
  };

  const done = Promise.all(resolved.map(runOne)).then(async (sources) => {
    clearInterval(watch);
    await sink.close();
    await new Promise<void>((resolve) => {
      server.close(() => resolve());
      (server as unknown as { closeAllConnections?: () => void }).closeAllConnections?.();
    });
    store.close();
    return { sources };
  });
  return { url, health, done };
}
