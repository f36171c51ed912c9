/**
 * API 2.0 batch collection of a backlog whose gzip files hold ≥ 1 GiB of NDJSON: events/s and
 * the collector's peak RSS, which must stay bounded (under 300 MB) however large the files. The
 * simulator runs in its own process (its catalog of ~2M events needs a large heap; the
 * collector's does not).
 */
import { spawn } from 'node:child_process';
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import Database from 'better-sqlite3';
import { BENCH_DIR, BIN, type Row, rate } from './common.js';
import { peakRssMiB } from './collect.js';
import { EventReader, STORED_COLUMNS, type StoredRow } from '../src/store/event-rows.js';

interface SimInfo {
  url: string;
  events: number;
  files: number;
  v2Credentials: { clientId: string; clientSecret: string };
}

export async function benchCollectV2(events: number, eventsPerFile: number): Promise<{ rows: Row[]; results: Record<string, unknown> }> {
  const sim = spawn(process.execPath, ['--max-old-space-size=14000', BIN, 'simulate', '--seed', '3', '--events', String(events), '--events-per-file', String(eventsPerFile)], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const firstLine = await new Promise<string>((resolve, reject) => {
    createInterface({ input: sim.stdout! }).once('line', resolve);
    sim.once('exit', (code) => reject(new Error(`simulator exited ${code}`)));
  });
  const info = JSON.parse(firstLine) as SimInfo;
  const db = join(BENCH_DIR, `collect-v2-${events}.db`);
  for (const s of ['', '-wal', '-shm']) rmSync(db + s, { force: true });
  const env = { ...process.env, MIMECAST_CLIENT_ID: info.v2Credentials.clientId, MIMECAST_CLIENT_SECRET: info.v2Credentials.clientSecret };
  const t0 = Date.now();
  const child = spawn(process.execPath, [BIN, 'collect', '--api', 'v2', '--url', info.url, '--db', db, '--once', '--log-level', 'warn'], { env, stdio: 'inherit' });
  let peak = 0;
  const poll = setInterval(() => (peak = Math.max(peak, peakRssMiB(child.pid!))), 200);
  const code = await new Promise<number | null>((resolve) => child.on('exit', (c) => resolve(c)));
  clearInterval(poll);
  const ms = Date.now() - t0;
  sim.kill('SIGTERM');
  if (code !== 0) throw new Error(`collect --api v2 exited ${code}`);
  const d = new Database(db, { readonly: true });
  // Each stored event keeps its line (event.original): their bytes plus newlines are the NDJSON the files held.
  const reader = new EventReader(d);
  let stored = 0;
  let uncompressed = 0;
  for (const row of d.prepare(`SELECT ${STORED_COLUMNS} FROM events e`).all() as StoredRow[]) {
    stored++;
    uncompressed += Buffer.byteLength(reader.record(row).raw) + 1;
  }
  d.close();
  const results = {
    events: info.events, stored, files: info.files, uncompressed_mib: Math.round(uncompressed / 2 ** 20), events_per_s: rate(stored, ms), peak_rss_mib: peak,
  };
  return {
    results,
    rows: [
      { name: 'backlog', value: `${info.events.toLocaleString('en')} events in ${info.files} gzip files, ${results.uncompressed_mib.toLocaleString('en')} MiB of NDJSON uncompressed` },
      { name: 'collect --api v2 → sqlite', value: `${results.events_per_s.toLocaleString('en')} events/s (${stored.toLocaleString('en')} stored)` },
      { name: 'collector peak RSS', value: `${peak} MiB (bound: 300 MB)` },
    ],
  };
}
