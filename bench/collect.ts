/**
 * API 1.0 collection from the simulator: events/s and files/s for a backlog, and the collector's
 * peak RSS (VmHWM of the process, worker thread included), which must stay bounded.
 */
import { spawn } from 'node:child_process';
import { readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { MimecastSimulator } from '../src/simulator/server.js';
import { BENCH_DIR, BIN, type Row, rate } from './common.js';

export function peakRssMiB(pid: number): number {
  try {
    const m = /VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Math.round(Number(m[1]) / 1024) : 0;
  } catch {
    return 0;
  }
}

export async function benchCollect(events: number): Promise<{ rows: Row[]; results: Record<string, unknown> }> {
  const sim = new MimecastSimulator({ seed: 1, events, eventsPerFile: 2000 });
  const info = await sim.start();
  const db = join(BENCH_DIR, `collect-${events}.db`);
  for (const s of ['', '-wal', '-shm']) rmSync(db + s, { force: true });
  const c = info.credentials;
  const env = { ...process.env, MIMECAST_APP_ID: c.appId, MIMECAST_APP_KEY: c.appKey, MIMECAST_ACCESS_KEY: c.accessKey, MIMECAST_SECRET_KEY: c.secretKey };
  const t0 = Date.now();
  const child = spawn(process.execPath, [BIN, 'collect', '--url', info.url, '--db', db, '--once', '--log-level', 'warn'], { env, stdio: 'inherit' });
  let peak = 0;
  const poll = setInterval(() => (peak = Math.max(peak, peakRssMiB(child.pid!))), 200);
  const code = await new Promise<number | null>((resolve) => child.on('exit', (c) => resolve(c)));
  clearInterval(poll);
  const ms = Date.now() - t0;
  await sim.stop();
  if (code !== 0) throw new Error(`collect exited ${code}`);
  const results = { events: info.events, files: info.files, events_per_s: rate(info.events, ms), files_per_s: +((info.files / ms) * 1000).toFixed(1), peak_rss_mib: peak };
  return {
    results,
    rows: [
      { name: 'backlog', value: `${info.events.toLocaleString('en')} events in ${info.files} files (simulator in the bench process, same 2 cores)` },
      { name: 'collect → sqlite', value: `${results.events_per_s.toLocaleString('en')} events/s, ${results.files_per_s} files/s` },
      { name: 'collector peak RSS', value: `${peak} MiB` },
    ],
  };
}
