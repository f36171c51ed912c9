/**
 * `--sink` and its settings, shared by `ingest` and `collect`: the embedded store (default) or a
 * search engine, whose bookkeeping (checkpoints, collisions, dead letters, counts) stays in the
 * local store named by `--db`.
 */
import { ENV } from '../config/env.js';
import type { Command } from 'commander';
import type { Logger } from '../log/logger.js';
import type { Sink } from '../core/sink.js';
import { SqliteWorkerSink } from '../sinks/sqlite.js';
import type { SearchAuth } from '../sinks/search/client.js';
import { DEFAULT_INDEX_PATTERN } from '../sinks/search/index-name.js';
import { Store } from '../store/store.js';
import { UsageError, restated } from '../util/errors.js';
import { addNumberOptions } from './options.js';

export const SEARCH_SINKS = ['opensearch', 'elasticsearch'] as const;

const SEARCH_ENV = ENV.search;

export interface SearchSinkCliOptions {
  sink: string;
  db: string;
  searchUrl?: string;
  searchUser?: string;
  searchCa?: string;
  insecure: boolean;
  index: string;
  template: string;
  bulkDocs: number;
  bulkBytes: number;
  bulkConcurrency: number;
  replicas?: number;
  shards?: number;
  searchGiveUp: number;
  searchTimeout: number;
}

export function addSearchSinkOptions(cmd: Command): Command {
  const withFlags = cmd
    .option('--search-url <urls>', `opensearch/elasticsearch sinks: node URLs, comma-separated; env ${SEARCH_ENV.url}`, process.env[SEARCH_ENV.url])
    .option('--search-user <name>', `basic auth user (password from ${SEARCH_ENV.password}); or set ${SEARCH_ENV.apiKey} or ${SEARCH_ENV.bearer}`)
    .option('--search-ca <file>', 'PEM file of the CA that signed the cluster certificate')
    .option('--insecure', 'do not verify the cluster certificate (testing only)', false)
    .option('--index <pattern>', 'index per event day (UTC), tokens {yyyy} {MM} {dd}', DEFAULT_INDEX_PATTERN)
    .option('--template <name>', 'index template installed or updated on start', 'mimelog-siem');
  return addNumberOptions(withFlags, ['bulkDocs', 'bulkBytes', 'bulkConcurrency', 'replicas', 'shards', 'searchTimeout', 'searchGiveUp']);
}

function searchAuth(o: SearchSinkCliOptions, env: NodeJS.ProcessEnv): SearchAuth {
  const given = [o.searchUser && 'basic', env[SEARCH_ENV.apiKey] && 'api key', env[SEARCH_ENV.bearer] && 'bearer token'].filter(Boolean);
  if (given.length > 1) throw new UsageError(`choose one search-engine credential, not ${given.join(' and ')}`);
  if (o.searchUser) {
    const password = env[SEARCH_ENV.password];
    if (!password) throw new UsageError(`--search-user needs the password in ${SEARCH_ENV.password}`);
    return { kind: 'basic', username: o.searchUser, password };
  }
  if (env[SEARCH_ENV.apiKey]) return { kind: 'api-key', apiKey: env[SEARCH_ENV.apiKey]! };
  if (env[SEARCH_ENV.bearer]) return { kind: 'bearer', token: env[SEARCH_ENV.bearer]! };
  return { kind: 'none' };
}

/** The search-engine secrets in the environment, for the logger's mask. */
function searchSecrets(env: NodeJS.ProcessEnv): string[] {
  return [env[SEARCH_ENV.password], env[SEARCH_ENV.apiKey], env[SEARCH_ENV.bearer]].filter((s): s is string => !!s);
}

/**
 * Opens the sink `--sink` names (sqlite, opensearch or elasticsearch). Search sinks check the
 * engine and install the template before the first event is read; their secrets (from `env`:
 * the environment, or the service config's sink keys said as the variables they stand for) are
 * added to `log`'s mask.
 */
export async function openStoreOrSearchSink(o: SearchSinkCliOptions, log: Logger, env: NodeJS.ProcessEnv = process.env): Promise<Sink> {
  if (o.sink === 'sqlite') return new SqliteWorkerSink(o.db);
  log.addSecrets(...searchSecrets(env)); // what reads the secrets masks them, in every command's log
  if (!(SEARCH_SINKS as readonly string[]).includes(o.sink)) throw new UsageError(`unknown --sink "${o.sink}"`);
  const urls = (o.searchUrl ?? '').split(',').map((u) => u.trim()).filter(Boolean);
  if (urls.length === 0) throw new UsageError(`--sink ${o.sink} needs --search-url (or ${SEARCH_ENV.url})`);
  for (const u of urls) {
    if (!URL.canParse(u)) throw new UsageError('--search-url: not a URL'); // the text is not repeated: it may hold a password
    const parsed = new URL(u);
    if (parsed.username || parsed.password) throw new UsageError(`--search-url must not carry a user name or password: use --search-user and ${SEARCH_ENV.password}`);
  }
  // Loaded only for a search sink: its HTTP client is heavy to load (see cli/main.ts).
  const [{ SearchClient }, { SearchSink }] = await Promise.all([import('../sinks/search/client.js'), import('../sinks/search/search-sink.js')]);
  const client = new SearchClient({
    urls,
    auth: searchAuth(o, env),
    caFile: o.searchCa,
    insecure: o.insecure,
    timeoutMs: o.searchTimeout * 1000,
  });
  const store = new Store(o.db); // the local state: checkpoints, collisions, dead letters, counts
  try {
    const sink = await SearchSink.open(client, store, {
      indexPattern: o.index,
      templateName: o.template,
      maxDocs: o.bulkDocs,
      maxBytes: o.bulkBytes,
      concurrency: o.bulkConcurrency,
      retryBaseMs: 250,
      retryMaxMs: 30_000,
      giveUpMs: o.searchGiveUp * 1000,
      replicas: o.replicas,
      shards: o.shards,
    }, log);
    if (sink.engine.distribution !== o.sink) log.warn(`--sink ${o.sink} but the engine reports ${sink.engine.distribution}; continuing (one code path serves both)`);
    return new ClosingSink(sink, () => store.close());
  } catch (err) {
    store.close();
    await client.close();
    throw restated(err, log.redact(err instanceof Error ? err.message : String(err)), 'search_engine');
  }
}

/** A sink that also releases what was opened for it. */
class ClosingSink implements Sink {
  constructor(
    private readonly inner: Sink,
    private readonly release: () => void,
  ) {}
  write: Sink['write'] = (unit, state) => this.inner.write(unit, state);
  async close(): Promise<void> {
    await this.inner.close();
    this.release();
  }
}
