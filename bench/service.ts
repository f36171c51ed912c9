/**
 * The service (`mimelog run`, the real process) over three sources (API 1.0, API 2.0 batch, API
 * 2.0 stream), each its own simulator in this process: (1) a backlog, collected with `--once`,
 * its peak RSS (VmHWM, worker threads included) and events/s; (2) a soak of 24 simulated hours:
 * the simulators' clock moves one hour per step while the service polls, and the service's RSS
 * is sampled each step, so the first hour can be set beside the last. The backlog also says which
 * thread held the memory (bench/thread-memory.ts: each thread's peak heap, young generation and
 * external memory).
 *
 * BENCH_SERVICE_COMPARE=PATH[,PATH]: other builds' bin/mimelog run the same backlog after this
 * build's (before/after a change: the throughput as a ratio within one run). BENCH_SOAK_HOURS
 * (24): 0 skips the soak.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdirSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { setTimeout as sleep } from 'node:timers/promises';
import { MimecastSimulator, type SimulatorOptions } from '../src/simulator/server.js';
import { BENCH_DIR, BIN, type Row, START_MS, rate } from './common.js';
import type { ThreadMemory } from './thread-memory.js';

const HOUR = 3_600_000;
const SOAK_HOURS = Number(process.env.BENCH_SOAK_HOURS ?? 24);
const THREAD_MEMORY = fileURLToPath(new URL('./thread-memory.js', import.meta.url));

function procStatus(pid: number, field: 'VmHWM' | 'VmRSS'): number {
  try {
    const m = new RegExp(`${field}:\\s+(\\d+) kB`).exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Math.round(Number(m[1]) / 1024) : 0;
  } catch {
    return 0;
  }
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address() as { port: number };
      s.close(() => resolve(port));
    });
    s.on('error', reject);
  });
}

interface Sims {
  readonly v1: MimecastSimulator;
  readonly batch: MimecastSimulator;
  readonly stream: MimecastSimulator;
  readonly events: number;
}

/** One API 2.0 source of the bench's config, reading simulator `info`. */
function v2Source(name: string, kind: string, info: { url: string; v2Credentials: { clientId: string; clientSecret: string } }): string {
  return `  - name: ${name}
    kind: ${kind}
    url: ${info.url}
    credentials:
      client_id: ${info.v2Credentials.clientId}
      client_secret: ${info.v2Credentials.clientSecret}
`;
}

async function startSims(perSource: number, extra: Partial<SimulatorOptions>): Promise<Sims & { urls: string[]; config: (db: string, port: number) => string }> {
  const v1 = new MimecastSimulator({ seed: 501, events: perSource, eventsPerFile: 2000, startMs: START_MS, ...extra });
  const batch = new MimecastSimulator({ seed: 502, events: perSource, eventsPerFile: 2000, startMs: START_MS, ...extra });
  const stream = new MimecastSimulator({ seed: 503, events: perSource, eventsPerFile: 2000, startMs: START_MS, ...extra });
  const [i1, ib, is] = [await v1.start(), await batch.start(), await stream.start()];
  const poll = '    poll_interval_s: 1\n    retry_base_ms: 50\n    retry_max_ms: 1000\n';
  const config = (db: string, port: number) => `store: ${db}
listen: 127.0.0.1:${port}
log_level: warn
sources:
  - name: v1
    kind: mimecast-v1
    url: ${i1.url}
    credentials:
      app_id: ${i1.credentials.appId}
      app_key: ${i1.credentials.appKey}
      access_key: ${i1.credentials.accessKey}
      secret_key: ${i1.credentials.secretKey}
${poll}${v2Source('batch', 'mimecast-v2-batch', ib)}${poll}${v2Source('stream', 'mimecast-v2-stream', is)}    page_size: 500
${poll}`;
  return { v1, batch, stream, events: i1.events + ib.events + is.events, urls: [i1.url, ib.url, is.url], config };
}

async function stopSims(s: Sims): Promise<void> {
  for (const sim of [s.v1, s.batch, s.stream]) await sim.stop();
}

function freshDb(name: string): string {
  const db = join(BENCH_DIR, name);
  for (const suffix of ['', '-wal', '-shm']) rmSync(db + suffix, { force: true });
  return db;
}

function startService(configText: string, name: string, once: boolean, bin = BIN, memoryDir?: string): ChildProcess {
  const file = join(BENCH_DIR, `${name}.yaml`);
  writeFileSync(file, configText, { mode: 0o600 });
  const preload = memoryDir ? ['--import', THREAD_MEMORY] : [];
  const env = memoryDir ? { ...process.env, MIMELOG_BENCH_MEMORY_DIR: memoryDir } : process.env;
  return spawn(process.execPath, [...preload, bin, 'run', '--config', file, ...(once ? ['--once'] : [])], { stdio: ['ignore', 'ignore', 'inherit'], env });
}

/** Each thread's peaks as bench/thread-memory.ts wrote them: the main thread first. */
function threadPeaks(dir: string): ThreadMemory[] {
  const peaks = readdirSync(dir).map((f) => JSON.parse(readFileSync(join(dir, f), 'utf8')) as ThreadMemory);
  return peaks.sort((a, b) => Number(b.main) - Number(a.main));
}

function threadText(t: ThreadMemory): string {
  return `${t.main ? 'main' : 'worker'}: heap ${t.heap_total} (young ${t.young}, old ${t.old}), external ${t.external}`;
}

function exited(child: ChildProcess): Promise<number | null> {
  return new Promise((resolve) => child.on('exit', (code) => resolve(code)));
}

/** Events the store holds (a read-only look while the service writes). */
async function storedEvents(db: string): Promise<number> {
  const { default: Database } = await import('better-sqlite3');
  const d = new Database(db, { readonly: true });
  try {
    return (d.prepare('SELECT count(*) AS n FROM events').get() as { n: number }).n;
  } finally {
    d.close();
  }
}

interface Backlog {
  readonly events: number;
  readonly stored: number;
  readonly ms: number;
  readonly events_per_s: number;
  readonly peak_rss_mib: number;
  /** Each thread's peaks (MiB), the main thread first. */
  readonly threads: ThreadMemory[];
}

async function backlog(total: number, bin = BIN): Promise<Backlog> {
  const sims = await startSims(Math.round(total / 3), {});
  const db = freshDb('service-backlog.db');
  const memoryDir = join(BENCH_DIR, 'service-backlog-memory');
  rmSync(memoryDir, { recursive: true, force: true });
  mkdirSync(memoryDir);
  const t0 = Date.now();
  const child = startService(sims.config(db, await freePort()), 'service-backlog', true, bin, memoryDir);
  let peak = 0;
  const poll = setInterval(() => (peak = Math.max(peak, procStatus(child.pid!, 'VmHWM'))), 250);
  const code = await exited(child);
  clearInterval(poll);
  const ms = Date.now() - t0;
  await stopSims(sims);
  if (code !== 0) throw new Error(`${bin} run --once exited ${code}`);
  const stored = await storedEvents(db);
  return { events: sims.events, stored, ms, events_per_s: rate(stored, ms), peak_rss_mib: peak, threads: threadPeaks(memoryDir) };
}

/**
 * 24 simulated hours at `perDay` events a day over the three sources: the clock starts at the
 * first event and moves an hour per step; RSS is sampled at the end of each step.
 */
async function soak(perDay: number, stepMs: number): Promise<{ samples: number[]; stored: number; events: number; peak: number }> {
  const perSource = Math.round(perDay / 3);
  // About 3.3 events per generated email: spacing that spreads perSource events over a day.
  const spacingMs = Math.round((24 * HOUR * 3.3) / perSource / 2) * 2;
  const sims = await startSims(perSource, { spacingMs, clockMs: START_MS, fileRetentionMs: 7 * 24 * HOUR });
  const db = freshDb('service-soak.db');
  const child = startService(sims.config(db, await freePort()), 'service-soak', false);
  const samples: number[] = [];
  for (let hour = 1; hour <= SOAK_HOURS; hour++) {
    for (const sim of [sims.v1, sims.batch, sims.stream]) sim.advanceClock(HOUR);
    await sleep(stepMs);
    samples.push(procStatus(child.pid!, 'VmRSS'));
  }
  await sleep(stepMs);
  const peak = procStatus(child.pid!, 'VmHWM');
  child.kill('SIGTERM');
  await exited(child);
  await stopSims(sims);
  return { samples, stored: await storedEvents(db), events: sims.events, peak };
}

export async function benchService(total: number, soakPerDay: number): Promise<{ rows: Row[]; results: Record<string, unknown> }> {
  const b = await backlog(total);
  const compared: Record<string, Backlog> = {};
  for (const bin of process.env.BENCH_SERVICE_COMPARE?.split(',') ?? []) compared[bin] = await backlog(total, bin);
  const rows: Row[] = [
    { name: 'backlog, three sources (API 1.0, 2.0 batch, 2.0 stream)', value: `${b.stored.toLocaleString('en')} of ${b.events.toLocaleString('en')} events stored, ${b.events_per_s.toLocaleString('en')} events/s, peak RSS ${b.peak_rss_mib} MiB (goal < 300)` },
    { name: 'backlog, peak per thread (MiB)', value: b.threads.map(threadText).join('; ') },
    ...Object.entries(compared).map(([bin, c]) => ({
      name: `backlog with ${bin}`,
      value: `${c.stored.toLocaleString('en')} stored, ${c.events_per_s.toLocaleString('en')} events/s (this build: ${(b.events_per_s / c.events_per_s).toFixed(2)}×), peak RSS ${c.peak_rss_mib} MiB; ${c.threads.map(threadText).join('; ')}`,
    })),
  ];
  const results: Record<string, unknown> = { backlog: b, ...(Object.keys(compared).length > 0 ? { compared } : {}) };
  if (SOAK_HOURS === 0) return { rows, results };
  const s = await soak(soakPerDay, Number(process.env.BENCH_SOAK_STEP_MS ?? 3000));
  const first = s.samples[0]!;
  const last = s.samples.at(-1)!;
  results.soak = { per_day: soakPerDay, events_served: s.events, stored: s.stored, rss_mib_per_hour: s.samples, first_hour_mib: first, last_hour_mib: last, peak_rss_mib: s.peak };
  rows.push(
    { name: `soak, ${SOAK_HOURS} simulated hours (${soakPerDay.toLocaleString('en')} events/day)`, value: `${s.stored.toLocaleString('en')} stored; RSS first hour ${first} MiB, last hour ${last} MiB, peak ${s.peak} MiB` },
    { name: 'soak RSS per simulated hour (MiB)', value: s.samples.join(' ') },
  );
  return { results, rows };
}
