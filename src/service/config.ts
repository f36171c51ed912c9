/**
 * `mimelog run`'s config file: YAML, validated by a zod schema into a typed result. Every error
 * names its path (`sources[2].types[1]: unknown type "spm", expected one of …`). Secrets never
 * live in the file: `${ENV_VAR}` is replaced from the environment, and a secret key may instead
 * be given as `<key>_file:`, a file only its owner may read.
 */
import { readFileSync, statSync } from 'node:fs';
import { FEEDS } from '../mimecast/feeds.js';
import { isAbsolute, resolve, dirname } from 'node:path';
import { parseDocument } from 'yaml';
import { z } from 'zod';
import { DEFAULT_LIMITS } from '../decode/limits.js';
import { V1_REGIONS, V2_REGIONS } from '../mimecast/endpoints.js';
import { ALL_SIEM_TYPES, listingTypes } from '../mimecast/products.js';
import { MIN_RETAIN_DAYS } from '../store/retention.js';
import { parseListen } from '../util/listen.js';
import { ConfigError } from '../util/errors.js';

/** The file cannot be used; `problems` are `path: what is wrong` lines. */

/** Keys whose value is a secret: they may come from `<key>_file`, and are masked in every log. */
export const SECRET_KEYS = ['app_key', 'access_key', 'secret_key', 'client_secret', 'password', 'api_key', 'bearer_token', 'token'] as const;

const V2_TYPES = ALL_SIEM_TYPES.map((t) => t.v2Types[0]!);
const listed = (values: readonly string[]) => values.map((v) => JSON.stringify(v)).join(', ');
const oneOf = <T extends string>(values: readonly [T, ...T[]], what: string) =>
  z.enum(values, { error: (iss) => `unknown ${what} ${JSON.stringify(iss.input)}, expected one of ${listed(values)}` });

const whole = (min: number) => z.number({ error: (iss) => `expected a number, not ${JSON.stringify(iss.input)}` }).int().min(min);
const name = z.string().regex(/^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/, 'a name of letters, digits, ".", "_" or "-" (at most 64)');
const url = z.url({ protocol: /^https?$/, error: 'an http(s) URL' });
const listenAt = (example: string) => z.string().refine((v) => parseListen(v) !== undefined, `host:port, e.g. ${example}`);

/** How records become documents, and the hostile-input bounds: every source has them (as `ingest` and `collect`). */
const pipeline = {
  type: z.string().optional(),
  types_file: z.string().optional(),
  unknown_types: oneOf(['store', 'dead-letter'], 'policy').default('store'),
  original: z.boolean().default(true),
  /** Threads that process this source's records (1: the main thread, which every source shares). */
  workers: whole(1).default(1),
  // Hostile-input bounds.
  max_record_bytes: whole(1024).default(DEFAULT_LIMITS.maxRecordBytes),
  max_document_bytes: whole(1024).default(DEFAULT_LIMITS.maxDocumentBytes),
  max_member_bytes: whole(1024).default(DEFAULT_LIMITS.maxMemberBytes),
  max_zip_bytes: whole(1024).default(DEFAULT_LIMITS.maxZipBytes),
  max_archive_depth: whole(1).default(DEFAULT_LIMITS.maxArchiveDepth),
  max_json_depth: whole(2).default(DEFAULT_LIMITS.maxJsonDepth),
  max_record_keys: whole(16).default(DEFAULT_LIMITS.maxRecordKeys),
};

/** Settings every API source shares with `collect` (same meaning, same defaults). */
const polling = {
  poll_interval_s: whole(1).default(300),
  timeout_s: whole(1).default(120),
  retry_base_ms: whole(1).default(1000),
  retry_max_ms: whole(1).default(120_000),
  max_retries: whole(1).default(30),
  max_response_bytes: whole(1024).default(DEFAULT_LIMITS.maxZipBytes),
  ...pipeline,
};

const v1Regions = Object.keys(V1_REGIONS) as [string, ...string[]];
const v2Regions = Object.keys(V2_REGIONS) as [string, ...string[]];

const v1Source = z.strictObject({
  name,
  kind: z.literal('mimecast-v1'),
  url: url.optional(),
  region: oneOf(v1Regions, 'region').optional(),
  credentials: z.strictObject({ app_id: z.string().min(1), app_key: z.string().min(1), access_key: z.string().min(1), secret_key: z.string().min(1) }),
  format: oneOf(['key_value', 'json'], 'format').default('key_value'),
  compress: z.boolean().default(true),
  decode_retries: whole(0).default(2),
  on_invalid_token: oneOf(['restart', 'stop'], 'policy').default('restart'),
  ...polling,
});

/** Where an API 2.0 source reads, and as whom. */
const v2Account = {
  name,
  url: url.optional(),
  region: oneOf(v2Regions, 'region').optional(),
  credentials: z.strictObject({ client_id: z.string().min(1), client_secret: z.string().min(1) }),
};

const v2Batch = z.strictObject({
  ...v2Account,
  kind: z.literal('mimecast-v2-batch'),
  /** cg: Cloud Gateway (the SIEM logs); ci: Cloud Integrated (entities, mailflow, urlclick). */
  product: oneOf(['cg', 'ci'], 'product').default('cg'),
  /** Any product's here; the product's own below (a refinement runs only once the rest is valid). */
  types: z.array(oneOf(V2_TYPES as [string, ...string[]], 'type')).min(1).optional(),
  page_size: whole(1).default(25),
  concurrency: whole(1).default(3),
  decode_retries: whole(0).default(2),
  ...polling,
});

const v2Stream = z.strictObject({
  ...v2Account,
  kind: z.literal('mimecast-v2-stream'),
  page_size: whole(1).default(500),
  ...polling,
});

const v2Feeds = z.strictObject({
  ...v2Account,
  kind: z.literal('mimecast-v2-feeds'),
  feeds: z.array(oneOf(FEEDS.map((f) => f.name) as [string, ...string[]], 'feed')).min(1).optional(),
  page_size: whole(1).default(500),
  safety_lag_s: whole(0).default(900),
  overlap_s: whole(0).default(60),
  first_look_back_days: whole(1).default(7),
  concurrency: whole(1).default(3),
  ...polling,
});

/** A local directory that files are dropped into (by another tool, or copied from elsewhere). */
const spool = z.strictObject({
  name,
  kind: z.literal('spool'),
  path: z.string().min(1),
  poll_interval_s: whole(1).default(60),
  ...pipeline,
});

const source = z.discriminatedUnion('kind', [v1Source, v2Batch, v2Stream, v2Feeds, spool], {
  error: (iss) => (iss.code === 'invalid_union' ? `unknown source kind ${JSON.stringify((iss.input as { kind?: unknown } | undefined)?.kind)}, expected one of "mimecast-v1", "mimecast-v2-batch", "mimecast-v2-stream", "mimecast-v2-feeds", "spool"` : undefined),
});

const sink = z.strictObject({
  kind: oneOf(['sqlite', 'opensearch', 'elasticsearch'], 'sink').default('sqlite'),
  urls: z.array(url).min(1).optional(),
  user: z.string().optional(),
  password: z.string().optional(),
  api_key: z.string().optional(),
  bearer_token: z.string().optional(),
  ca_file: z.string().optional(),
  insecure: z.boolean().default(false),
  index: z.string().optional(),
  template: z.string().default('mimelog-siem'),
  bulk_docs: whole(1).default(1000),
  bulk_bytes: whole(1024).default(5 * 1024 * 1024),
  bulk_concurrency: whole(1).default(2),
  replicas: whole(0).optional(),
  shards: whole(1).optional(),
  timeout_s: whole(1).default(60),
  give_up_s: whole(1).default(600),
}).refine((s) => s.kind === 'sqlite' || s.urls !== undefined, { message: 'a search-engine sink needs urls', path: ['urls'] });

export const CONFIG_SCHEMA = z.strictObject({
  /** The embedded store; with a search-engine sink, where its checkpoints, counts and dead letters live. */
  store: z.string().min(1).default('mimelog.db'),
  /** Keep this many days of events in the embedded store (a pass at start, then hourly); none: keep all. */
  retain_days: z.number().int().min(MIN_RETAIN_DAYS, `at least ${MIN_RETAIN_DAYS} days: a collector that restarts re-reads up to 7 days of Mimecast's files, and events deleted sooner would be stored again as new`).optional(),
  sink: sink.default({ kind: 'sqlite', insecure: false, template: 'mimelog-siem', bulk_docs: 1000, bulk_bytes: 5 * 1024 * 1024, bulk_concurrency: 2, timeout_s: 60, give_up_s: 600 }),
  listen: listenAt('127.0.0.1:9464').default('127.0.0.1:9464'),
  log_level: oneOf(['debug', 'info', 'warn', 'error'], 'log level').default('info'),
  /** The web console over the store, served by the service too (read-only). */
  console: z.strictObject({
    listen: listenAt('127.0.0.1:8080'),
    token: z.string().min(16, 'at least 16 characters').optional(),
    /** Refuse to start without a token, on loopback too (every local user can reach a loopback console). */
    require_token: z.boolean().default(false),
  }).optional(),
  /** A source whose horizon headroom falls under this share of its horizon is degraded. */
  horizon_warning_share: z.number().gt(0).lt(1).default(0.25),
  sources: z.array(source).min(1, 'at least one source'),
}).superRefine((c, ctx) => {
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

export type ServiceConfig = z.infer<typeof CONFIG_SCHEMA>;
export type SourceConfig = ServiceConfig['sources'][number];

/** `sources[2].types[1]` from zod's path. */
function pathText(path: readonly PropertyKey[]): string {
  let out = '';
  for (const p of path) out += typeof p === 'number' ? `[${p}]` : `${out ? '.' : ''}${String(p)}`;
  return out || '(top level)';
}

/** Replaces `${NAME}` in every string, and `<secret>_file` keys by the file's content. */
function expand(value: unknown, path: PropertyKey[], env: NodeJS.ProcessEnv, baseDir: string, problems: string[]): unknown {
  if (typeof value === 'string') {
    return value.replace(/\$\{([A-Za-z_][A-Za-z0-9_]*)\}/g, (_, name: string) => {
      const v = env[name];
      if (v === undefined || v === '') problems.push(`${pathText(path)}: \${${name}} is not set in the environment`);
      return v ?? '';
    });
  }
  if (Array.isArray(value)) return value.map((v, i) => expand(v, [...path, i], env, baseDir, problems));
  if (value === null || typeof value !== 'object') return value;
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(value)) {
    const secret = SECRET_KEYS.find((s) => k === `${s}_file`);
    if (secret === undefined) {
      out[k] = expand(v, [...path, k], env, baseDir, problems);
      continue;
    }
    const where = pathText([...path, k]);
    if (k.slice(0, -5) in (value as object)) problems.push(`${where}: give ${secret} or ${k}, not both`);
    const file = expand(v, [...path, k], env, baseDir, problems);
    if (typeof file !== 'string' || file === '') {
      problems.push(`${where}: expected a file name`);
      continue;
    }
    const full = isAbsolute(file) ? file : resolve(baseDir, file);
    try {
      const mode = statSync(full).mode;
      if ((mode & 0o077) !== 0) {
        problems.push(`${where}: ${full} is readable by others: run chmod 600 ${full}`);
        continue;
      }
      out[secret] = readFileSync(full, 'utf8').trim();
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      problems.push(`${where}: cannot read ${full} (${code === 'ENOENT' ? 'no such file' : code === 'EACCES' ? 'permission denied' : (err as Error).message})`);
    }
  }
  return out;
}

/** Every secret value in a loaded config, for the log's mask. */
export function configSecrets(config: ServiceConfig): string[] {
  const out: string[] = [];
  const walk = (v: unknown) => {
    if (Array.isArray(v)) v.forEach(walk);
    else if (v && typeof v === 'object') {
      for (const [k, x] of Object.entries(v)) {
        if ((SECRET_KEYS as readonly string[]).includes(k) && typeof x === 'string') out.push(x);
        else walk(x);
      }
    }
  };
  walk(config);
  return out;
}

/** Reads, expands and validates the file; throws a ConfigError listing every problem. */
export function loadConfig(file: string, env: NodeJS.ProcessEnv): ServiceConfig {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    throw new ConfigError(file, [code === 'ENOENT' ? 'no such file' : code === 'EACCES' ? 'permission denied' : (err as Error).message]);
  }
  const doc = parseDocument(text, { prettyErrors: true, uniqueKeys: true });
  // The first YAML error; the ones after it usually follow from it.
  if (doc.errors.length > 0) throw new ConfigError(file, [`not valid YAML: ${doc.errors[0]!.message.split('\n')[0]}`]);
  const problems: string[] = [];
  const expanded = expand(doc.toJS(), [], env, dirname(resolve(file)), problems);
  const parsed = CONFIG_SCHEMA.safeParse(expanded ?? {});
  if (!parsed.success) {
    // Every problem at once; a value already reported as unreadable or unset is not reported again as missing.
    const reported = problems.map((p) => p.slice(0, p.indexOf(': ')).replace(/_file$/, ''));
    for (const i of parsed.error.issues) {
      if (i.code === 'unrecognized_keys') problems.push(...i.keys.map((k) => `${pathText([...i.path, k])}: unknown key`));
      else if (!reported.includes(pathText(i.path))) problems.push(`${pathText(i.path)}: ${i.message}`);
    }
  }
  if (problems.length > 0 || !parsed.success) throw new ConfigError(file, problems);
  return parsed.data;
}
