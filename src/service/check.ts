/**
 * `run --check`: every problem of a config file in one pass: what the schema finds (duplicate
 * names, a source without url or region, ...) and the places the service would use but cannot:
 * the store's directory, each spool's path, the listen addresses.
 */
import { accessSync, constants, statSync } from 'node:fs';
import { createServer } from 'node:net';
import { dirname, resolve } from 'node:path';
import { ConfigError } from '../util/errors.js';
import { parseListen } from '../util/listen.js';
import { type ServiceConfig, loadConfig } from './config.js';

/** The config as written (expanded), read leniently: the schema reports its shape problems. */
interface Written {
  readonly store?: unknown;
  readonly listen?: unknown;
  readonly console?: { readonly listen?: unknown };
  readonly sources?: readonly { readonly kind?: unknown; readonly path?: unknown }[];
}

const DEFAULT_STORE = 'mimelog.db';
const DEFAULT_LISTEN = '127.0.0.1:9464';

/** Why `path` cannot be a directory to read from, or undefined. */
function directoryProblem(path: string): string | undefined {
  try {
    return statSync(path).isDirectory() ? undefined : 'is not a directory';
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'ENOENT' ? 'does not exist' : (err as Error).message;
  }
}

/** Why the store cannot be opened there: its directory missing or not writable, or the path not a file. */
function storeProblem(store: string): string | undefined {
  const dir = dirname(resolve(store));
  const problem = directoryProblem(dir);
  if (problem) return `store: ${store}: its directory ${dir} ${problem}`;
  try {
    accessSync(dir, constants.W_OK | constants.X_OK);
  } catch {
    return `store: ${store}: cannot write in its directory ${dir} (the store writes its file and journal there)`;
  }
  try {
    if (!statSync(store).isFile()) return `store: ${store} exists and is not a file`;
  } catch {
    // not there yet: the service creates it
  }
  return undefined;
}

/** The places of the file (sync): store directory and spool paths. */
function placeProblems(expanded: unknown): string[] {
  const w = (expanded ?? {}) as Written;
  const store = w.store === undefined ? DEFAULT_STORE : w.store;
  const problems = typeof store === 'string' && store !== '' ? [storeProblem(store)] : [];
  (Array.isArray(w.sources) ? w.sources : []).forEach((s, i) => {
    const problem = s?.kind === 'spool' && typeof s.path === 'string' && s.path !== '' ? directoryProblem(s.path) : undefined;
    if (problem) problems.push(`sources[${i}].path: ${s.path} ${problem}`);
  });
  return problems.filter((p): p is string => p !== undefined);
}

/** Why nothing can listen at `text` now (in use, not an address of this machine, not allowed), or undefined. */
async function listenProblem(key: string, text: string): Promise<string | undefined> {
  const at = parseListen(text);
  if (!at) return undefined; // the schema says so
  const server = createServer();
  const failure = await new Promise<NodeJS.ErrnoException | undefined>((done) => {
    server.once('error', done);
    server.listen({ host: at.host, port: at.port, exclusive: true }, () => done(undefined));
  });
  if (!failure) {
    await new Promise<void>((done) => server.close(() => done()));
    return undefined;
  }
  const why = failure.code === 'EADDRINUSE' ? 'the port is in use (by another program, or this service already running)'
    : failure.code === 'EADDRNOTAVAIL' ? 'not an address of this machine'
    : failure.code === 'EACCES' ? 'not allowed (a port under 1024 needs privileges)'
    : failure.code === 'ENOTFOUND' || failure.code === 'EAI_AGAIN' ? 'the host name does not resolve'
    : failure.message;
  return `${key}: cannot listen on ${text}: ${why}`;
}

/** Loads the file and checks its places; throws one ConfigError with every problem found. */
export async function checkConfig(file: string, env: NodeJS.ProcessEnv): Promise<ServiceConfig> {
  let written: Written | undefined;
  let config: ServiceConfig | undefined;
  const problems: string[] = [];
  try {
    config = loadConfig(file, env, (expanded) => {
      written = (expanded ?? {}) as Written;
      return placeProblems(expanded);
    });
  } catch (err) {
    if (!(err instanceof ConfigError) || written === undefined) throw err; // unreadable or not YAML: nothing more to check
    problems.push(...err.problems);
  }
  const listens: [string, unknown][] = [['listen', written!.listen ?? DEFAULT_LISTEN], ['console.listen', written!.console?.listen]];
  for (const [key, text] of listens) {
    const problem = typeof text === 'string' ? await listenProblem(key, text) : undefined;
    if (problem) problems.push(problem);
  }
  if (problems.length > 0 || config === undefined) throw new ConfigError(file, problems);
  return config;
}
