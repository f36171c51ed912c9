/**
 * `mimelog run`'s config file: YAML, validated by a zod schema into a typed result. Every error
 * names its path (`sources[2].types[1]: unknown type "spm", expected one of …`). Every numeric key
 * comes from the settings table (config/settings.ts), with the same bounds as its flag. Secrets
 * live in the file only when nobody else may read it: `${ENV_VAR}` is replaced from the
 * environment, and a secret key may instead be given as `<key>_file:`, a file only its owner may
 * read. No config error shows a secret's value.
 */
import { statSync } from 'node:fs';
import { dirname, isAbsolute, resolve } from 'node:path';
import { parseDocument } from 'yaml';
import { z } from 'zod';
import { FEEDS } from '../mimecast/feeds.js';
import { V1_REGIONS, V2_REGIONS } from '../mimecast/endpoints.js';
import { ALL_SIEM_TYPES, listingTypes } from '../mimecast/products.js';
import { parseListen } from '../util/listen.js';
import { ConfigError } from '../util/errors.js';
import { Logger } from '../log/logger.js';
import { type DefaultContext, SECRET_KEYS } from '../config/settings.js';
import { UnreadableFile, readSmallFile, readableByOthers } from '../config/read-file.js';
import { listed, numberKeys, oneOf, url } from '../config/zod-keys.js';
import { SINK_SCHEMA, type SinkEntry } from '../sinks/registry.js';
import { forbiddenKeyPaths } from '../config/yaml-keys.js';
import { STATE_ENGINE_KINDS, stateEngineEntry } from '../cluster/engine.js';

/** The source kinds whose checkpoints the state index holds (cluster/checkpoints.ts). */
const CLUSTER_SOURCE_KINDS: readonly string[] = ['mimecast-v1', 'mimecast-v2-stream', 'mimecast-v2-feeds', 'mimecast-v2-batch'];
/** Why the other kinds cannot run under cluster: (docs/cluster.md, Limits). */
const NOT_UNDER_CLUSTER: Readonly<Record<string, string>> = {
  spool: 'its directory is on one machine\'s disk, so no other replica could take it over: run it on that machine without cluster:',
};

export { SECRET_KEYS } from '../config/settings.js';

/** Bounds of what is read: a config is a few kilobytes, a secret a few hundred bytes. */
const MAX_CONFIG_BYTES = 1024 * 1024;
const MAX_SECRET_BYTES = 64 * 1024;

const V2_TYPES = ALL_SIEM_TYPES.map((t) => t.v2Types[0]!);
const name = z.string().regex(/^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/, 'a name of letters, digits, ".", "_" or "-" (at most 64)');
const listenAt = (example: string) => z.string().refine((v) => parseListen(v) !== undefined, `host:port, e.g. ${example}`);
/** A host name a client may use in its Host header (see allowed_hosts). */
const hostName = z.string().regex(/^[A-Za-z0-9]([A-Za-z0-9.-]{0,251}[A-Za-z0-9])?$/, 'a host name (letters, digits, "." and "-"), without port');

/** How records become documents, and the hostile-input bounds: every source has them (as `ingest` and `collect`). */
const PIPELINE_NUMBERS = ['workers', 'maxRecordBytes', 'maxDocumentBytes', 'maxMemberBytes', 'maxZipBytes', 'maxArchiveDepth', 'maxJsonDepth', 'maxRecordKeys'] as const;
const pipeline = (context: DefaultContext) => ({
  type: z.string().optional(),
  types_file: z.string().optional(),
  unknown_types: oneOf(['store', 'dead-letter'], 'policy').default('store'),
  original: z.boolean().default(true),
  ...numberKeys(PIPELINE_NUMBERS, context),
});

/** Settings every API source shares with `collect` (same meaning, same defaults). */
const POLLING_NUMBERS = ['pollInterval', 'timeout', 'retryBaseMs', 'retryMaxMs', 'maxRetries', 'maxResponseBytes', 'maxServerWait'] as const;
const polling = (context: DefaultContext) => ({ ...numberKeys(POLLING_NUMBERS, context), ...pipeline(context) });

const v1Regions = Object.keys(V1_REGIONS) as [string, ...string[]];
const v2Regions = Object.keys(V2_REGIONS) as [string, ...string[]];

const v1Source = z.strictObject({
  name,
  tenant: name.optional(),
  kind: z.literal('mimecast-v1'),
  url: url.optional(),
  region: oneOf(v1Regions, 'region').optional(),
  credentials: z.strictObject({ app_id: z.string().min(1), app_key: z.string().min(1), access_key: z.string().min(1), secret_key: z.string().min(1) }),
  format: oneOf(['key_value', 'json'], 'format').default('key_value'),
  compress: z.boolean().default(true),
  on_invalid_token: oneOf(['restart', 'stop'], 'policy').default('restart'),
  ...numberKeys(['decodeRetries'], 'mimecast-v1'),
  ...polling('mimecast-v1'),
});

/** Where an API 2.0 source reads, and as whom. */
const v2Account = {
  name,
  /** The Mimecast account, as events name it (`organization.name`); sources of one tenant share their lease with cluster:. */
  tenant: name.optional(),
  url: url.optional(),
  region: oneOf(v2Regions, 'region').optional(),
  credentials: z.strictObject({ client_id: z.string().min(1), client_secret: z.string().min(1) }),
};

/** Take over from the API 1.0 data in the store (store/handover.ts); the API 1.0 source stops once covered. */
const handOver = { hand_over: z.boolean().default(false) };

const v2Batch = z.strictObject({
  ...v2Account,
  kind: z.literal('mimecast-v2-batch'),
  ...handOver,
  /** cg: Cloud Gateway (the SIEM logs); ci: Cloud Integrated (entities, mailflow, urlclick). */
  product: oneOf(['cg', 'ci'], 'product').default('cg'),
  /** Any product's here; the product's own below (a refinement runs only once the rest is valid). */
  types: z.array(oneOf(V2_TYPES as [string, ...string[]], 'type')).min(1).optional(),
  ...numberKeys(['pageSize', 'concurrency', 'decodeRetries'], 'mimecast-v2-batch'),
  ...polling('mimecast-v2-batch'),
});

const v2Stream = z.strictObject({
  ...v2Account,
  kind: z.literal('mimecast-v2-stream'),
  ...handOver,
  ...numberKeys(['pageSize'], 'mimecast-v2-stream'),
  ...polling('mimecast-v2-stream'),
});

const v2Feeds = z.strictObject({
  ...v2Account,
  kind: z.literal('mimecast-v2-feeds'),
  feeds: z.array(oneOf(FEEDS.map((f) => f.name) as [string, ...string[]], 'feed')).min(1).optional(),
  ...numberKeys(['pageSize', 'safetyLag', 'overlap', 'firstLookBackDays', 'concurrency', 'maxPagesPerWindow'], 'mimecast-v2-feeds'),
  ...polling('mimecast-v2-feeds'),
});

/** A local directory that files are dropped into (by another tool, or copied from elsewhere). */
const spool = z.strictObject({
  name,
  kind: z.literal('spool'),
  path: z.string().min(1),
  ...numberKeys(['pollInterval'], 'spool'),
  ...pipeline('spool'),
});

const source = z.discriminatedUnion('kind', [v1Source, v2Batch, v2Stream, v2Feeds, spool], {
  error: (iss) => (iss.code === 'invalid_union' ? `unknown source kind ${JSON.stringify((iss.input as { kind?: unknown } | undefined)?.kind)}, expected one of "mimecast-v1", "mimecast-v2-batch", "mimecast-v2-stream", "mimecast-v2-feeds", "spool"` : undefined),
});


export const CONFIG_SCHEMA = z.strictObject({
  /** The embedded store; with a search-engine sink, where its checkpoints, counts and dead letters live. */
  store: z.string().min(1).default('mimelog.db'),
  /** retain_days: keep this many days of events in the embedded store (a pass at start, then hourly); none: keep all. */
  ...numberKeys(['days', 'horizonWarningShare', 'failingAfter', 'heapGrowth']),
  /** Where events go: one destination or a list (sinks/registry.ts); the store keeps the bookkeeping of every one. */
  sink: SINK_SCHEMA,
  /** /healthz, /readyz and /metrics. */
  listen: listenAt('127.0.0.1:9464').default('127.0.0.1:9464'),
  /** Host names besides localhost, IP addresses and the listen host that /readyz and /metrics answer to (DNS rebinding). */
  allowed_hosts: z.array(hostName).default([]),
  log_level: oneOf(['debug', 'info', 'warn', 'error'], 'log level').default('info'),
  /** The web console over the store, served by the service too (read-only). */
  console: z.strictObject({
    listen: listenAt('127.0.0.1:8080'),
    token: z.string().min(16, 'at least 16 characters').optional(),
    /** Refuse to start without a token, on loopback too (every local user can reach a loopback console). */
    require_token: z.boolean().default(false),
  }).optional(),
  /** Several replicas of this config share the sources through leases in the search engine (docs/cluster.md). */
  cluster: z.strictObject({
    /** This replica's id, unique among the replicas (default: the host name). */
    replica: name.optional(),
    ...numberKeys(['leaseS', 'renewS']),
    state_index: z.string().regex(/^[a-z0-9][a-z0-9_.-]{0,200}$/, 'an index name: lower-case letters, digits, ".", "_" or "-"').default('mimelog-state'),
  }).optional(),
  sources: z.array(source).min(1, 'at least one source'),
}).superRefine((c, ctx) => {
  if (c.cluster) for (const problem of clusterProblems(c)) ctx.addIssue({ code: 'custom', ...problem });
  const seen = new Map<string, number>();
  c.sources.forEach((s, i) => {
    const first = seen.get(s.name);
    if (first !== undefined) ctx.addIssue({ code: 'custom', path: ['sources', i, 'name'], message: `"${s.name}" is already the name of sources[${first}]: every source needs its own name` });
    else seen.set(s.name, i);
    if (s.kind !== 'spool' && s.url === undefined && s.region === undefined) ctx.addIssue({ code: 'custom', path: ['sources', i], message: 'say where Mimecast is: url or region' });
    if (s.kind === 'mimecast-v2-batch') {
      const known = listingTypes(s.product);
      s.types?.forEach((t, k) => {
        if (!known.includes(t)) ctx.addIssue({ code: 'custom', path: ['sources', i, 'types', k], message: `${JSON.stringify(t)} is not a type of product ${s.product}, expected one of ${listed(known)}` });
      });
    }
  });
});

/** What `cluster:` needs of the rest of the file: a search engine to keep the state in, sources whose checkpoints it can hold. */
function clusterProblems(c: { cluster?: { lease_s: number; renew_s: number; state_index: string }; sink: readonly SinkEntry[]; sources: readonly { kind: string }[] }): { path: PropertyKey[]; message: string }[] {
  const out: { path: PropertyKey[]; message: string }[] = [];
  // The state index must not be one the events go to, nor match their index template (its
  // settings, and whatever retention an operator attaches to the events' indices, would apply).
  const stateIndex = c.cluster?.state_index;
  for (const e of c.sink) {
    const pattern = STATE_ENGINE_KINDS.includes(e.kind) ? (e as { index?: unknown }).index : undefined;
    if (stateIndex === undefined || typeof pattern !== 'string') continue;
    const wildcard = pattern.replace(/\{\w+\}/g, '*');
    const matches = new RegExp(`^${wildcard.split('*').map((p) => p.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')).join('.*')}$`).test(stateIndex);
    if (matches) out.push({ path: ['cluster', 'state_index'], message: `${stateIndex} is matched by the events' index pattern ${pattern} (${wildcard}): the events' template and retention would apply to the replicas' leases and checkpoints; name it outside that pattern` });
  }
  if (c.cluster && c.cluster.renew_s * 3 > c.cluster.lease_s) out.push({ path: ['cluster', 'renew_s'], message: `renew at least three times per lease (renew_s ≤ lease_s / 3 = ${Math.floor(c.cluster.lease_s / 3)})` });
  if (!stateEngineEntry(c.sink)) out.push({ path: ['cluster'], message: `replicas keep their leases and checkpoints in the search engine: sink: needs an entry of kind ${STATE_ENGINE_KINDS.join(' or ')}` });
  c.sources.forEach((s, i) => {
    const why = NOT_UNDER_CLUSTER[s.kind] ?? 'its checkpoints do not move to the engine yet';
    if (!CLUSTER_SOURCE_KINDS.includes(s.kind)) out.push({ path: ['sources', i, 'kind'], message: `a ${s.kind} source cannot run under cluster: (${why}); kinds that can: ${CLUSTER_SOURCE_KINDS.join(', ')}` });
  });
  return out;
}

export type ServiceConfig = z.infer<typeof CONFIG_SCHEMA>;
export type SourceConfig = ServiceConfig['sources'][number];

/** `sources[2].types[1]` from zod's path. */
function pathText(path: readonly PropertyKey[]): string {
  let out = '';
  for (const p of path) out += typeof p === 'number' ? `[${p}]` : `${out ? '.' : ''}${String(p)}`;
  return out || '(top level)';
}

const REFERENCE = /\$\{([A-Za-z_][A-Za-z0-9_]*)\}/g;

/** What expanding the file needs and finds. */
interface Expansion {
  readonly file: string;
  readonly env: NodeJS.ProcessEnv;
  readonly baseDir: string;
  /** The config file's permission bits: an inline secret needs a file nobody else may read. */
  readonly fileMode: number;
  readonly problems: string[];
  /** Every secret value met (inline, from the environment or from a file), to mask in errors. */
  readonly secrets: string[];
}

function expandText(text: string, path: readonly PropertyKey[], x: Expansion): string {
  return text.replace(REFERENCE, (_, name: string) => {
    const v = x.env[name];
    if (v === undefined || v === '') x.problems.push(`${pathText(path)}: \${${name}} is not set in the environment`);
    return v ?? '';
  });
}

/** A secret key's value: from the environment it is fine; written out, only in a file nobody else may read. */
function expandSecret(value: unknown, key: string, path: readonly PropertyKey[], x: Expansion): unknown {
  const inline = typeof value !== 'string' || value.replace(REFERENCE, '') !== '';
  if (inline && readableByOthers(x.fileMode)) {
    x.problems.push(`${pathText(path)}: a secret written in a config file others can read (mode ${x.fileMode.toString(8)}): give it as ${key}_file or \${ENV_VAR}, or run chmod 600 ${x.file}`);
  }
  const expanded = typeof value === 'string' ? expandText(value, path, x) : value;
  if (typeof expanded === 'string' || typeof expanded === 'number') x.secrets.push(String(expanded));
  return expanded;
}

/** `<secret>_file`: the secret read from a regular file that only its owner may read. */
function readSecretFile(value: unknown, secret: string, siblings: object, path: readonly PropertyKey[], x: Expansion): string | undefined {
  const where = pathText(path);
  if (secret in siblings) x.problems.push(`${where}: give ${secret} or ${secret}_file, not both`);
  const file = typeof value === 'string' ? expandText(value, path, x) : undefined;
  if (file === undefined || file === '') {
    x.problems.push(`${where}: expected a file name`);
    return undefined;
  }
  const full = isAbsolute(file) ? file : resolve(x.baseDir, file);
  try {
    const read = readSmallFile(full, MAX_SECRET_BYTES);
    if (readableByOthers(read.mode)) {
      x.problems.push(`${where}: ${full} is readable by others: run chmod 600 ${full}`);
      return undefined;
    }
    const text = read.text.trim();
    x.secrets.push(text);
    return text;
  } catch (err) {
    if (!(err instanceof UnreadableFile)) throw err;
    x.problems.push(`${where}: cannot read ${full} (${err.message})`);
    return undefined;
  }
}

/** Replaces `${NAME}` in every string, and `<secret>_file` keys by the file's content. */
function expand(value: unknown, path: readonly PropertyKey[], x: Expansion): unknown {
  if (typeof value === 'string') return expandText(value, path, x);
  if (Array.isArray(value)) return value.map((v, i) => expand(v, [...path, i], x));
  if (value === null || typeof value !== 'object') return value;
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(value)) {
    const here = [...path, k];
    const secretOfFile = SECRET_KEYS.find((s) => k === `${s}_file`);
    if (secretOfFile !== undefined) {
      const text = readSecretFile(v, secretOfFile, value, here, x);
      if (text !== undefined) out[secretOfFile] = text;
    } else if (SECRET_KEYS.includes(k)) out[k] = expandSecret(v, k, here, x);
    else out[k] = expand(v, here, x);
  }
  return out;
}

/** Every secret value in a loaded config, for the log's mask. */
export function configSecrets(config: unknown): string[] {
  const out: string[] = [];
  const walk = (v: unknown) => {
    if (Array.isArray(v)) v.forEach(walk);
    else if (v && typeof v === 'object') {
      for (const [k, x] of Object.entries(v)) {
        if (SECRET_KEYS.includes(k) && typeof x === 'string') out.push(x);
        else walk(x);
      }
    }
  };
  walk(config);
  return out;
}

/** The problems as the error says them: no secret met in the file appears in any of them. */
function configError(file: string, problems: readonly string[], secrets: readonly string[]): ConfigError {
  const mask = new Logger(process.stderr, 'error'); // only its redaction is used
  // A problem quotes a value as JSON (`unknown region "…"`): its escaped form is masked too.
  mask.addSecrets(...secrets.flatMap((v) => [v, JSON.stringify(v).slice(1, -1)]));
  return new ConfigError(file, problems.map((p) => mask.redact(p)));
}

/**
 * Reads, expands and validates the file; throws a ConfigError listing every problem, with those
 * `more` finds in the expanded file (`run --check`: places that cannot be used) among them.
 */
export function loadConfig(file: string, env: NodeJS.ProcessEnv, more?: (expanded: unknown) => string[]): ServiceConfig {
  return loadYaml(file, env, CONFIG_SCHEMA, more);
}

/** A file holding only `sink:` (one destination or a list), as `run`'s config takes it: `--sink-config` of ingest, collect and replay. */
const SINK_FILE_SCHEMA = z.strictObject({ sink: SINK_SCHEMA });

export function loadSinkConfig(file: string, env: NodeJS.ProcessEnv): SinkEntry[] {
  return loadYaml(file, env, SINK_FILE_SCHEMA).sink;
}

/** Reads, expands (`${ENV}`, `<secret>_file`) and validates a YAML file against `schema`. */
function loadYaml<T>(file: string, env: NodeJS.ProcessEnv, schema: z.ZodType<T>, more?: (expanded: unknown) => string[]): T {
  let read;
  try {
    read = readSmallFile(file, MAX_CONFIG_BYTES);
  } catch (err) {
    if (!(err instanceof UnreadableFile)) throw err;
    throw new ConfigError(file, [err.message]);
  }
  const doc = parseDocument(read.text, { prettyErrors: true, uniqueKeys: true });
  // The first YAML error; the ones after it usually follow from it.
  if (doc.errors.length > 0) throw new ConfigError(file, [`not valid YAML: ${doc.errors[0]!.message.split('\n')[0]}`]);
  // Checked before the document becomes objects, where such a key would act instead of being a key.
  const forbidden = forbiddenKeyPaths(doc.contents);
  if (forbidden.length > 0) throw new ConfigError(file, forbidden.map((p) => `${pathText(p)}: a key named ${String(p.at(-1))} is not allowed (it would reach into JavaScript's object model)`));
  const x: Expansion = { file, env, baseDir: dirname(resolve(file)), fileMode: read.mode, problems: [], secrets: [] };
  let js: unknown;
  try {
    js = doc.toJS(); // throws on an alias bomb (aliases expanding to millions of nodes)
  } catch (err) {
    throw new ConfigError(file, [`not valid YAML: ${(err as Error).message}`]);
  }
  const expanded = expand(js, [], x);
  const problems = x.problems;
  const parsed = schema.safeParse(expanded ?? {});
  if (!parsed.success) {
    // Every problem at once; a value already reported as unreadable or unset is not reported again as missing.
    const reported = problems.map((p) => p.slice(0, p.indexOf(': ')).replace(/_file$/, ''));
    // `sink:` given as one mapping is checked as a list of one: its problems are named as written.
    const sink = (expanded as { sink?: unknown } | undefined)?.sink;
    const asWritten = (path: readonly PropertyKey[]) => (sink !== undefined && !Array.isArray(sink) && path[0] === 'sink' && path[1] === 0 ? ['sink', ...path.slice(2)] : path);
    for (const i of parsed.error.issues) {
      const path = asWritten(i.path);
      if (i.code === 'unrecognized_keys') problems.push(...i.keys.map((k) => `${pathText([...path, k])}: unknown key`));
      else if (!reported.includes(pathText(path))) problems.push(`${pathText(path)}: ${i.message}`);
    }
  }
  if (more) problems.push(...more(expanded));
  if (problems.length > 0 || !parsed.success) throw configError(file, problems, x.secrets);
  return parsed.data;
}

/**
 * Why the config file is not safe where it lies: a directory above it that everyone may write,
 * without the sticky bit, lets anyone rename the file away and put their own in its place (its
 * mode 600 does not protect it).
 */
export function configPlaceWarnings(file: string): string[] {
  const out: string[] = [];
  for (let dir = dirname(resolve(file)); ; dir = dirname(dir)) {
    try {
      const mode = statSync(dir).mode;
      if ((mode & 0o002) !== 0 && (mode & 0o1000) === 0) out.push(`${dir} is writable by everyone (mode ${(mode & 0o7777).toString(8)}, no sticky bit): anyone can replace ${file}; keep it in a directory only its owner may write`);
    } catch {
      // not looked at: the file was read, so its directories exist
    }
    if (dirname(dir) === dir) return out;
  }
}
