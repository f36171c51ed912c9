/**
 * Embedded store (`npm run bench -- store`): ingest of 1M events into SQLite next to the bare
 * pipeline-to-NDJSON rate of the same file in the same run; bytes per event on disk next to
 * OpenSearch's index of the same events; export (documents rebuilt) rate; the questions people ask
 * (trace, search, stats) at 1M and at 10M events (a store built once and kept in .bench/); one
 * retention pass while another process writes.
 */
import { spawn } from 'node:child_process';
import { copyFileSync, existsSync, renameSync, rmSync, statSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { join } from 'node:path';
import type Database from 'better-sqlite3';
import { search, stats } from '../src/store/queries.js';
import { retain } from '../src/store/retention.js';
import { Store } from '../src/store/store.js';
import { trace } from '../src/store/trace.js';
import { toKeyValueLine } from '../src/simulator/generate.js';
import { EngineCluster, notBuiltHint, testNodeBuilt } from '../test/support/search-engine.js';
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
export async function benchRetention(db: string): Promise<{ events_removed: number; seconds: number; events_per_s: number; longest_batch_ms: number; longest_ingest_write_ms: number; ingest_written: number; mib_before: number; mib_after: number }> {
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
    if (writer.exitCode === null) {
      const exited = new Promise((resolve) => writer.once('exit', resolve));
      writer.kill('SIGTERM');
      await exited;
    }
    const w = JSON.parse(output.split('\n').filter((l) => l.startsWith('{')).at(-1) ?? '{}') as { longestWriteMs?: number; written?: number };
    return { longest_ingest_write_ms: w.longestWriteMs ?? -1, ingest_written: w.written ?? 0, events_removed: r.eventsRemoved, seconds: +(ms / 1000).toFixed(1), events_per_s: rate(r.eventsRemoved, ms), longest_batch_ms: r.longestBatchMs, mib_before: +(r.bytesBefore / 1048576).toFixed(0), mib_after: +(r.bytesAfter / 1048576).toFixed(0) };
  } finally {
    writer.kill('SIGTERM');
    store.close();
    for (const suffix of ['', '-wal', '-shm']) rmSync(copy + suffix, { force: true });
  }
}

/** What each table and index costs per event (SQLite's dbstat: pages in use, free space included), largest first. */
function bytesPerEventByObject(db: Database.Database, count: number): Record<string, number> {
  const rows = db.prepare('SELECT name, sum(pgsize) AS bytes FROM dbstat GROUP BY name ORDER BY bytes DESC').all() as { name: string; bytes: number }[];
  return Object.fromEntries(rows.map((r) => [r.name, +(r.bytes / count).toFixed(1)]));
}

/** p50 and p95 of `runs` timings of one question (the first call, which warms the cache, not counted). */
function latency(fn: (i: number) => unknown, runs = 41): { p50: number; p95: number } {
  fn(0);
  const ms = Array.from({ length: runs }, (_, i) => time(() => fn(i + 1)).ms);
  return { p50: +percentile(ms, 50).toFixed(2), p95: +percentile(ms, 95).toFixed(2) };
}

/** The questions people ask a store, each timed; `sample` gives real message ids, aCodes and addresses. */
function questions(db: Database.Database, count: number): Record<string, { p50: number; p95: number }> {
  const sample = sampleEvents(db, 'delivery', Math.max(1, Math.floor(count / 200)), 60) as { message_id: string; acode: string; sender: string }[];
  const pick = (i: number) => sample[i % sample.length]!;
  const day = (i: number) => Date.UTC(2026, 10, 1) + (i % 5) * 86_400_000;
  return {
    'trace <message-id>': latency((i) => trace(db, pick(i).message_id)),
    'trace <aCode>': latency((i) => trace(db, pick(i).acode)),
    'search --address': latency((i) => search(db, { address: pick(i).sender, limit: 50 })),
    'search --message-id': latency((i) => search(db, { messageId: pick(i).message_id, limit: 50 })),
    'search --type delivery, one day': latency((i) => search(db, { type: 'delivery', from: day(i), to: day(i) + 86_400_000, limit: 50 })),
    'search --text invoice': latency(() => search(db, { text: 'invoice', limit: 50 }), 11),
    'search --action Rej': latency(() => search(db, { action: 'Rej', limit: 50 }), 11),
    'search (newest 50)': latency(() => search(db, { limit: 50 })),
  };
}

/** A store of `count` events, built once and kept in the bench cache (10M events take a while). */
async function cachedStore(count: number): Promise<string> {
  const db = join(BENCH_DIR, `store-${count}.cached.db`);
  if (existsSync(db)) return db;
  const file = await corpusFile(`kv-${count}.log`, count, toKeyValueLine);
  const partial = `${db}.partial`;
  for (const suffix of ['', '-wal', '-shm']) rmSync(partial + suffix, { force: true });
  run(['ingest', '--db', partial, file, '--summary', 'none']);
  renameSync(partial, db);
  return db;
}

/** The questions, their size and `stats` on a store of `scale` events built once (cachedStore). */
async function questionsAtScale(scale: number): Promise<{ events: number; bytes_per_event: number; questions_ms: ReturnType<typeof questions>; stats_ms: { p50: number; p95: number } }> {
  const bigDb = await cachedStore(scale);
  const big = new Store(bigDb, { readonly: true });
  try {
    const events = (big.db.prepare('SELECT count(*) AS n FROM events').get() as { n: number }).n;
    return { events, bytes_per_event: Math.round(statSync(bigDb).size / events), questions_ms: questions(big.db, events), stats_ms: latency(() => stats(big), 5) };
  } finally {
    big.close();
  }
}

interface EngineSize { bytes: number; segments: number }

/** Primary store size and segment count of mimelog's indices, after a flush and refresh (so merged-away files are gone). */
async function indexSize(node: EngineCluster): Promise<EngineSize> {
  await node.request('POST', '/mimecast-siem-*/_flush');
  await node.request('POST', '/mimecast-siem-*/_refresh');
  const s = (await node.request('GET', '/mimecast-siem-*/_stats/store,segments'))._all.primaries;
  return { bytes: s.store.size_in_bytes as number, segments: s.segments.count as number };
}

/**
 * The same events in the local OpenSearch test node: once as mimelog's index template makes them,
 * force-merged to one segment per index; then with the codec switched to `best_compression` (a
 * static setting: close, set, open) and merged again. A merge to one segment leaves an index that
 * already has one untouched, so one copy of an existing document is added to each index first:
 * the merge of the two segments then rewrites everything with the new codec. (The test node has no
 * reindex module, so the codec is changed in place instead of on a copy.)
 */
export async function openSearchSizes(file: string, count: number): Promise<{ template: EngineSize; best_compression: EngineSize; indices: number } | string> {
  if (!testNodeBuilt('opensearch')) return notBuiltHint('opensearch');
  const node = await EngineCluster.start('opensearch', 1, 'full');
  const db = join(BENCH_DIR, `opensearch-size-${count}.db`);
  for (const suffix of ['', '-wal', '-shm']) rmSync(db + suffix, { force: true });
  try {
    run(['ingest', '--db', db, '--sink', 'opensearch', '--search-url', node.urls[0]!, '--replicas', '0', file, '--summary', 'none']);
    const indexed = await node.count();
    if (indexed !== count) throw new Error(`OpenSearch holds ${indexed} documents, expected ${count}`);
    const indices = Object.keys(await node.request('GET', '/mimecast-siem-*/_settings'));
    await node.request('POST', '/mimecast-siem-*/_forcemerge?max_num_segments=1');
    const template = await indexSize(node);
    await node.request('POST', '/mimecast-siem-*/_close');
    const set = await node.request('PUT', '/mimecast-siem-*/_settings', { index: { codec: 'best_compression' } });
    if (set.acknowledged !== true) throw new Error(`setting index.codec was refused: ${JSON.stringify(set)}`);
    await node.request('POST', '/mimecast-siem-*/_open');
    await node.waitHealthy('green', 1);
    for (const index of indices) {
      const hit = (await node.request('POST', `/${index}/_search`, { size: 1 })).hits.hits[0] as { _source: unknown };
      await node.request('PUT', `/${index}/_doc/bench-rewrite-marker?refresh=true`, hit._source);
    }
    await node.request('POST', '/mimecast-siem-*/_forcemerge?max_num_segments=1');
    const codecs = Object.values(await node.request('GET', '/mimecast-siem-*/_settings/index.codec')).map((v) => (v as { settings: { index: { codec: string } } }).settings.index.codec);
    if (codecs.some((c) => c !== 'best_compression')) throw new Error(`index.codec is ${codecs.join(', ')}`);
    return { template, best_compression: await indexSize(node), indices: indices.length };
  } finally {
    await node.stop();
    for (const suffix of ['', '-wal', '-shm']) rmSync(db + suffix, { force: true });
  }
}

export async function benchStore(count: number, scale: number): Promise<{ rows: Row[]; results: Record<string, unknown> }> {
  const file = await corpusFile(`kv-${count}.log`, count, toKeyValueLine);
  const db = join(BENCH_DIR, `store-${count}.db`);
  for (const suffix of ['', '-wal', '-shm']) rmSync(db + suffix, { force: true });
  const ndjsonMs = run(['ingest', '--sink', 'ndjson', file, '--summary', 'none']);
  const sqliteMs = run(['ingest', '--db', db, file, '--summary', 'none']);
  // Closing the store checkpoints the WAL into the file: its size is everything.
  const bytes = statSync(db).size;
  const exportMs = run(['export', '--db', db]);
  const store = new Store(db, { readonly: true });
  const perEvent = bytesPerEventByObject(store.db, count);
  const small = questions(store.db, count);
  store.close();
  const os = process.env.BENCH_SKIP_OPENSEARCH ? 'skipped (BENCH_SKIP_OPENSEARCH)' : await openSearchSizes(file, count);
  const retention = process.env.BENCH_SKIP_RETENTION ? undefined : await benchRetention(db);
  // BENCH_STORE_SCALE_EVENTS=0 leaves out the store at scale (building 10M events takes most of an hour).
  const atScaleRun = scale > 0 ? await questionsAtScale(scale) : undefined;
  const results = {
    events: count,
    ndjson_eps: rate(count, ndjsonMs),
    sqlite_eps: rate(count, sqliteMs),
    sqlite_ratio: +(ndjsonMs / sqliteMs).toFixed(3),
    bytes_per_event: Math.round(bytes / count),
    bytes_per_event_by_object: perEvent,
    opensearch: typeof os === 'string' ? os : {
      indices: os.indices,
      template_bytes_per_event: Math.round(os.template.bytes / count),
      template_segments: os.template.segments,
      best_compression_bytes_per_event: Math.round(os.best_compression.bytes / count),
      best_compression_segments: os.best_compression.segments,
    },
    export_docs_per_s: rate(count, exportMs),
    export_ratio_to_ndjson_ingest: +(ndjsonMs / exportMs).toFixed(3),
    questions_ms: small,
    scale: atScaleRun,
    retention,
  };
  const ms = (q: { p50: number; p95: number }) => `p50 ${q.p50} ms, p95 ${q.p95} ms`;
  const rows: Row[] = [
    { name: 'events', value: count.toLocaleString('en') },
    { name: 'ingest → ndjson /dev/null (baseline)', value: `${results.ndjson_eps.toLocaleString('en')} events/s` },
    { name: 'ingest → sqlite', value: `${results.sqlite_eps.toLocaleString('en')} events/s  ratio ${results.sqlite_ratio} (target ≥ 0.6)` },
    { name: 'store size', value: `${results.bytes_per_event} bytes/event, everything included (target ≤ 250)` },
    { name: 'store size by table and index', value: Object.entries(perEvent).filter(([, b]) => b >= 1).map(([n, b]) => `${n} ${b}`).join(', ') },
    ...(typeof results.opensearch === 'string'
      ? [{ name: 'OpenSearch, same events', value: results.opensearch }]
      : [
          { name: 'OpenSearch, same events, mimelog\'s template', value: `${results.opensearch.template_bytes_per_event} bytes/event (${results.opensearch.template_segments} segments in ${results.opensearch.indices} daily indices)` },
          { name: 'OpenSearch, codec best_compression', value: `${results.opensearch.best_compression_bytes_per_event} bytes/event (${results.opensearch.best_compression_segments} segments in ${results.opensearch.indices} daily indices)` },
        ]),
    { name: 'export (documents rebuilt)', value: `${results.export_docs_per_s.toLocaleString('en')} documents/s = ${results.export_ratio_to_ndjson_ingest}× the ndjson ingest rate` },
    ...Object.entries(small).map(([k, v]) => ({ name: `${k} (${count.toLocaleString('en')})`, value: ms(v) })),
    ...(atScaleRun ? [
      { name: `store of ${atScaleRun.events.toLocaleString('en')} events`, value: `${atScaleRun.bytes_per_event} bytes/event` },
      ...Object.entries(atScaleRun.questions_ms).map(([k, v]) => ({ name: `${k} (${atScaleRun.events.toLocaleString('en')})`, value: ms(v) })),
      { name: `stats (${atScaleRun.events.toLocaleString('en')})`, value: `${ms(atScaleRun.stats_ms)} (target < 1,000)` },
    ] : [{ name: 'store at scale', value: 'skipped (BENCH_STORE_SCALE_EVENTS=0)' }]),
    retention
      ? { name: 'retain: the oldest day', value: `${retention.events_removed.toLocaleString('en')} events in ${retention.seconds} s (${retention.events_per_s.toLocaleString('en')}/s), longest transaction ${retention.longest_batch_ms} ms; meanwhile another process wrote ${retention.ingest_written.toLocaleString('en')} events, its slowest write ${retention.longest_ingest_write_ms} ms (target ≤ 1,000); ${retention.mib_before} → ${retention.mib_after} MiB` }
      : { name: 'retain: the oldest day', value: 'skipped (BENCH_SKIP_RETENTION)' },
  ];
  return { rows, results };
}
