/**
 * Embedded store: sustained ingest of ≥1M events into SQLite next to the bare pipeline-to-NDJSON
 * rate of the same file in the same run; search and trace latency on that store; size per 1M events.
 */
import { spawn } from 'node:child_process';
import { copyFileSync, rmSync, statSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { join } from 'node:path';
import { search } from '../src/store/queries.js';
import { retain } from '../src/store/retention.js';
import { Store } from '../src/store/store.js';
import { trace } from '../src/store/trace.js';
import { toKeyValueLine } from '../src/simulator/generate.js';
import { BENCH_DIR, type Row, corpusFile, rate, runMimelog as run, sampleEvents, time } from './common.js';

function percentile(values: number[], p: number): number {
  const s = [...values].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))]!;
}

/**
 * One retention pass removing the store's oldest day, on a copy (the store stays for the other
 * benches), while another process writes units of 100 events into it as a collector does: its
 * slowest write is the longest stall retention caused.
 */
async function benchRetention(db: string): Promise<{ events_removed: number; seconds: number; events_per_s: number; longest_batch_ms: number; longest_ingest_write_ms: number; ingest_written: number; mib_before: number; mib_after: number }> {
  const copy = `${db}.retain`;
  for (const suffix of ['', '-wal', '-shm']) rmSync(copy + suffix, { force: true });
  copyFileSync(db, copy);
  const store = new Store(copy);
  const writer = spawn(process.execPath, [fileURLToPath(new URL('./retain-writer.js', import.meta.url)), copy], { stdio: ['ignore', 'pipe', 'inherit'] });
  let output = '';
  writer.stdout.on('data', (c: Buffer) => { output += c.toString(); });
  await new Promise<void>((resolve) => { const wait = () => (output.includes('ready') ? resolve() : setTimeout(wait, 50)); wait(); });
  try {
    const oldest = (store.db.prepare('SELECT min(ts) AS t FROM events').get() as { t: number }).t;
    const days = 10;
    // "Now" such that the cutoff falls one day after the oldest event.
    const t0 = Date.now();
    const r = await retain(store.db, days, { now: oldest + 86_400_000 + days * 86_400_000 });
    const ms = Date.now() - t0;
    writer.kill('SIGTERM');
    await new Promise((resolve) => writer.on('exit', resolve));
    const w = JSON.parse(output.split('\n').filter((l) => l.startsWith('{')).at(-1) ?? '{}') as { longestWriteMs?: number; written?: number };
    return { longest_ingest_write_ms: w.longestWriteMs ?? -1, ingest_written: w.written ?? 0, events_removed: r.eventsRemoved, seconds: +(ms / 1000).toFixed(1), events_per_s: rate(r.eventsRemoved, ms), longest_batch_ms: r.longestBatchMs, mib_before: +(r.bytesBefore / 1048576).toFixed(0), mib_after: +(r.bytesAfter / 1048576).toFixed(0) };
  } finally {
    writer.kill('SIGTERM');
    store.close();
    for (const suffix of ['', '-wal', '-shm']) rmSync(copy + suffix, { force: true });
  }
}

export async function benchStore(count: number): Promise<{ rows: Row[]; results: Record<string, unknown> }> {
  const file = await corpusFile(`kv-${count}.log`, count, toKeyValueLine);
  const db = join(BENCH_DIR, `store-${count}.db`);
  for (const suffix of ['', '-wal', '-shm']) rmSync(db + suffix, { force: true });
  const ndjsonMs = run(['ingest', '--sink', 'ndjson', file, '--summary', 'none']);
  const sqliteMs = run(['ingest', '--db', db, file, '--summary', 'none']);
  const store = new Store(db, { readonly: true });
  const sample = sampleEvents(store.db, 'delivery', 997, 60) as { message_id: string; acode: string; sender: string }[];
  const traceMs = sample.map((s) => time(() => trace(store.db, s.message_id)).ms);
  const traceAcodeMs = sample.map((s) => time(() => trace(store.db, s.acode)).ms);
  const searches: Record<string, () => unknown> = {
    'search --address': () => search(store.db, { address: sample[0]!.sender, limit: 50 }),
    'search --type delivery --from/--to (1 day)': () => search(store.db, { type: 'delivery', from: Date.UTC(2026, 10, 2), to: Date.UTC(2026, 10, 3), limit: 50 }),
    'search --text invoice': () => search(store.db, { text: 'invoice', limit: 50 }),
    'search --action Rej': () => search(store.db, { action: 'Rej', limit: 50 }),
    'search (newest 50)': () => search(store.db, { limit: 50 }),
  };
  const searchMs = Object.fromEntries(Object.entries(searches).map(([k, fn]) => [k, percentile(Array.from({ length: 11 }, () => time(fn).ms), 50)]));
  store.close();
  const bytes = statSync(db).size;
  const retention = await benchRetention(db);
  const results = {
    events: count,
    ndjson_eps: rate(count, ndjsonMs),
    sqlite_eps: rate(count, sqliteMs),
    sqlite_ratio: +(ndjsonMs / sqliteMs).toFixed(3),
    trace_message_id_ms: { p50: +percentile(traceMs, 50).toFixed(2), p95: +percentile(traceMs, 95).toFixed(2) },
    trace_acode_ms: { p50: +percentile(traceAcodeMs, 50).toFixed(2), p95: +percentile(traceAcodeMs, 95).toFixed(2) },
    search_ms_p50: Object.fromEntries(Object.entries(searchMs).map(([k, v]) => [k, +v.toFixed(2)])),
    mib_per_million: +((bytes / 1048576) * (1_000_000 / count)).toFixed(1),
    retention,
  };
  const rows: Row[] = [
    { name: 'events', value: count.toLocaleString('en') },
    { name: 'ingest → ndjson /dev/null (baseline)', value: `${results.ndjson_eps.toLocaleString('en')} events/s` },
    { name: 'ingest → sqlite', value: `${results.sqlite_eps.toLocaleString('en')} events/s  ratio ${results.sqlite_ratio} (target ≥ 0.5)` },
    { name: 'trace <message-id>', value: `p50 ${results.trace_message_id_ms.p50} ms, p95 ${results.trace_message_id_ms.p95} ms (target < 50)` },
    { name: 'trace <aCode>', value: `p50 ${results.trace_acode_ms.p50} ms, p95 ${results.trace_acode_ms.p95} ms` },
    ...Object.entries(results.search_ms_p50).map(([k, v]) => ({ name: k, value: `p50 ${v} ms` })),
    { name: 'store size', value: `${results.mib_per_million} MiB per 1M events (with event.original)` },
    { name: 'retain: the oldest day', value: `${retention.events_removed.toLocaleString('en')} events in ${retention.seconds} s (${retention.events_per_s.toLocaleString('en')}/s), longest transaction ${retention.longest_batch_ms} ms; meanwhile another process wrote ${retention.ingest_written.toLocaleString('en')} events, its slowest write ${retention.longest_ingest_write_ms} ms (target ≤ 1,000); ${retention.mib_before} → ${retention.mib_after} MiB` },
  ];
  return { rows, results };
}
