/** Test support: an in-process simulator on loopback and the collector CLI pointed at it. */
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { MimecastSimulator, type SimulatorInfo, type SimulatorOptions } from '../../src/simulator/server.js';
import { type RunResult, runCli, tempDir } from './helpers.js';
import { openWithEventsView } from './stored-events.js';

export interface Running {
  sim: MimecastSimulator;
  info: SimulatorInfo;
  env: NodeJS.ProcessEnv;
  dir: string;
}

export async function startSimulator(options: SimulatorOptions): Promise<Running> {
  const sim = new MimecastSimulator(options);
  const info = await sim.start();
  const c = info.credentials;
  const env = { MIMECAST_APP_ID: c.appId, MIMECAST_APP_KEY: c.appKey, MIMECAST_ACCESS_KEY: c.accessKey, MIMECAST_SECRET_KEY: c.secretKey };
  return { sim, info, env, dir: tempDir('sim') };
}

/** Runs `body` against a simulator started for it, and stops the simulator whatever happens. */
export async function withSimulator(options: SimulatorOptions, body: (r: Running) => Promise<void>): Promise<void> {
  const r = await startSimulator(options);
  try {
    await body(r);
  } finally {
    await r.sim.stop();
  }
}

/** Fast retry settings so fault tests finish quickly. */
export const FAST = ['--retry-base-ms', '20', '--retry-max-ms', '300', '--timeout', '5', '--once'];

export function collect(r: Running, db: string, extra: string[] = []): Promise<RunResult> {
  return runCli(['collect', '--url', r.info.url, '--db', db, ...FAST, ...extra], { env: r.env });
}

/** The expected event set: `simulate --write-expected` files ingested into their own store. */
export async function expectedIds(r: Running, format: 'key_value' | 'json' = 'key_value', skip: (name: string) => boolean = () => false): Promise<string[]> {
  const dir = join(r.dir, `expected-${format}`);
  r.sim.writeExpected(dir, format);
  const db = join(r.dir, `expected-${format}.db`);
  const { readdirSync, rmSync } = await import('node:fs');
  for (const f of readdirSync(dir)) if (skip(f)) rmSync(join(dir, f));
  const res = await runCli(['ingest', '--db', db, dir, '--summary', 'none']);
  if (res.code !== 0) throw new Error(`expected-set ingest failed: ${res.stderr}`);
  return storedIds(db);
}

export function storedIds(db: string): string[] {
  const d = new Database(db, { readonly: true });
  const ids = (d.prepare('SELECT lower(hex(id)) AS id FROM events ORDER BY id').all() as { id: string }[]).map((r) => r.id);
  d.close();
  return ids;
}

/** SQL over the store; events are in the view `stored_events` (see stored-events.ts). */
export function query<T>(db: string, sql: string, ...params: unknown[]): T[] {
  const d = openWithEventsView(db);
  const rows = d.prepare(sql).all(...params) as T[];
  d.close();
  return rows;
}

export function logLines(stderr: string): Record<string, any>[] {
  return stderr.split('\n').filter((l) => l.startsWith('{')).map((l) => JSON.parse(l));
}
