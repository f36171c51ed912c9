/**
 * `mimelog run`: every source of the config file in one process, until stopped. One sink for
 * all (the embedded store or a search engine); each source has its own name, checkpoints,
 * counts and log field. A source that fails is started again after a back-off and shows as
 * `failing` meanwhile; the others go on. An HTTP listener serves /healthz, /readyz and /metrics.
 */
import { setFlagsFromString } from 'node:v8';
import { entryName } from '../sinks/registry.js';
import { withHandover } from '../store/handover.js';
import { Hono } from 'hono';
import type { Sink } from '../core/sink.js';
import type { Logger } from '../log/logger.js';
import type { RunSummary } from '../pipeline/summary.js';
import type { ApiObserver } from '../util/backoff.js';
import type { SpoolObserver } from '../sources/spool.js';
import { listen, parseListen } from '../util/listen.js';
import { Store } from '../store/store.js';
import { type ServiceConfig, configSecrets } from './config.js';
import { type SourceHealth, type SourceStatus, hostCheck, sourceHealth, worst } from './health.js';
import { ServiceMetrics } from './metrics.js';
import { startRetention } from './retention-loop.js';
import type { CommitFence } from '../sinks/delivering-sink.js';
import { MimelogError } from '../util/errors.js';
import { type Replica, openReplica, runReplica } from './replica.js';
import { tenantSink } from './tenant.js';
import type { ServiceResult, SourceStarter } from './source-starter.js';

export type { ServiceResult, SourceStarter } from './source-starter.js';

export interface RunningService {
  /** Where /healthz, /readyz and /metrics are served. */
  readonly url: string;
  health(): SourceHealth[];
  /** Resolves when every source ended (`once`) or the service was stopped and wound down. */
  readonly done: Promise<ServiceResult>;
}

/**
 * How far each thread's heap may grow past what its last full collection kept (config
 * `heap_growth_percent`). V8 otherwise lets a heap that allocates fast grow to several times its
 * live data before collecting it: measured on a 1M-event backlog, the main thread's heap reached
 * 194 MiB with 60–80 MiB live. The flag is read at each collection, so it applies from now on, to
 * every thread.
 */
export function boundHeapGrowth(percent: number): void {
  setFlagsFromString(`--heap-growing-percent=${percent}`);
}

const RESTART_BASE_MS = 5_000;
const RESTART_MAX_MS = 300_000;

/**
 * The observer a source's calls report to: the metrics, and the source's trouble (set by a failed
 * call, kept with its first time while calls keep failing, ended by a successful call).
 */
function troubleWatch(status: SourceStatus, counting: ApiObserver & SpoolObserver, degraded: (reason: string) => void, redact: (text: string) => string): ApiObserver & SpoolObserver {
  return {
    ...counting,
    degraded,
    call: (endpoint, outcome) => {
      counting.call(endpoint, outcome);
      if (outcome.startsWith('2')) status.trouble = undefined;
    },
    trouble: (reason) => {
      if (status.trouble) status.trouble.reason = redact(reason);
      else status.trouble = { reason: redact(reason), sinceMs: Date.now() };
    },
  };
}

/**
 * Starts every source and the HTTP listener. `once`: each source stops when caught up, and a
 * failed source is not retried (the result says so); otherwise sources run until `stop` aborts.
 */
export async function startService(
  config: ServiceConfig,
  starters: readonly SourceStarter[],
  openSink: (log: Logger, beforeCommit?: CommitFence) => Promise<Sink>,
  log: Logger,
  stop: AbortSignal,
  options: { once: boolean; restartBaseMs?: number },
): Promise<RunningService> {
  log.addSecrets(...configSecrets(config));
  boundHeapGrowth(config.heap_growth_percent);
  const resolved = starters.map((starter) => ({
    starter,
    status: { name: starter.name, kind: starter.kind, checkpointNames: starter.checkpointNames, running: 'starting', restarts: 0 } as SourceStatus,
  }));
  if (config.cluster && options.once) throw new MimelogError('config', 'cluster: replicas run until stopped; --once is for a single replica');
  const store = new Store(config.store);
  let sink: Sink;
  let replica: Replica | undefined;
  try {
    sink = await openSink(log); // with cluster:, only to check the destinations: each claimed source opens its own
    if (config.cluster) {
      await sink.close();
      replica = await openReplica(config, config.cluster, process.env, log);
    }
  } catch (err) {
    store.close();
    throw err;
  }
  const limits = { warningShare: config.horizon_warning_share, failingAfterS: config.failing_after_s };
  const health = () => resolved.map((r) => sourceHealth(store, r.status, limits));
  const metrics = new ServiceMetrics(store, health);
  if (replica) metrics.watchCluster(replica.view);

  const app = new Hono();
  app.get('/healthz', (c) => c.json({ status: 'alive' }));
  const hosts = hostCheck(parseListen(config.listen)!.host, config.allowed_hosts);
  app.use('/readyz', hosts);
  app.use('/metrics', hosts);
  app.get('/readyz', (c) => {
    const sources = health();
    const state = worst(sources.map((s) => s.state));
    return c.json({ status: state, sources, ...withHandover(store.db), ...(replica ? { cluster: replica.view() } : {}) }, state === 'failing' ? 503 : 200);
  });
  app.get('/metrics', async (c) => c.body(await metrics.text(), 200, { 'content-type': metrics.registry.contentType }));
  let listening;
  try {
    listening = await listen(app.fetch, parseListen(config.listen)!); // the schema checked the form
  } catch (err) {
    if (!replica) await sink.close();
    await replica?.client.close();
    store.close();
    throw err;
  }
  const url = listening.url;
  log.info('service listening', { url, sources: resolved.length, sink: config.sink.map(entryName).join(' + '), store: config.store });

  // Warn once when a source turns degraded or failing through its horizon, again when it recovers.
  const warned = new Map<string, string>();
  const watch = setInterval(() => {
    for (const h of health()) {
      const before = warned.get(h.name) ?? 'ok';
      if ((h.state === 'degraded' || h.state === 'failing') && before !== h.state) log.child({ source: h.name }).warn(`source ${h.state}`, { reason: h.reason });
      if (h.state === 'ok' && (before === 'degraded' || before === 'failing')) log.child({ source: h.name }).info('source ok again');
      warned.set(h.name, h.state);
    }
  }, 10_000);

  /** Runs one source until it ends or `run.stop` aborts; a failed run starts again after a back-off. */
  const runOne = async (r: (typeof resolved)[number], run: { sink: Sink; stop: AbortSignal; beforeStart?: () => void }): Promise<ServiceResult['sources'][number]> => {
    const { stop } = run;
    const name = r.starter.name;
    const slog = log.child({ source: name });
    const counting = metrics.countingSink(name, r.starter.tenant === undefined ? run.sink : tenantSink(run.sink, r.starter.tenant));
    let failures = 0;
    const total = { stored: 0, duplicates: 0, collisions: 0, dead_letters: 0, gaps: 0 };
    for (;;) {
      try {
        run.beforeStart?.();
        r.status.running = 'running';
        const degraded = (reason: string) => (r.status.degraded = { reason: log.redact(reason), atMs: Date.now() });
        const summary = await r.starter.start({ sink: counting, store, log: slog, stop, observe: troubleWatch(r.status, metrics.apiObserver(name), degraded, (t) => log.redact(t)) });
        total.stored += summary.sink.stored;
        total.duplicates += summary.sink.duplicates;
        total.collisions += summary.sink.collisions;
        total.dead_letters += summary.sink.deadLetters;
        total.gaps += summary.gaps;
        slog.info('source stopped', summary.toJSON());
        r.status.running = 'stopped';
        r.status.trouble = undefined;
        return { name, ...total };
      } catch (err) {
        const reason = log.redact(err instanceof Error ? err.message : String(err));
        r.status.running = 'failing';
        r.status.failure = reason;
        failures++;
        if (options.once || stop.aborted) {
          slog.error('source failed', { reason });
          return { name, ...total, failure: reason };
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
        if (stop.aborted) return { name, ...total, failure: reason };
        r.status.restarts++;
      }
    }
  };

  // Retention runs beside the sources until they are all done (or the service stops); with
  // `once`, one pass after they are done, so what they stored is pruned too.
  const retainDays = config.sink.some((e) => e.kind === 'sqlite') ? config.retain_days : undefined;
  const retentionLog = log.child({ component: 'retention' });
  const retentionStop = new AbortController();
  const onStop = () => retentionStop.abort();
  stop.addEventListener('abort', onStop, { once: true });
  const retention = retainDays !== undefined && !options.once ? startRetention(config.store, retainDays, retentionLog, retentionStop.signal) : undefined;

  const ran = replica ? runReplica(replica, resolved, runOne, store, openSink, log, stop) : Promise.all(resolved.map((r) => runOne(r, { sink, stop })));
  const done = ran.then(async (sources) => {
    clearInterval(watch);
    if (retainDays !== undefined && options.once && !stop.aborted) await startRetention(config.store, retainDays, retentionLog, retentionStop.signal, { once: true }).done;
    retentionStop.abort();
    stop.removeEventListener('abort', onStop);
    await retention?.done;
    if (!replica) await sink.close();
    await replica?.client.close();
    await listening.close();
    store.close();
    return { sources };
  });
  return { url, health, done };
}
