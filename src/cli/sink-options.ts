/**
 * `--sink`, `--sink-config` and the search-engine flags, shared by `ingest`, `collect` and
 * `replay`. The embedded store (default), a search engine given by flags, or any list of
 * destinations given as a `sink:` file (the same value `mimelog run` takes in its config). Every
 * destination's bookkeeping (checkpoints, collisions, dead letters, counts) stays in the local
 * store named by `--db`.
 */
import { Option, type Command } from 'commander';
import { ENV } from '../config/env.js';
import type { Logger } from '../log/logger.js';
import { type OpenedSink, openSink } from '../sinks/open.js';
import type { CommitFence } from '../sinks/delivering-sink.js';
import { SINK_KINDS, type SinkEntry } from '../sinks/registry.js';
import { DEFAULT_INDEX_PATTERN } from '../sinks/search/index-name.js';
import { configSecrets, loadSinkConfig } from '../service/config.js';
import { UsageError, restated } from '../util/errors.js';
import { addNumberOptions } from './options.js';

export const SEARCH_SINKS = ['opensearch', 'elasticsearch'] as const;

const SEARCH_ENV = ENV.search;

export interface SinkCliOptions {
  sink: string;
  sinkConfig?: string;
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

/** `--sink` (the kinds, comma-separated; `also` adds kinds the command handles itself), `--sink-config` and the search flags. */
export function addSinkOptions(cmd: Command, what: string, also: readonly string[] = []): Command {
  const withFlags = cmd
    .addOption(new Option('--sink <kinds>', `${what}: ${[...SINK_KINDS, ...also].join(', ')}; several comma-separated (a unit's checkpoint moves when all acknowledged it)`).default('sqlite'))
    .option('--sink-config <file>', 'YAML file whose sink: (one destination or a list) says where events go, as in `mimelog run` configs; instead of --sink')
    .option('--search-url <urls>', `opensearch/elasticsearch sinks: node URLs, comma-separated; env ${SEARCH_ENV.url}`, process.env[SEARCH_ENV.url])
    .option('--search-user <name>', `basic auth user (password from ${SEARCH_ENV.password}); or set ${SEARCH_ENV.apiKey} or ${SEARCH_ENV.bearer}`)
    .option('--search-ca <file>', 'PEM file of the CA that signed the cluster certificate')
    .option('--insecure', 'do not verify the cluster certificate (testing only)', false)
    .option('--index <pattern>', 'index per event day (UTC), tokens {yyyy} {MM} {dd}', DEFAULT_INDEX_PATTERN)
    .option('--template <name>', 'index template installed or updated on start', 'mimelog-siem');
  return addNumberOptions(withFlags, ['bulkDocs', 'bulkBytes', 'bulkConcurrency', 'replicas', 'shards', 'searchTimeout', 'searchGiveUp']);
}

/** The search engine the flags describe (credentials come from the environment when it opens). */
function searchEntry(kind: (typeof SEARCH_SINKS)[number], o: SinkCliOptions): SinkEntry {
  const urls = (o.searchUrl ?? '').split(',').map((u) => u.trim()).filter(Boolean);
  if (urls.length === 0) throw new UsageError(`--sink ${kind} needs --search-url (or ${SEARCH_ENV.url})`);
  for (const u of urls) {
    if (!URL.canParse(u)) throw new UsageError('--search-url: not a URL'); // the text is not repeated: it may hold a password
    const parsed = new URL(u);
    if (parsed.username || parsed.password) throw new UsageError(`--search-url must not carry a user name or password: use --search-user and ${SEARCH_ENV.password}`);
  }
  return {
    kind, urls, user: o.searchUser, ca_file: o.searchCa, insecure: o.insecure, index: o.index, template: o.template,
    bulk_docs: o.bulkDocs, bulk_bytes: o.bulkBytes, bulk_concurrency: o.bulkConcurrency, replicas: o.replicas, shards: o.shards,
    timeout_s: o.searchTimeout, give_up_s: o.searchGiveUp,
  };
}

/** What the options say, as `sink:` entries. */
export function sinkEntries(o: SinkCliOptions, env: NodeJS.ProcessEnv): SinkEntry[] {
  if (o.sinkConfig !== undefined) {
    if (o.sink !== 'sqlite') throw new UsageError('give --sink or --sink-config, not both');
    return loadSinkConfig(o.sinkConfig, env);
  }
  const kinds = o.sink.split(',').map((k) => k.trim()).filter(Boolean);
  if (kinds.length === 0) throw new UsageError('--sink: name at least one kind');
  if (new Set(kinds).size !== kinds.length) throw new UsageError(`--sink names a kind twice (${o.sink}): for two of one kind, use --sink-config with a name: for each`);
  return kinds.map((kind): SinkEntry => {
    if (kind === 'sqlite') return { kind };
    if ((SEARCH_SINKS as readonly string[]).includes(kind)) return searchEntry(kind as (typeof SEARCH_SINKS)[number], o);
    if (SINK_KINDS.includes(kind)) throw new UsageError(`--sink ${kind} takes its settings from a file: --sink-config FILE with sink: {kind: ${kind}, ...} (see src/sinks/${kind}/README.md)`);
    throw new UsageError(`unknown --sink "${kind}", expected ${SINK_KINDS.join(', ')}`);
  });
}

/**
 * Opens what the options say. Destinations check themselves (reachability, credentials,
 * templates) before the first event is read; their secrets (from `env`, or the file's keys) are
 * added to `log`'s mask.
 */
export async function openCliSink(o: SinkCliOptions, log: Logger, env: NodeJS.ProcessEnv = process.env): Promise<OpenedSink> {
  const entries = sinkEntries(o, env);
  return openEntries(entries, o.db, log, env);
}

/** Opens `sink:` entries (the CLI's or `run`'s config), masking their secrets in `log` first. */
export async function openEntries(entries: readonly SinkEntry[], db: string, log: Logger, env: NodeJS.ProcessEnv, beforeCommit?: CommitFence): Promise<OpenedSink> {
  log.addSecrets(...configSecrets(entries), ...[env[SEARCH_ENV.password], env[SEARCH_ENV.apiKey], env[SEARCH_ENV.bearer]].filter((s): s is string => !!s));
  try {
    return await openSink(entries, db, log, env, beforeCommit);
  } catch (err) {
    throw restated(err, log.redact(err instanceof Error ? err.message : String(err)), 'search_engine');
  }
}
