/** Test helpers: run the pipeline in-process on text, and run the CLI as a user would. */
import { spawn } from 'node:child_process';
import { type Server, createServer } from 'node:net';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, rmdirSync, writeFileSync } from 'node:fs';
import Database from 'better-sqlite3';
import { tmpdir } from 'node:os';
import { setTimeout as sleep } from 'node:timers/promises';
import { join } from 'node:path';
import { Rng } from '../../src/simulator/generate.js';
import { fileURLToPath } from 'node:url';
import { Classifier } from '../../src/classify/classify.js';
import { DEFAULT_TABLES, type TypeTables } from '../../src/classify/type-tables.js';
import { decodeBytes } from '../../src/decode/input.js';
import { decodeJsonLine, decodeKeyValueLine } from '../../src/decode/decode-record.js';
import type { DecodedRecord } from '../../src/decode/record.js';
import type { DecodeLimits } from '../../src/decode/limits.js';
import { EcsNormalizer } from '../../src/normalize/ecs.js';
import type { Unit } from '../../src/core/unit.js';
import { Transformer } from '../../src/pipeline/transform.js';

export const ROOT = fileURLToPath(new URL('../../../', import.meta.url));

const tempDirs: string[] = [];
// Each test file runs in its own process: what it created goes when that process ends.
process.on('exit', () => {
  for (const d of tempDirs) rmSync(d, { recursive: true, force: true });
});

/** A new folder under the system temp folder, removed when the test process exits. */
export function tempDir(prefix: string): string {
  const dir = mkdtempSync(join(tmpdir(), `mimelog-${prefix}-`));
  tempDirs.push(dir);
  return dir;
}
export const BIN = `${ROOT}bin/mimelog`;
export const SAMPLES = `${ROOT}samples/`;

export function kv(line: string): DecodedRecord {
  const r = decodeKeyValueLine(line);
  if (!r.ok) throw new Error(`decode failed: ${r.reason}`);
  return r.record;
}

export function json(line: string): DecodedRecord {
  const r = decodeJsonLine(line);
  if (!r.ok) throw new Error(`decode failed: ${r.reason}`);
  return r.record;
}

export function transformer(opts: { tables?: TypeTables; declared?: string; keepOriginal?: boolean } = {}): Transformer {
  return new Transformer(new Classifier(opts.tables ?? DEFAULT_TABLES), new EcsNormalizer({ keepOriginal: opts.keepOriginal ?? true }), opts.declared);
}

/** Runs one named input (bytes or text) through decode and transform, merging its units. */
export async function processInput(name: string, content: Buffer | string, t: Transformer = transformer(), limits?: DecodeLimits): Promise<Unit> {
  const merged: Unit = { source: name, events: [], deadLetters: [], position: 0, last: true };
  for await (const batch of decodeBytes(name, typeof content === 'string' ? Buffer.from(content) : content, { limits })) {
    const unit = t.process(batch);
    merged.events.push(...unit.events);
    merged.deadLetters.push(...unit.deadLetters);
  }
  return merged;
}

/** A spawned child's exit code and standard error, once it has closed. */
export function ended(child: ReturnType<typeof spawn>): Promise<{ code: number | null; stderr: string }> {
  let stderr = '';
  child.stderr!.on('data', (c: Buffer) => (stderr += c.toString()));
  return new Promise((resolve) => child.on('close', (code) => resolve({ code, stderr })));
}

export interface RunResult {
  code: number;
  stdout: string;
  stderr: string;
}

export function runCli(args: readonly string[], options: { stdin?: string | Buffer; cwd?: string; env?: NodeJS.ProcessEnv } = {}): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [BIN, ...args], { cwd: options.cwd ?? ROOT, env: { ...process.env, ...options.env } });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout.on('data', (c: Buffer) => out.push(c));
    child.stderr.on('data', (c: Buffer) => err.push(c));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code: code ?? -1, stdout: Buffer.concat(out).toString(), stderr: Buffer.concat(err).toString() }));
    child.stdin.end(options.stdin ?? '');
  });
}

export function lines(text: string): string[] {
  return text.split('\n').filter((l) => l.length > 0);
}

/**
 * Records a store (or a search sink's local state file) has committed: the sum of its outcome
 * counters, which move in the same transaction as each unit's checkpoint. 0 before the file or its
 * schema exists.
 */
export function committedCount(db: string): number {
  if (!existsSync(db)) return 0;
  try {
    const d = new Database(db, { readonly: true, fileMustExist: true });
    try {
      const row = d.prepare("SELECT coalesce(sum(value), 0) AS n FROM counters WHERE name IN ('stored', 'indexed', 'duplicates', 'collisions', 'deadLetters')").get() as { n: number };
      return row.n;
    } finally {
      d.close();
    }
  } catch {
    return 0; // not created yet, or the schema is still being written
  }
}

/**
 * Runs `mimelog ARGS` again and again and kills each run with SIGKILL while it delivers: once the
 * store's counters show that this run committed something, after a further random delay. The
 * delay adapts so that a run commits about `total / (2 * kills)` records, so the kills land before
 * the work is done on a fast machine and each run still gets somewhere on a slow one, with no
 * clean run to time them. Returns the kills landed: fewer when a run finished by itself.
 */
export async function killWhileDelivering(args: readonly string[], o: { kills: number; db: string; total: number; seed: number; env?: NodeJS.ProcessEnv }): Promise<number> {
  const rng = new Rng(o.seed);
  const budget = Math.max(1, Math.floor(o.total / (2 * o.kills)));
  // Short delays: a run's cost is mostly its start, and the final run does the rest of the work.
  let maxDelayMs = 100;
  let kills = 0;
  while (kills < o.kills) {
    const before = committedCount(o.db);
    const child = spawn(process.execPath, [BIN, ...args], { env: { ...process.env, ...o.env }, stdio: 'ignore' });
    const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
    const done = () => child.exitCode !== null || child.signalCode !== null;
    const deadline = Date.now() + 120_000;
    while (!done() && committedCount(o.db) === before) {
      if (Date.now() > deadline) {
        child.kill('SIGKILL');
        await exited;
        throw new Error(`mimelog ${args[0]} committed nothing in 120 s`);
      }
      await Promise.race([exited, sleep(20)]);
    }
    if (done()) break; // finished by itself: the kills so far are all that landed
    await Promise.race([exited, sleep(rng.int(0, maxDelayMs))]);
    child.kill('SIGKILL');
    await exited;
    if (child.signalCode !== 'SIGKILL') break; // it finished by itself during the delay
    kills++;
    const gained = committedCount(o.db) - before;
    maxDelayMs = gained > budget ? Math.floor(maxDelayMs / 2) : Math.min(400, Math.round(maxDelayMs * 1.5) + 10);
  }
  return kills;
}

/**
 * Ports a test names before something binds them (a JVM, rsyslogd, a node killed and started again
 * on its port) come from below the kernel's ephemeral range, where listen(0) and connect() never
 * hand one out, and each is reserved for this process by a file made with O_EXCL, so the test files
 * running at once never pick the same one. (A port listen(0) had given and closed could be given to
 * another process again before it was bound.) The files go when this process exits.
 */
const PORT_DIR = join(tmpdir(), 'mimelog-test-ports');
const LOWEST_PORT = 10_000;
const reservedPorts: string[] = [];
process.on('exit', () => {
  for (const f of reservedPorts) rmSync(f, { force: true });
  // The folder too, once no test process holds a port in it (another may be reserving: it makes it again).
  if (reservedPorts.length > 0) {
    try {
      rmdirSync(PORT_DIR);
    } catch {
      // not empty, or gone: another test process still holds a port, or removed it first
    }
  }
});

/** The first port of the kernel's ephemeral range (listen(0) and connect() take theirs from there). */
function ephemeralLow(): number {
  try {
    return Number(readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8').trim().split(/\s+/)[0]);
  } catch {
    return 32_768;
  }
}

/** Reserves `port` for this process; false when a test process (live or not) holds it. */
function reservePort(port: number): boolean {
  const file = join(PORT_DIR, String(port));
  for (let attempt = 0; ; attempt++) {
    try {
      writeFileSync(file, `${process.pid}\n`, { flag: 'wx' });
      break;
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code === 'EEXIST') return false; // never taken over: two could take the same stale one
      if (code !== 'ENOENT' || attempt > 0) throw err;
      mkdirSync(PORT_DIR, { recursive: true }); // the last other holder removed the folder meanwhile
    }
  }
  reservedPorts.push(file);
  return true;
}

/** Whether nothing listens on `port` now (a process outside the tests may). */
function bindable(port: number): Promise<boolean> {
  const srv = createServer();
  return new Promise((resolve) => {
    srv.once('error', () => resolve(false)).listen(port, '127.0.0.1', () => srv.close(() => resolve(true)));
  });
}

/** `n` distinct loopback ports nobody listens on now, and no other test process will pick. */
export async function freePorts(n: number): Promise<number[]> {
  const top = ephemeralLow() - 1;
  if (top - LOWEST_PORT < 1_000) return ephemeralPorts(n); // no room below the range: as before
  mkdirSync(PORT_DIR, { recursive: true });
  const ports: number[] = [];
  while (ports.length < n) {
    const port = LOWEST_PORT + Math.floor(Math.random() * (top - LOWEST_PORT + 1));
    if (reservePort(port) && (await bindable(port))) ports.push(port); // one in use stays reserved, unused
  }
  return ports;
}

/** `n` distinct ports listen(0) gives: all held open at once, so none is handed out twice. */
async function ephemeralPorts(n: number): Promise<number[]> {
  const servers: Server[] = [];
  for (let i = 0; i < n; i++) {
    const srv = createServer();
    await new Promise<void>((resolve, reject) => srv.once('error', reject).listen(0, '127.0.0.1', resolve));
    servers.push(srv);
  }
  const ports = servers.map((s) => (s.address() as { port: number }).port);
  await Promise.all(servers.map((s) => new Promise((resolve) => s.close(resolve))));
  return ports;
}

/** One loopback port nobody listens on now. */
export async function freePort(): Promise<number> {
  return (await freePorts(1))[0]!;
}

/** Starts `server` on a free loopback port; returns its `http://127.0.0.1:PORT` address. */
export async function listenOnLoopback(server: Server): Promise<string> {
  await new Promise<void>((resolve, reject) => server.once('error', reject).listen(0, '127.0.0.1', resolve));
  return `http://127.0.0.1:${(server.address() as { port: number }).port}`;
}

/** Closes a test server at once: its kept-alive connections too (an HTTP server's close() waits for them). */
export function closeNow(server: Server & { closeAllConnections?: () => void }): void {
  server.closeAllConnections?.();
  server.close();
}
