/** Shared benchmark helpers: timing, generated corpora on disk, result printing. */
import { execFileSync } from 'node:child_process';
import { createWriteStream, existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { generateEvents, type GeneratedEvent } from '../src/simulator/generate.js';
import type Database from 'better-sqlite3';
import { type EventRow, EventReader, STORED_COLUMNS, type StoredRow } from '../src/store/event-rows.js';

export const BENCH_DIR = fileURLToPath(new URL('../../.bench/', import.meta.url));
export const BIN = fileURLToPath(new URL('../../bin/mimelog', import.meta.url));
mkdirSync(BENCH_DIR, { recursive: true });

export const START_MS = Date.UTC(2026, 10, 1);

export function time<T>(fn: () => T): { ms: number; value: T } {
  const t0 = process.hrtime.bigint();
  const value = fn();
  return { ms: Number(process.hrtime.bigint() - t0) / 1e6, value };
}

export async function timeAsync<T>(fn: () => Promise<T>): Promise<{ ms: number; value: T }> {
  const t0 = process.hrtime.bigint();
  const value = await fn();
  return { ms: Number(process.hrtime.bigint() - t0) / 1e6, value };
}

/** Runs `mimelog ARGS` to completion; returns its wall time in ms. */
export function runMimelog(args: string[]): number {
  const t0 = Date.now();
  execFileSync(process.execPath, [BIN, ...args], { stdio: ['ignore', 'ignore', 'inherit'], maxBuffer: 1 << 20 });
  return Date.now() - t0;
}

export function rate(count: number, ms: number): number {
  return Math.round((count / ms) * 1000);
}

/** Writes `count` generated events to a file once (cached by name), in the given shape. */
export async function corpusFile(name: string, count: number, write: (e: GeneratedEvent, i: number) => string): Promise<string> {
  const path = join(BENCH_DIR, name);
  if (existsSync(path)) return path;
  const out = createWriteStream(`${path}.tmp`);
  let i = 0;
  let buf = '';
  for (const e of generateEvents({ seed: 2026, startMs: START_MS })) {
    if (i >= count) break;
    buf += `${write(e, i++)}\n`;
    if (buf.length > 1 << 20) {
      if (!out.write(buf)) await new Promise<void>((r) => out.once('drain', () => r()));
      buf = '';
    }
  }
  out.end(buf);
  await new Promise<void>((r) => out.on('finish', () => r()));
  const { renameSync } = await import('node:fs');
  renameSync(`${path}.tmp`, path);
  return path;
}

export interface Row {
  readonly name: string;
  readonly value: string;
}

export function printTable(title: string, rows: readonly Row[]): void {
  const width = Math.max(...rows.map((r) => r.name.length));
  process.stdout.write(`\n## ${title}\n`);
  for (const r of rows) process.stdout.write(`  ${r.name.padEnd(width)}  ${r.value}\n`);
}

const RSS_CHILD = fileURLToPath(new URL('./rss-child.js', import.meta.url));

/** What rss-child.js reports: the whole ingest pipeline over one file, in its own process. */
export interface ChildRun {
  readonly events: number;
  readonly ms: number;
  readonly maxRssMiB: number;
}

/** Ingests `file` to /dev/null in a fresh process (`workers` threads process records) and returns its event count, time and peak RSS. */
export function ingestInChild(file: string, workers = 1): ChildRun {
  return JSON.parse(execFileSync(process.execPath, [RSS_CHILD, String(workers), file], { encoding: 'utf8', maxBuffer: 1 << 20 })) as ChildRun;
}

/** Every `every`-th stored event of one log type (at most `limit`), as the store returns events. */
export function sampleEvents(db: Database.Database, logType: string, every: number, limit: number): EventRow[] {
  const rows = db.prepare(`SELECT ${STORED_COLUMNS} FROM events e WHERE e.type = (SELECT code FROM names WHERE name = ?) AND e.rowid % ? = 0 LIMIT ?`).all(logType, every, limit) as StoredRow[];
  return new EventReader(db).rows(rows);
}
