/** `npm run bench`: every benchmark, printed as tables and saved to .bench/results.json. */
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { BENCH_DIR, printTable } from './common.js';
import { benchCollect } from './collect.js';
import { benchCollectV2 } from './collect-v2.js';
import { benchConsole } from './console.js';
import { benchFeeds } from './feeds.js';
import { benchSearchEngines } from './search-engines.js';
import { benchHostile } from './hostile.js';
import { benchMemory } from './memory.js';
import { benchPipeline } from './pipeline.js';
import { benchService } from './service.js';
import { benchStore } from './store.js';
import { benchStoreCeiling } from './store-ceiling.js';
import { benchReplicas } from './replicas.js';

const only = process.argv[2];
const resultsFile = join(BENCH_DIR, 'results.json');
// A single section (`npm run bench -- store`) updates its entry and keeps the others.
const earlier = only && existsSync(resultsFile) ? (JSON.parse(readFileSync(resultsFile, 'utf8')) as Record<string, unknown>) : {};
const results: Record<string, unknown> = { ...earlier, date: new Date().toISOString(), node: process.version };

if (!only || only === 'pipeline') {
  const p = await benchPipeline(Number(process.env.BENCH_EVENTS ?? 200_000));
  printTable('Pipeline (in memory, best of 3)', p.rows);
  results.pipeline = p.results;
}

if (!only || only === 'memory') {
  const m = await benchMemory([200_000, 1_000_000]);
  printTable('Memory (streaming, whole CLI pipeline)', m.rows);
  results.memory = m.results;
}

if (!only || only === 'service') {
  const s = await benchService(Number(process.env.BENCH_SERVICE_EVENTS ?? 1_020_000), Number(process.env.BENCH_SOAK_PER_DAY ?? 300_000));
  printTable('The service (mimelog run), three sources: a backlog, and a 24-hour soak in simulated time', s.rows);
  results.service = s.results;
}

if (!only || only === 'hostile') {
  const h = await benchHostile();
  printTable('Hostile inputs, default limits (each in its own process)', h.rows);
  results.hostile = h.results;
}

if (!only || only === 'store') {
  const s = await benchStore(Number(process.env.BENCH_STORE_EVENTS ?? 1_000_000), Number(process.env.BENCH_STORE_SCALE_EVENTS ?? 10_000_000));
  printTable('Embedded store (SQLite), whole CLI', s.rows);
  results.store = s.results;
}

if (!only || only === 'store-ceiling') {
  const s = await benchStoreCeiling(Number(process.env.BENCH_STORE_EVENTS ?? 1_000_000));
  printTable("SQLite's own ceiling: the ingest's rows prebuilt, inserted by units (and with each index or table left out)", s.rows);
  results.store_ceiling = s.results;
}

if (!only || only === 'console') {
  const c = await benchConsole(Number(process.env.BENCH_STORE_EVENTS ?? 1_000_000));
  printTable('Web console API over HTTP (21 calls each, the first not counted)', c.rows);
  results.console = c.results;
}

if (!only || only === 'collect') {
  const c = await benchCollect(Number(process.env.BENCH_COLLECT_EVENTS ?? 1_000_000));
  printTable('API 1.0 collection from the simulator', c.rows);
  results.collect = c.results;
}

if (!only || only === 'collect-v2') {
  // ≥ 1 GiB of NDJSON in the gzip files (about 580 bytes per v2 line).
  const c = await benchCollectV2(Number(process.env.BENCH_COLLECT_V2_EVENTS ?? 1_900_000), 20_000);
  printTable('API 2.0 batch collection from the simulator (gzip NDJSON files)', c.rows);
  results.collect_v2 = c.results;
}

if (!only || only === 'feeds') {
  const f = await benchFeeds(Number(process.env.BENCH_FEED_RECORDS ?? 20_000));
  printTable('API 2.0 POST feeds and Cloud Integrated from the simulator, next to SIEM batch files from the same simulator', f.rows);
  results.feeds = f.results;
}

if (!only || only === 'search' || only === 'opensearch') {
  const o = await benchSearchEngines(Number(process.env.BENCH_SEARCH_EVENTS ?? 500_000));
  printTable('Delivery into local OpenSearch 2.19, Elasticsearch 8.15 and 9.1 nodes vs NDJSON, whole CLI', o.rows);
  results.search = o.results;
}

if (only === 'replicas') {
  const r = await benchReplicas(Number(process.env.BENCH_REPLICA_EVENTS ?? 25_000));
  printTable('Replicas (cluster:) sharing four sources, one machine', r.rows);
  results.replicas = r.results;
}

writeFileSync(resultsFile, `${JSON.stringify(results, null, 2)}\n`);
