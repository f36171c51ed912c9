/**
 * The API 2.0 POST feeds from the simulator into the embedded store: events/s per feed, all of
 * them at once, and Cloud Integrated's batch files, each next to the SIEM batch collection of a
 * similar number of events from the same simulator in the same run (the baseline), so the ratio
 * holds on a noisy machine.
 */
import { spawn } from 'node:child_process';
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { FEEDS } from '../src/mimecast/feeds.js';
import { MimecastSimulator } from '../src/simulator/server.js';
import { BENCH_DIR, BIN, type Row, rate } from './common.js';

async function collectInto(db: string, args: string[], env: NodeJS.ProcessEnv): Promise<{ ms: number; stored: number }> {
  for (const s of ['', '-wal', '-shm']) rmSync(db + s, { force: true });
  const t0 = Date.now();
  const child = spawn(process.execPath, [BIN, 'collect', '--api', 'v2', '--db', db, '--once', '--log-level', 'warn', ...args], { env: { ...process.env, ...env }, stdio: 'inherit' });
  const code = await new Promise<number | null>((resolve) => child.on('exit', (c) => resolve(c)));
  const ms = Date.now() - t0;
  if (code !== 0) throw new Error(`collect ${args.join(' ')} exited ${code}`);
  const d = new Database(db, { readonly: true });
  const { n } = d.prepare('SELECT count(*) AS n FROM events').get() as { n: number };
  d.close();
  return { ms, stored: n };
}

export async function benchFeeds(recordsPerFeed: number): Promise<{ rows: Row[]; results: Record<string, unknown> }> {
  // Cloud Integrated: about 2.15 records per message, so this many messages give about recordsPerFeed records.
  const ciMessages = Math.round(recordsPerFeed / 2.15);
  const sim = new MimecastSimulator({ seed: 11, events: recordsPerFeed, eventsPerFile: 2000, v2: { feeds: { records: recordsPerFeed }, cloudIntegrated: { messages: ciMessages, recordsPerFile: 2000 } } });
  const info = await sim.start();
  const env = { MIMECAST_CLIENT_ID: info.v2Credentials.clientId, MIMECAST_CLIENT_SECRET: info.v2Credentials.clientSecret };
  try {
    const baseline = await collectInto(join(BENCH_DIR, 'feeds-baseline.db'), ['--url', info.url], env);
    const baselineRate = rate(baseline.stored, baseline.ms);
    const perFeed: Record<string, { events_per_s: number; ratio: number; stored: number }> = {};
    for (const feed of FEEDS) {
      const run = await collectInto(join(BENCH_DIR, `feeds-${feed.name}.db`), ['--url', info.url, '--feeds', feed.name], env);
      const r = rate(run.stored, run.ms);
      perFeed[feed.name] = { events_per_s: r, ratio: Math.round((r / baselineRate) * 100) / 100, stored: run.stored };
    }
    // Cloud Integrated's batch files, through the same collector as the baseline's.
    const ci = await collectInto(join(BENCH_DIR, 'feeds-cloud-integrated.db'), ['--url', info.url, '--product', 'ci'], env);
    const ciRate = rate(ci.stored, ci.ms);
    perFeed['cloud-integrated (batch)'] = { events_per_s: ciRate, ratio: Math.round((ciRate / baselineRate) * 100) / 100, stored: ci.stored };
    // Every feed at once, --concurrency 3 (the default).
    const all = await collectInto(join(BENCH_DIR, 'feeds-all.db'), ['--url', info.url, '--feeds', 'all'], env);
    const allRate = rate(all.stored, all.ms);
    perFeed['all POST feeds at once'] = { events_per_s: allRate, ratio: Math.round((allRate / baselineRate) * 100) / 100, stored: all.stored };
    return {
      results: { records_per_feed: recordsPerFeed, siem_batch_events_per_s: baselineRate, feeds: perFeed },
      rows: [
        { name: 'SIEM batch (baseline)', value: `${baselineRate.toLocaleString('en')} events/s (${baseline.stored.toLocaleString('en')} events)` },
        ...Object.entries(perFeed).map(([name, f]) => ({ name, value: `${f.events_per_s.toLocaleString('en')} events/s, ${f.ratio}× the baseline (${f.stored.toLocaleString('en')} records)` })),
      ],
    };
  } finally {
    await sim.stop();
  }
}
