/**
 * Every numeric setting and every secret, declared once. The command line's flags (their parsing,
 * bounds and help) and the service config's keys (zod) are both made from this table, so a bound
 * cannot be forgotten on one side; the README's table of settings is printed from it too
 * (`npm run settings-table`, checked by test/cli/settings.test.ts).
 */
import { DEFAULT_LIMITS } from '../decode/limits.js';
import { ENV } from './env.js';
import { MAX_RETAIN_DAYS, MIN_RETAIN_DAYS } from '../store/retention.js';
import { DEFAULT_MAX_SERVER_WAIT_MS } from '../util/rate-budget.js';
import { DEFAULT_MAX_PAGES_PER_WINDOW } from '../sources/mimecast-v2/feeds.js';

const KiB = 1024;
const MiB = 1024 * KiB;
const GiB = 1024 * MiB;

/** What a number counts; said in help and errors. */
export type Unit = 's' | 'ms' | 'bytes' | 'days' | 'count' | 'share';

/** Where a config key lives: in each source, in `sink:`, or at the top of the file. */
export type Scope = 'source' | 'sink' | 'top' | 'cluster';

/**
 * Where a default differs: `cli` for the command line, a source kind for that kind of source. A
 * setting without one there has its plain `default`.
 */
export const SOURCE_KINDS = ['mimecast-v1', 'mimecast-v2-batch', 'mimecast-v2-stream', 'mimecast-v2-feeds', 'spool'] as const;
export type DefaultContext = 'cli' | (typeof SOURCE_KINDS)[number];

export interface NumberSetting {
  /** The command-line flag; none: the config file only. */
  readonly flag?: string;
  /** The config key and where it lives; none: the command line only. */
  readonly key?: string;
  readonly scope?: Scope;
  /** Whole numbers only. */
  readonly integer: boolean;
  readonly min: number;
  readonly max: number;
  /** Why the minimum is what it is, when that is not obvious; said when a value is below it. */
  readonly minReason?: string;
  /** Used when not given; none: not set (or computed, see `defaultText`). */
  readonly default?: number;
  /** Defaults that differ by context. */
  readonly defaults?: Readonly<Partial<Record<DefaultContext, number>>>;
  /** The default in words, when it is computed at run time. */
  readonly defaultText?: string;
  readonly unit: Unit;
  readonly help: string;
}

const RETAIN_REASON = "a collector that restarts re-reads up to 7 days of Mimecast's files, and events deleted sooner would be stored again as new";

/**
 * The numeric settings. The name of each is the flag in camelCase (commander's attribute), or the
 * key's for a config-only setting (test/cli/settings.test.ts checks this).
 */
export const NUMBER_SETTINGS = {
  // How an API source polls and retries (collect, and each API source of the service).
  pollInterval: { flag: '--poll-interval', key: 'poll_interval_s', scope: 'source', integer: true, min: 1, max: 86_400, default: 300, defaults: { spool: 60 }, unit: 's', help: 'wait between polls once caught up' },
  timeout: { flag: '--timeout', key: 'timeout_s', scope: 'source', integer: true, min: 1, max: 3_600, default: 120, unit: 's', help: 'per-request timeout' },
  retryBaseMs: { flag: '--retry-base-ms', key: 'retry_base_ms', scope: 'source', integer: true, min: 1, max: 600_000, default: 1_000, unit: 'ms', help: 'first back-off delay' },
  retryMaxMs: { flag: '--retry-max-ms', key: 'retry_max_ms', scope: 'source', integer: true, min: 1, max: 3_600_000, default: 120_000, unit: 'ms', help: 'longest back-off delay' },
  maxRetries: { flag: '--max-retries', key: 'max_retries', scope: 'source', integer: true, min: 1, max: 10_000, default: 30, unit: 'count', help: 'consecutive failed calls before giving up' },
  decodeRetries: { flag: '--decode-retries', key: 'decode_retries', scope: 'source', integer: true, min: 0, max: 100, default: 2, unit: 'count', help: 'extra fetches of a file that does not decode before it is dead-lettered' },
  maxResponseBytes: { flag: '--max-response-bytes', key: 'max_response_bytes', scope: 'source', integer: true, min: KiB, max: 2 * GiB, default: DEFAULT_LIMITS.maxZipBytes, unit: 'bytes', help: 'larger API answers are not read whole: a file is dead-lettered with its head' },
  maxServerWait: { flag: '--max-server-wait', key: 'max_server_wait_s', scope: 'source', integer: true, min: 1, max: 86_400, default: DEFAULT_MAX_SERVER_WAIT_MS / 1000, unit: 's', help: "longest wait a server's X-RateLimit-Reset or Retry-After may impose; a longer one is capped (said once)" },
  pageSize: { flag: '--page-size', key: 'page_size', scope: 'source', integer: true, min: 1, max: 10_000, defaults: { 'mimecast-v2-batch': 25, 'mimecast-v2-stream': 500, 'mimecast-v2-feeds': 500 }, defaultText: "the mode's", unit: 'count', help: 'v2: files per listing page (batch) or events per page (stream and feeds)' },
  concurrency: { flag: '--concurrency', key: 'concurrency', scope: 'source', integer: true, min: 1, max: 64, default: 3, unit: 'count', help: 'v2 batch and feeds: types or feeds collected at once, sharing one rate budget' },
  safetyLag: { flag: '--safety-lag', key: 'safety_lag_s', scope: 'source', integer: true, min: 0, max: 86_400, default: 900, unit: 's', help: 'feeds: windows end this long before now (Mimecast indexes some records late)' },
  overlap: { flag: '--overlap', key: 'overlap_s', scope: 'source', integer: true, min: 0, max: 86_400, default: 60, unit: 's', help: 'feeds: each window starts this long before the previous one ended' },
  maxPagesPerWindow: { flag: '--max-pages-per-window', key: 'max_pages_per_window', scope: 'source', integer: true, min: 1, max: 1_000_000, default: DEFAULT_MAX_PAGES_PER_WINDOW, unit: 'count', help: 'feeds: pages in one window before the window is given up as a runaway next-page token (dead letter and gap)' },
  firstLookBackDays: { flag: '--first-look-back-days', key: 'first_look_back_days', scope: 'source', integer: true, min: 1, max: 365, default: 7, unit: 'days', help: "feeds: where a feed never collected starts (at most the feed's look-back)" },
  // How records become documents (ingest, collect, replay, every source).
  workers: { flag: '--workers', key: 'workers', scope: 'source', integer: true, min: 1, max: 256, defaults: { 'mimecast-v1': 1, 'mimecast-v2-batch': 1, 'mimecast-v2-stream': 1, 'mimecast-v2-feeds': 1, spool: 1 }, defaultText: 'cores − 1', unit: 'count', help: 'threads that parse, classify, fingerprint and normalize records (1: the main thread)' },
  // Hostile-input bounds (decode/limits.ts).
  maxRecordBytes: { flag: '--max-record-bytes', key: 'max_record_bytes', scope: 'source', integer: true, min: KiB, max: 256 * MiB, default: DEFAULT_LIMITS.maxRecordBytes, unit: 'bytes', help: `a longer record (line) is dead-lettered with its first ${DEFAULT_LIMITS.deadLetterHeadBytes} bytes and its length` },
  maxDocumentBytes: { flag: '--max-document-bytes', key: 'max_document_bytes', scope: 'source', integer: true, min: KiB, max: 256 * MiB, default: DEFAULT_LIMITS.maxDocumentBytes, unit: 'bytes', help: 'largest API 1.0 json document read as one' },
  maxMemberBytes: { flag: '--max-member-bytes', key: 'max_member_bytes', scope: 'source', integer: true, min: KiB, max: 1024 * GiB, default: DEFAULT_LIMITS.maxMemberBytes, unit: 'bytes', help: 'largest decompressed gzip stream or zip member' },
  maxZipBytes: { flag: '--max-zip-bytes', key: 'max_zip_bytes', scope: 'source', integer: true, min: KiB, max: 2 * GiB, default: DEFAULT_LIMITS.maxZipBytes, unit: 'bytes', help: 'largest zip read (a zip is read whole)' },
  maxArchiveDepth: { flag: '--max-archive-depth', key: 'max_archive_depth', scope: 'source', integer: true, min: 1, max: 16, default: DEFAULT_LIMITS.maxArchiveDepth, unit: 'count', help: 'archives nested in archives beyond this are dead-lettered' },
  maxJsonDepth: { flag: '--max-json-depth', key: 'max_json_depth', scope: 'source', integer: true, min: 2, max: 1_000, default: DEFAULT_LIMITS.maxJsonDepth, unit: 'count', help: 'records nested deeper are dead-lettered' },
  maxRecordKeys: { flag: '--max-record-keys', key: 'max_record_keys', scope: 'source', integer: true, min: 16, max: 1_000_000, default: DEFAULT_LIMITS.maxRecordKeys, unit: 'count', help: 'records with more keys (nested ones included) are dead-lettered' },
  // A search-engine sink.
  bulkDocs: { flag: '--bulk-docs', key: 'bulk_docs', scope: 'sink', integer: true, min: 1, max: 100_000, default: 1_000, unit: 'count', help: 'documents per bulk request, at most' },
  bulkBytes: { flag: '--bulk-bytes', key: 'bulk_bytes', scope: 'sink', integer: true, min: KiB, max: GiB, default: 5 * MiB, unit: 'bytes', help: 'bytes per bulk request, about' },
  bulkConcurrency: { flag: '--bulk-concurrency', key: 'bulk_concurrency', scope: 'sink', integer: true, min: 1, max: 64, default: 2, unit: 'count', help: 'bulk requests in flight' },
  replicas: { flag: '--replicas', key: 'replicas', scope: 'sink', integer: true, min: 0, max: 32, defaultText: 'the cluster default', unit: 'count', help: 'index.number_of_replicas in the template' },
  shards: { flag: '--shards', key: 'shards', scope: 'sink', integer: true, min: 1, max: 1_024, defaultText: 'the cluster default', unit: 'count', help: 'index.number_of_shards in the template' },
  searchTimeout: { flag: '--search-timeout', key: 'timeout_s', scope: 'sink', integer: true, min: 1, max: 3_600, default: 60, unit: 's', help: 'per-request timeout' },
  searchGiveUp: { flag: '--search-give-up', key: 'give_up_s', scope: 'sink', integer: true, min: 1, max: 604_800, default: 600, unit: 's', help: 'stop the run (checkpoint unmoved) when events stay unaccepted this long' },
  // The syslog destination (src/sinks/syslog; it also takes timeout_s and give_up_s above).
  syslogMaxMessageBytes: { key: 'max_message_bytes', scope: 'sink', integer: true, min: 480, max: 16 * MiB, default: 64 * KiB, unit: 'bytes', help: 'syslog: a longer message (header and body) is dead-lettered, not cut; set the receiver to accept at least this much' },
  syslogPort: { key: 'port', scope: 'sink', integer: true, min: 1, max: 65_535, defaultText: '514 (tcp), 6514 (tls), 2514 (relp)', unit: 'count', help: "syslog: the receiver's port" },
  syslogMaxInFlight: { key: 'max_in_flight', scope: 'sink', integer: true, min: 1, max: 100_000, default: 1_000, unit: 'count', help: 'syslog: messages sent and not yet acknowledged (RELP) or written (TCP/TLS), at most' },
  // The Kafka destination (src/sinks/kafka; its timeout_s and give_up_s are the search sink's keys, same meaning).
  kafkaBatchBytes: { key: 'produce_bytes', scope: 'sink', integer: true, min: KiB, max: 64 * MiB, default: 900 * KiB, unit: 'bytes', help: "Kafka: record bytes per produce request, about (under the broker's message.max.bytes, 1 MiB by default)" },
  // The store and the service.
  days: { flag: '--days', key: 'retain_days', scope: 'top', integer: true, min: MIN_RETAIN_DAYS, minReason: RETAIN_REASON, max: MAX_RETAIN_DAYS, defaultText: 'keep everything', unit: 'days', help: 'keep this many days of events (by their own time) in the embedded store' },
  horizonWarningShare: { key: 'horizon_warning_share', scope: 'top', integer: false, min: 0.01, max: 0.99, default: 0.25, unit: 'share', help: "a source whose horizon headroom falls under this share of its feed's horizon is degraded" },
  // A source whose calls fail (unreachable, refused, 5xx) is degraded at once, failing after this long without a successful call.
  leaseS: { key: 'lease_s', scope: 'cluster', integer: true, min: 3, max: 600, default: 30, unit: 's', help: 'cluster: a replica that stops renewing loses its sources after this long' },
  renewS: { key: 'renew_s', scope: 'cluster', integer: true, min: 1, max: 200, default: 10, unit: 's', help: 'cluster: how often leases are renewed and the share is checked (at most lease_s / 3)' },
  failingAfter: { key: 'failing_after_s', scope: 'top', integer: true, min: 1, max: 86_400, default: 300, unit: 's', help: 'a source whose calls to Mimecast keep failing (unreachable, refused, 5xx) is degraded at once and failing after this long without a successful call' },
  limit: { flag: '--limit', integer: true, min: 1, max: 1_000_000, default: 50, unit: 'count', help: '`search`: at most this many events' },
  // The Sentinel destination (Azure Monitor Logs Ingestion API, src/sinks/sentinel).
  maxRequestBytes: { key: 'max_request_bytes', scope: 'sink', integer: true, min: KiB, max: MiB, default: 1_000_000, unit: 'bytes', help: "sentinel: a request's JSON body at most (the Logs Ingestion API answers 413 past 1 MiB); a longer row is dead-lettered" },
  maxRetryAfter: { key: 'max_retry_after_s', scope: 'sink', integer: true, min: 1, max: 3_600, default: 300, unit: 's', help: "sentinel: the longest Retry-After (429, 503) waited; a longer one is clamped to it" },
  // The Splunk HEC destination (src/sinks/splunk-hec; it also takes timeout_s and give_up_s above).
  hecBatchEvents: { key: 'batch_events', scope: 'sink', integer: true, min: 1, max: 100_000, default: 500, unit: 'count', help: 'splunk-hec: events per request, at most' },
  hecBatchBytes: { key: 'batch_bytes', scope: 'sink', integer: true, min: KiB, max: 512 * MiB, default: MiB, unit: 'bytes', help: "splunk-hec: a request's events at most this many bytes before gzip (an event over it goes alone); keep under Splunk's max_content_length" },
  hecInFlight: { key: 'requests_in_flight', scope: 'sink', integer: true, min: 1, max: 256, default: 8, unit: 'count', help: 'splunk-hec: requests sent and not yet acknowledged, at most' },
  hecAckTimeout: { key: 'ack_timeout_s', scope: 'sink', integer: true, min: 1, max: 86_400, default: 300, unit: 's', help: 'splunk-hec: a request whose ack is not true after this long is sent again (counted resent)' },
  hecAckPoll: { key: 'ack_poll_ms', scope: 'sink', integer: true, min: 10, max: 600_000, default: 1_000, unit: 'ms', help: 'splunk-hec: wait between questions to the ack endpoint while acks are pending' },
  // The service's memory (src/service/run.ts; issue 31, search4): V8 grows a heap this much past what its last full collection kept before it collects again (every thread).
  heapGrowth: { key: 'heap_growth_percent', scope: 'top', integer: true, min: 5, max: 400, default: 25, unit: 'count', help: "percent a thread's JavaScript heap may grow past what its last full garbage collection kept before the next one (V8 chooses 10–300 % by itself: memory that is garbage but not yet collected)" },
} as const satisfies Record<string, NumberSetting>;

export type NumberSettingName = keyof typeof NUMBER_SETTINGS;

/** A setting by its name, typed as the general shape (the table's literal types are narrower). */
export const setting = (name: NumberSettingName): NumberSetting => NUMBER_SETTINGS[name];

/** Its default where `context` applies (a source kind, or the command line). */
export function defaultOf(s: NumberSetting, context: DefaultContext): number | undefined {
  return s.defaults?.[context] ?? s.default;
}

const UNIT_TEXT: Record<Unit, string> = { s: ' seconds', ms: ' ms', bytes: ' bytes', days: ' days', count: '', share: '' };

/** "from 1 to 86400 seconds": the allowed range, as every error says it. */
export function rangeText(s: NumberSetting): string {
  return `from ${s.min} to ${s.max}${UNIT_TEXT[s.unit]}`;
}

/**
 * What is wrong with `n` for this setting, or undefined. It names the allowed range and never
 * repeats the value (the caller names the flag or key).
 */
export function numberProblem(s: NumberSetting, n: number): string | undefined {
  const allowed = `allowed: ${rangeText(s)}`;
  if (!Number.isFinite(n) || (s.integer && !Number.isInteger(n))) return `expected ${s.integer ? 'a whole number' : 'a number'} ${rangeText(s)}`;
  if (n < s.min) return `at least ${s.min}${UNIT_TEXT[s.unit]} (${allowed})${s.minReason ? `: ${s.minReason}` : ''}`;
  if (n > s.max) return `at most ${s.max}${UNIT_TEXT[s.unit]} (${allowed})`;
  return undefined;
}

/** A flag's text as a number: plain decimal notation only (no hex, no empty string). */
export function parseNumberText(text: string): number {
  return /^\s*[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?\s*$/.test(text) ? Number(text) : NaN;
}

/** The config key's path as an error names it, e.g. `sources[].poll_interval_s` or `sink.bulk_docs`. */
export function keyPath(s: NumberSetting): string | undefined {
  if (s.key === undefined) return undefined;
  return s.scope === 'source' ? `sources[].${s.key}` : s.scope === 'sink' ? `sink[].${s.key}` : s.scope === 'cluster' ? `cluster.${s.key}` : s.key;
}

/** A secret: given in the environment on the command line, as a key (or `<key>_file`) in the service config. */
export interface SecretSetting {
  readonly key: string;
  /** The environment variables that carry it on the command line. */
  readonly env: readonly string[];
  readonly help: string;
}

export const SECRET_SETTINGS = [
  { key: 'app_key', env: [ENV.v1.appKey], help: 'Mimecast API 1.0 application key' },
  { key: 'access_key', env: [ENV.v1.accessKey], help: 'Mimecast API 1.0 access key' },
  { key: 'secret_key', env: [ENV.v1.secretKey], help: 'Mimecast API 1.0 secret key' },
  { key: 'client_secret', env: [ENV.v2.clientSecret], help: 'Mimecast API 2.0 OAuth2 client secret' },
  { key: 'password', env: [ENV.search.password, ENV.kafka.password], help: 'search engine basic-auth password; Kafka SASL password' },
  { key: 'api_key', env: [ENV.search.apiKey], help: 'search engine API key' },
  { key: 'bearer_token', env: [ENV.search.bearer], help: 'search engine bearer token' },
  { key: 'token', env: [ENV.consoleToken], help: "the web console's access token" },
  // The Sentinel destination reuses `client_secret` (an Entra ID client secret): its variable is read by the destination itself.
  // The Splunk HEC destination reuses `token` (its HEC token): its variable (MIMELOG_HEC_TOKEN) is read by the destination itself.
] as const satisfies readonly SecretSetting[];

/** Keys whose value is a secret: they may come from `<key>_file`, and are masked everywhere. */
export const SECRET_KEYS: readonly string[] = SECRET_SETTINGS.map((s) => s.key);
