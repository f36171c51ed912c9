/** `mimelog console`: serves the web console over the embedded store until stopped. */
import type { Command } from 'commander';
import { replayDeadLetters } from '../pipeline/replay.js';
import { Store } from '../store/store.js';
import { ENV, secretsIn } from '../config/env.js';
import { SECRETS } from '../util/secrets.js';
import { type ListenAddress, isLoopback, parseListen } from '../util/listen.js';
import { UsageError } from '../util/errors.js';
import { UnreadableFile, readSmallFile, readableByOthers } from '../config/read-file.js';
import { addDbOption, buildTransformer } from './ingest.js';

interface ConsoleCliOptions {
  db: string;
  listen: string;
  tokenFile?: string;
  requireToken?: boolean;
  allowWrites?: boolean;
  config?: string;
}

/** `--listen` (or a config's `listen`) as an address, or a usage error that shows the form. */
export function listenAddress(text: string, flag = '--listen'): ListenAddress {
  const at = parseListen(text);
  if (!at) throw new UsageError(`${flag} must be host:port (e.g. 127.0.0.1:8080 or [::1]:8080), not ${JSON.stringify(text)}`);
  return at;
}

const MAX_TOKEN_BYTES = 64 * 1024;

/** The token from its file (owner-only, like every secret mimelog reads) or the environment. */
function readToken(o: ConsoleCliOptions): string | undefined {
  if (o.tokenFile !== undefined) {
    let read;
    try {
      read = readSmallFile(o.tokenFile, MAX_TOKEN_BYTES); // a regular file only: a FIFO named here would hang the command
    } catch (err) {
      if (err instanceof UnreadableFile) throw new UsageError(`--token-file ${o.tokenFile}: ${err.message}`);
      throw err;
    }
    if (readableByOthers(read.mode)) throw new UsageError(`--token-file ${o.tokenFile} is readable by others: run chmod 600 ${o.tokenFile}`);
    const token = read.text.trim();
    if (token.length < 16) throw new UsageError(`--token-file ${o.tokenFile}: the token must be at least 16 characters`);
    return token;
  }
  const fromEnv = process.env[ENV.consoleToken]?.trim();
  if (fromEnv !== undefined && fromEnv !== '' && fromEnv.length < 16) throw new UsageError(`${ENV.consoleToken}: the token must be at least 16 characters`);
  return fromEnv || undefined;
}

export function registerConsole(program: Command): void {
  addDbOption(program.command('console').description('a web console over the embedded store: completeness, search, message trace, who else received it, threats, dead letters'))
    .option('--listen <host:port>', 'where to listen; an address other than loopback needs a token', '127.0.0.1:8080')
    .option('--token-file <path>', `a file (mode 600) holding the access token the console asks for; env ${ENV.consoleToken}`)
    .option('--require-token', 'refuse to start without a token, on loopback too (a loopback console without one is open to every local user)')
    .option('--allow-writes', 'let the console replay dead letters (read-only otherwise)')
    .option('--config <file>', "a run config with cluster:: the overview's sources, counts, checkpoints and dead-letter counts come from the state index (every replica's); search, trace and who stay on --db")
    .action(async (o: ConsoleCliOptions) => {
      const { host, port } = listenAddress(o.listen);
      const loopback = isLoopback(host);
      const token = readToken(o);
      // A console run beside the collectors may serve records that hold one of their secrets: masked in every answer.
      SECRETS.add(...secretsIn(process.env), token);
      if (!loopback && token === undefined) {
        throw new UsageError(`--listen ${o.listen} is reachable from other machines: give the console a token (--token-file or ${ENV.consoleToken})`);
      }
      if (o.requireToken && token === undefined) {
        throw new UsageError(`--require-token: no token given (--token-file or ${ENV.consoleToken})`);
      }
      let store: Store;
      try {
        store = new Store(o.db, { readonly: !o.allowWrites });
      } catch (err) {
        throw new UsageError((err as Error).message);
      }
      const replay = o.allowWrites ? () => replayDeadLetters(store, buildTransformer({ original: true }).transformer) : undefined;
      const { startConsole } = await import('../console/server.js'); // heavy to load: only this command needs it
      const engine = o.config === undefined ? undefined : await (await import('./cluster-books.js')).openClusterBooks(o.config, process.env);
      const cluster = engine && (async () => (await import('../cluster/books-report.js')).clusterStats(engine.books));
      const running = await startConsole({ store, token, replay, host, port, loopback, cluster });
      process.stderr.write(`mimelog console: ${running.url} (${o.allowWrites ? 'replay allowed' : 'read-only'}${token ? ', token required' : ''}; store ${o.db})\n`);
      await new Promise<void>((resolve) => {
        const stop = () => resolve();
        process.once('SIGINT', stop);
        process.once('SIGTERM', stop);
      });
      await running.close();
      await engine?.close();
      store.close();
    });
}
