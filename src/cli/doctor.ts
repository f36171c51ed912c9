/**
 * `mimelog doctor`: checks a Mimecast account before the service runs, against the real API: the
 * credentials, the region's gateway, the clock, the rate-limit headroom, what the application may
 * read (and what to enable where it may not), each stored checkpoint's horizon headroom, and, for a
 * `run` config, the store, spool and listen addresses, and with `cluster:` its state index
 * (doctor-cluster.ts). One line per check; exit 0 all ok, 2
 * warnings only, 1 any FAIL.
 */
import { existsSync } from 'node:fs';
import Database from 'better-sqlite3';
import { type Command, Option } from 'commander';
import { ENV } from '../config/env.js';
import { defaultOf, setting } from '../config/settings.js';
import { horizonOf } from '../mimecast/horizons.js';
import { ACCESS_NEEDS, REGION_ADVICE, V1_ACCOUNT_CODES } from '../mimecast/access.js';
import { OAUTH_PATH_V2, SIEM_PATH_V1, STREAM_PATH_V2, V1_REGIONS, V2_REGIONS } from '../mimecast/endpoints.js';
import { FEED_NOT_AVAILABLE_CODES, FEEDS, feedNamed, feedTime } from '../mimecast/feeds.js';
import { type ProductName, SIEM_PRODUCTS, listingTypes } from '../mimecast/products.js';
import { type V1Credentials, signedHeaders } from '../mimecast/v1-auth.js';
import { checkConfig } from '../service/check.js';
import { ConfigError, EXIT, UsageError } from '../util/errors.js';
import { type CollectOptions, checkpointName, resolveSource } from './collect.js';
import { numberOption } from './options.js';
import { printable } from '../util/terminal-text.js';
import { answerText, firstFailError } from '../sources/http-body.js';
import { type ApiCheckpointKind, accountIdentity } from './source-account.js';

type Status = 'ok' | 'warn' | 'FAIL';

interface CheckResult {
  readonly status: Status;
  readonly check: string;
  readonly seen: string;
  readonly todo?: string;
}

/** Clock skew beyond this is a warning: API 1.0 signatures carry the time (refused past 15 min). */
const SKEW_WARN_MS = 60_000;
/** Seconds a call may take. */
const DEFAULT_TIMEOUT_S = 10;
/** Exit status when some checks warn and none fails. */
const WARNINGS_ONLY = 2;
/** Less than this share of the rate limit left is a warning. */
const HEADROOM_WARN = 0.1;
/** A feed read's window: one minute, a quarter hour ago (Mimecast indexes some records late). */
const FEED_PROBE = { endAgoMs: 15 * 60_000, spanMs: 60_000 };

/** `name`: the service's source name (its checkpoints carry it); none for `collect`-style options. */
type Target =
  | { readonly label: string; readonly name?: string; readonly api: 'v1'; readonly baseUrl: string; readonly credentials: V1Credentials }
  | { readonly label: string; readonly name?: string; readonly api: 'v2'; readonly baseUrl: string; readonly clientId: string; readonly clientSecret: string; readonly reads: readonly string[] };

interface Answer {
  readonly status: number;
  readonly headers: Headers;
  readonly body: string;
  readonly sentAt: number;
  readonly receivedAt: number;
}

/** One HTTP call; a network failure becomes a thrown Error naming the host and the cause. */
async function call(url: string, init: RequestInit, timeoutMs: number, readBody = true): Promise<Answer> {
  const sentAt = Date.now();
  let res: Response;
  try {
    res = await fetch(url, { ...init, signal: AbortSignal.timeout(timeoutMs) });
  } catch (err) {
    const cause = (err as { cause?: { code?: string; message?: string } }).cause;
    throw new Error(`cannot reach ${new URL(url).host}: ${cause?.code ?? cause?.message ?? (err as Error).message}`);
  }
  const receivedAt = Date.now();
  let body = '';
  if (readBody || /json/.test(res.headers.get('content-type') ?? '')) body = (await res.text()).slice(0, 64 * 1024);
  else await res.body?.cancel(); // API 1.0 hands over a log file: the doctor needs only its headers
  return { status: res.status, headers: res.headers, body, sentAt, receivedAt };
}

/**
 * The first error of a Mimecast answer's `fail` as collect reads it (firstFailError: its code, else
 * its message), or the API 2.0 `error.code`: an answer collect stops on is never "readable".
 */
function errorCode(body: string): string | undefined {
  try {
    const v = JSON.parse(body) as { fail?: unknown; error?: { code?: unknown } | string } | null;
    const failed = firstFailError(v?.fail);
    if (failed) return answerText(failed.code) ?? answerText(failed.message) ?? 'an error without a code or message';
    return answerText(typeof v?.error === 'string' ? v.error : v?.error?.code);
  } catch {
    return undefined;
  }
}

function clockCheck(label: string, a: Answer): CheckResult | undefined {
  const date = Date.parse(a.headers.get('date') ?? '');
  if (Number.isNaN(date)) return undefined;
  // The Date header has whole seconds: compare with the middle of the call, allow one second.
  const skew = date - (a.sentAt + a.receivedAt) / 2;
  const seen = `Mimecast's clock is ${Math.round(Math.abs(skew) / 1000)} s ${skew > 0 ? 'ahead of' : 'behind'} this machine's`;
  return Math.abs(skew) > SKEW_WARN_MS
    ? { status: 'warn', check: `${label}: clock`, seen, todo: "set this machine's clock right (NTP): API 1.0 signatures carry the time, and event times are compared with it" }
    : { status: 'ok', check: `${label}: clock`, seen };
}

/** The lowest share of the rate limit left among the answers that carried `X-RateLimit-*`. */
function headroomCheck(label: string, answers: readonly Answer[]): CheckResult {
  const seen = answers.flatMap((a) => {
    const limit = Number(a.headers.get('x-ratelimit-limit'));
    const left = Number(a.headers.get('x-ratelimit-remaining'));
    return limit > 0 && Number.isFinite(left) ? [{ limit, left }] : [];
  }).sort((x, y) => x.left / x.limit - y.left / y.limit)[0];
  const check = `${label}: rate limit`;
  if (!seen) return { status: 'ok', check, seen: 'no X-RateLimit-* headers in the answers (some endpoints send none)' };
  const text = `${seen.left} of ${seen.limit} calls left in the window`;
  return seen.left / seen.limit < HEADROOM_WARN
    ? { status: 'warn', check, seen: text, todo: 'another program uses the same application: give mimelog its own application, or wait for the window to reset' }
    : { status: 'ok', check, seen: text };
}

function unreachable(label: string, api: 'v1' | 'v2', err: Error): CheckResult {
  return { status: 'FAIL', check: `${label}: connection`, seen: err.message, todo: `check the address and the network; ${REGION_ADVICE[api]}` };
}

/** One read of a thing the source reads; a refusal names what to enable. */
function readCheck(label: string, read: string, a: Answer): CheckResult {
  const need = ACCESS_NEEDS.get(read);
  const check = `${label}: read ${need?.what ?? read}`;
  const code = errorCode(a.body);
  const refused = a.status === 401 || a.status === 403 || (code !== undefined && FEED_NOT_AVAILABLE_CODES.has(code));
  if (refused) return { status: 'FAIL', check, seen: `HTTP ${a.status}${code ? ` ${code}` : ''}: the application may not read it`, todo: `enable ${need?.enable ?? 'read access to it'}` };
  if (a.status === 429) return { status: 'warn', check, seen: 'HTTP 429: rate limit used up', todo: 'wait for the window to reset; another program may share the application' };
  if (a.status >= 400 || code !== undefined) return { status: 'FAIL', check, seen: `HTTP ${a.status}${code ? ` ${code}` : ''}`, todo: 'see the Mimecast status page; run again later' };
  return { status: 'ok', check, seen: `HTTP ${a.status}: readable` };
}

/** The call that reads a little of `read` with `token`. */
function readRequest(baseUrl: string, read: string, token: string): { url: string; init: RequestInit } {
  const auth = { Authorization: `Bearer ${token}` };
  if (read === 'stream') return { url: `${baseUrl}${STREAM_PATH_V2}?pageSize=1`, init: { headers: auth } };
  if (read === 'cg' || read === 'ci') {
    const product = SIEM_PRODUCTS[read as ProductName];
    return { url: `${baseUrl}${product.batchPath}?type=${encodeURIComponent(listingTypes(product.name)[0]!)}&pageSize=1`, init: { headers: auth } };
  }
  const feed = feedNamed(read)!;
  const to = Date.now() - FEED_PROBE.endAgoMs;
  const body = { meta: { pagination: { pageSize: 1 } }, data: [{ [feed.window.from]: feedTime(to - FEED_PROBE.spanMs), [feed.window.to]: feedTime(to) }] };
  return { url: `${baseUrl}${feed.path}`, init: { method: 'POST', headers: { ...auth, 'content-type': 'application/json' }, body: JSON.stringify(body) } };
}

/** The token of an OAuth answer; undefined when the body is not one. */
function accessToken(body: string): string | undefined {
  try {
    const token = (JSON.parse(body) as { access_token?: unknown }).access_token;
    return typeof token === 'string' && token !== '' ? token : undefined;
  } catch {
    return undefined;
  }
}

async function checkV2(t: Extract<Target, { api: 'v2' }>, timeoutMs: number): Promise<CheckResult[]> {
  const host = new URL(t.baseUrl).host;
  let tokenAnswer: Answer;
  try {
    const form = new URLSearchParams({ grant_type: 'client_credentials', client_id: t.clientId, client_secret: t.clientSecret });
    tokenAnswer = await call(`${t.baseUrl}${OAUTH_PATH_V2}`, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: form.toString() }, timeoutMs);
  } catch (err) {
    return [unreachable(t.label, 'v2', err as Error)];
  }
  const results: CheckResult[] = [];
  const clock = clockCheck(t.label, tokenAnswer);
  if (clock) results.push(clock);
  const token = tokenAnswer.status === 200 ? accessToken(tokenAnswer.body) : undefined;
  if (!token) {
    results.push({
      status: 'FAIL', check: `${t.label}: credentials`, seen: `the OAuth token call at ${host} answered HTTP ${tokenAnswer.status}${errorCode(tokenAnswer.body) ? ` ${errorCode(tokenAnswer.body)}` : ''}`,
      todo: `check MIMECAST_CLIENT_ID / MIMECAST_CLIENT_SECRET (or the source's credentials); ${REGION_ADVICE.v2}`,
    });
    return results;
  }
  results.push({ status: 'ok', check: `${t.label}: credentials`, seen: `OAuth token issued by ${host}` });
  const answers: Answer[] = [tokenAnswer];
  for (const read of t.reads) {
    const { url, init } = readRequest(t.baseUrl, read, token);
    try {
      const a = await call(url, init, timeoutMs);
      answers.push(a);
      results.push(readCheck(t.label, read, a));
    } catch (err) {
      results.push(unreachable(t.label, 'v2', err as Error));
    }
  }
  results.push(headroomCheck(t.label, answers));
  return results;
}

async function checkV1(t: Extract<Target, { api: 'v1' }>, timeoutMs: number): Promise<CheckResult[]> {
  const host = new URL(t.baseUrl).host;
  let a: Answer;
  try {
    const body = JSON.stringify({ data: [{ type: 'MTA', fileFormat: 'key_value', compress: true }] });
    a = await call(`${t.baseUrl}${SIEM_PATH_V1}`, { method: 'POST', headers: { ...signedHeaders(t.credentials, SIEM_PATH_V1), 'content-type': 'application/json' }, body }, timeoutMs, false);
  } catch (err) {
    return [unreachable(t.label, 'v1', err as Error)];
  }
  const results: CheckResult[] = [];
  const clock = clockCheck(t.label, a);
  if (clock) results.push(clock);
  const code = a.status === 418 ? 'err_xdk_binding_expired' : errorCode(a.body);
  const check = `${t.label}: credentials`;
  if (a.status >= 400 || (code !== undefined && code !== 'err_audit_siem_invalid_token')) {
    results.push({ status: 'FAIL', check, seen: `the signed get-siem-logs call at ${host} answered HTTP ${a.status}${code ? ` ${code}` : ''}`, todo: V1_ACCOUNT_CODES.get(code ?? '') ?? `check the MIMECAST_APP_ID, MIMECAST_APP_KEY, MIMECAST_ACCESS_KEY, MIMECAST_SECRET_KEY; ${REGION_ADVICE.v1}` });
    return results;
  }
  results.push({ status: 'ok', check, seen: `a signed get-siem-logs call at ${host} was accepted (HTTP ${a.status}); the SIEM logs are a token chain: authenticating is all the doctor checks` });
  results.push(headroomCheck(t.label, [a]));
  return results;
}

/** The checkpoints a target's collector keeps: [name, exact] (exact false: the name is a prefix, one per type or feed). */
function checkpointsOf(t: Target): [string, boolean][] {
  if (t.api === 'v1') return [[checkpointName('mimecast-v1', t.baseUrl, t.name), true]];
  return t.reads.map((read): [string, boolean] => read === 'stream' ? [checkpointName('mimecast-v2-stream', t.baseUrl, t.name), true]
    : read === 'cg' || read === 'ci' ? [checkpointName('mimecast-v2', t.baseUrl, t.name), false]
    : [`${checkpointName('mimecast-v2-feed', t.baseUrl, t.name)} ${read}`, true]);
}

/** The account a `collect`-style target reads, as its checkpoints record it. */
const accountOf = (t: Target) => (t.api === 'v1' ? accountIdentity('v1', t.credentials.accessKey) : accountIdentity('v2', t.clientId));

/** The kinds of checkpoint a target's collector writes. */
const kindsOf = (t: Target): ApiCheckpointKind[] => (t.api === 'v1' ? ['mimecast-v1']
  : t.reads.map((read) => (read === 'stream' ? 'mimecast-v2-stream' : read === 'cg' || read === 'ci' ? 'mimecast-v2' : 'mimecast-v2-feed')));

const hasColumn = (db: Database.Database, table: string, column: string) =>
  (db.prepare(`SELECT count(*) FROM pragma_table_info('${table}') WHERE name = ?`).pluck().get(column) as number) > 0;

/**
 * Horizon headroom of each checkpoint in the store: how long the source may stay down before
 * Mimecast drops data it has not fetched (warn under `warnShare` of the horizon, FAIL past it).
 */
function horizonChecks(t: Target, db: string, warnShare: number, now = Date.now()): CheckResult[] {
  const check = `${t.label}: horizon`;
  if (!existsSync(db)) return [{ status: 'ok', check, seen: `no store at ${db} yet: the first run starts at the oldest data Mimecast keeps` }];
  const store = new Database(db, { readonly: true, fileMustExist: true });
  try {
    const read = store.prepare("SELECT source, updated_at FROM checkpoints WHERE source = ? OR (? = 0 AND substr(source, 1, length(?) + 1) = ? || ' ')");
    const byName = checkpointsOf(t).flatMap(([name, exact]) => read.all(name, exact ? 1 : 0, name, name) as { source: string; updated_at: number }[]);
    // `collect` may keep this account's checkpoints under another name (`--source-name`, another
    // spelling of the URL): the store marks each with the account, so look them up by it too.
    const byAccount = t.name !== undefined || !hasColumn(store, 'checkpoints', 'identity') ? []
      : store.prepare('SELECT source, updated_at FROM checkpoints WHERE identity = ? AND kind IN (SELECT value FROM json_each(?))')
        .all(accountOf(t), JSON.stringify(kindsOf(t))) as { source: string; updated_at: number }[];
    const rows = [...new Map([...byName, ...byAccount].map((r) => [r.source, r])).values()];
    if (rows.length === 0) return [{ status: 'ok', check, seen: `no checkpoint in ${db} yet: the first run starts at the oldest data Mimecast keeps` }];
    return rows.map((row) => {
      const horizon = horizonOf(row.source)!;
      const left = horizon.horizonMs - (now - row.updated_at);
      const seen = `${row.source}: last read ${hours(now - row.updated_at)} ago; ${horizon.feed} are kept ${hours(horizon.horizonMs)}, so ${hours(Math.max(0, left))} of headroom`;
      if (left <= 0) return { status: 'FAIL', check, seen, todo: 'data older than the horizon is gone at Mimecast: start the service now; the collector records the gap' };
      if (left < horizon.horizonMs * warnShare) return { status: 'warn', check, seen, todo: 'start the service soon, before the headroom runs out' };
      return { status: 'ok', check, seen };
    });
  } finally {
    store.close();
  }
}

const hours = (ms: number) => (ms < 7_200_000 ? `${Math.round(ms / 60_000)} min` : `${(ms / 3_600_000).toFixed(1)} h`);

/** What a `collect`-style source reads, from its options. */
function readsOf(o: { mode?: string; product?: string; feeds?: string }): string[] {
  if (o.feeds !== undefined) {
    const names = o.feeds.split(',').map((n) => n.trim()).filter(Boolean);
    return names.length === 1 && names[0] === 'all' ? FEEDS.map((f) => f.name) : names;
  }
  return [o.mode === 'stream' ? 'stream' : (o.product ?? 'cg')];
}

/** The targets of a `run` config's API sources, and the results of its place checks. */
async function fromConfig(file: string, timeoutMs: number): Promise<{ targets: Target[]; results: CheckResult[]; store?: string; warnShare?: number }> {
  try {
    const config = await checkConfig(file, process.env);
    const cluster = config.cluster ? await (await import('./doctor-cluster.js')).clusterChecks(config, timeoutMs, process.env) : [];
    const targets = config.sources.flatMap((s): Target[] => {
      if (s.kind === 'spool') return [];
      const label = s.name;
      if (s.kind === 'mimecast-v1') {
        const c = s.credentials;
        return [{ label, name: label, api: 'v1', baseUrl: s.url ?? V1_REGIONS[s.region!]!, credentials: { appId: c.app_id, appKey: c.app_key, accessKey: c.access_key, secretKey: c.secret_key } }];
      }
      const reads = s.kind === 'mimecast-v2-feeds' ? (s.feeds ?? FEEDS.map((f) => f.name)) : s.kind === 'mimecast-v2-stream' ? ['stream'] : [s.product];
      return [{ label, name: label, api: 'v2', baseUrl: s.url ?? V2_REGIONS[s.region!]!, clientId: s.credentials.client_id, clientSecret: s.credentials.client_secret, reads }];
    });
    return { targets, store: config.store, warnShare: config.horizon_warning_share, results: [{ status: 'ok', check: 'config', seen: `${file}: valid; store, spool paths and listen addresses usable` }, ...cluster] };
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    return { targets: [], results: err.problems.map((p) => ({ status: 'FAIL' as const, check: 'config', seen: p, todo: `fix ${file} (mimelog run --check ${file} lists the same)` })) };
  }
}

const MARK: Record<Status, string> = { ok: 'ok  ', warn: 'warn', FAIL: 'FAIL' };

function print(results: readonly CheckResult[], json: boolean): void {
  if (json) {
    process.stdout.write(`${JSON.stringify({ results })}\n`);
    return;
  }
  // What a check saw may be an engine's or a server's text (a hostile state index's marker): no control character reaches the terminal.
  for (const r of results) process.stdout.write(`${MARK[r.status]}  ${printable(r.check)}: ${printable(r.seen)}${r.todo ? `\n      → ${printable(r.todo)}` : ''}\n`);
}

interface DoctorOptions {
  config?: string;
  api: 'v1' | 'v2';
  url?: string;
  region?: string;
  mode: string;
  product: string;
  feeds?: string;
  json: boolean;
  timeout: number;
  db: string;
}

export function registerDoctor(program: Command): void {
  program
    .command('doctor')
    .description('check a Mimecast account against the real API before running: credentials, region, clock, rate limit, what the application may read')
    .option('--config <file>', 'check every source of this `mimelog run` config, and its store, spool paths and listen addresses')
    .addOption(new Option('--api <version>', 'without --config: API generation').choices(['v1', 'v2']).default('v1'))
    .option('--url <url>', 'API base URL; overrides --region')
    .option('--region <region>', `API host by region: v1 ${Object.keys(V1_REGIONS).join(', ')}; v2 ${Object.keys(V2_REGIONS).join(', ')}`)
    .addOption(new Option('--mode <mode>', 'v2: what the source reads: batch files or the stream').choices(['batch', 'stream']).default('batch'))
    .addOption(new Option('--product <product>', 'v2 batch: cg or ci').choices(['cg', 'ci']).default('cg'))
    .option('--feeds <list>', `v2: check these POST feeds instead: all, or a list of ${FEEDS.map((f) => f.name).join(', ')}`)
    .option('--db <path>', 'without --config: the store whose checkpoints give the horizon headroom', process.env[ENV.db] ?? 'mimelog.db')
    .option('--json', 'one JSON document for machines', false)
    // The settings table's per-request timeout, shorter by default: a check that waits two minutes helps nobody.
    .addOption(numberOption('timeout').default(DEFAULT_TIMEOUT_S))
    .addHelpText('after', '\nExit status: 0 every check ok, 2 warnings only, 1 any FAIL.\nCredentials come from the environment as for `collect` (or the config\'s sources).')
    .action(async (o: DoctorOptions) => {
      let targets: Target[];
      const results: CheckResult[] = [];
      let db = o.db;
      let warnShare = defaultOf(setting('horizonWarningShare'), 'cli') ?? 0.25;
      if (o.config !== undefined) {
        const fromFile = await fromConfig(o.config, o.timeout * 1000);
        targets = fromFile.targets;
        results.push(...fromFile.results);
        db = fromFile.store ?? db;
        warnShare = fromFile.warnShare ?? warnShare;
      } else {
        if (o.feeds !== undefined) for (const n of readsOf(o)) if (!feedNamed(n)) throw new UsageError(`unknown feed "${n}" in --feeds; known: all, ${FEEDS.map((f) => f.name).join(', ')}`);
        const source = resolveSource({ api: o.api, url: o.url, region: o.region } as CollectOptions, process.env);
        targets = [source.api === 'v1'
          ? { label: `mimecast-${source.api}`, api: 'v1', baseUrl: source.baseUrl, credentials: source.credentials }
          : { label: 'mimecast-v2', api: 'v2', baseUrl: source.baseUrl, clientId: source.clientId, clientSecret: source.clientSecret, reads: readsOf(o) }];
      }
      for (const t of targets) {
        results.push(...(t.api === 'v1' ? await checkV1(t, o.timeout * 1000) : await checkV2(t, o.timeout * 1000)));
        results.push(...horizonChecks(t, db, warnShare));
      }
      print(results, o.json);
      process.exitCode = results.some((r) => r.status === 'FAIL') ? EXIT.failure : results.some((r) => r.status === 'warn') ? EXIT.deadLettered : EXIT.ok;
    });
}
