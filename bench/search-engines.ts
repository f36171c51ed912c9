/**
 * Delivery into each real local search engine (OpenSearch 2.19, Elasticsearch 8.15 and 9.1,
 * started here from the test node builds with the full JIT), measured against the engine's own
 * limit in the same run: after a warm-up, the very documents mimelog writes (its NDJSON output
 * for the same file) are posted as pre-built `_bulk` bodies, with the same bulk size and requests
 * in flight, by a minimal client. Against that limit, two measures of mimelog, each into fresh
 * indices and a fresh store:
 * - sink only: the same documents, already processed (ECS documents as JSON text with their ids,
 *   as the pipeline hands them over), delivered by mimelog's real sink stack (bench/search-sink.ts);
 * - ingest: the whole `mimelog ingest --sink <engine>` of the file (read, decode, normalize,
 *   fingerprint, deliver), what a user waits for.
 * The ratio is the limit's time over mimelog's (1 = as fast as the engine allows). Also: the
 * pipeline-to-NDJSON rate, the CPU each side used, and each engine's index size per event after a
 * force-merge to one segment.
 *
 * BENCH_SEARCH_ROUNDS (2): rounds of every turn, the best of each counts. BENCH_SEARCH_WARM_UPS (2):
 * passes of the documents through the node before the rounds. BENCH_SEARCH_ENGINES:
 * some engines only. BENCH_SEARCH_MEASURES (sink,ingest): some measures only.
 * BENCH_SEARCH_COMPARE=PATH[,PATH]: other checkouts (their root, or their bin/mimelog; dist/ built)
 * measured in the same rounds against the same node (before/after a change).
 * BENCH_SEARCH_PROFILE=DIR: CPU profiles of mimelog's processes.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { closeSync, existsSync, openSync, readFileSync, renameSync, rmSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Pool } from 'undici';
import { toKeyValueLine } from '../src/simulator/generate.js';
import { BULK_PATH } from '../src/sinks/search/bulk.js';
import { IndexNamer } from '../src/sinks/search/index-name.js';
import { indexTemplate } from '../src/sinks/search/template.js';
import { ALL_ENGINES, ENGINES, type Engine, EngineCluster, notBuiltHint, testNodeBuilt } from '../test/support/search-engine.js';
import { BENCH_DIR, BIN, type Row, corpusFile, rate, runMimelog } from './common.js';
import { engineCpu, jvmPid } from './engine-process.js';

const BULK_DOCS = 1000;
const CONCURRENCY = Number(process.env.BENCH_SEARCH_CONCURRENCY ?? 2);
const ROUNDS = Number(process.env.BENCH_SEARCH_ROUNDS ?? 2);
const WARM_UPS = Number(process.env.BENCH_SEARCH_WARM_UPS ?? 2);
const CPU_USAGE = fileURLToPath(new URL('./cpu-usage.js', import.meta.url));
const SINK_DRIVER = fileURLToPath(new URL('./search-sink.js', import.meta.url));
/** This checkout (this file runs from dist/bench/). */
const ROOT = fileURLToPath(new URL('../..', import.meta.url));

/**
 * What is measured against the engine's limit: `sink`, mimelog's sink stack on its own (the
 * documents already processed: bench/search-sink.ts); `ingest`, the whole `mimelog ingest --sink
 * <engine>` of the file.
 */
const ALL_MEASURES = ['sink', 'ingest'] as const;
type Measure = (typeof ALL_MEASURES)[number];
const MEASURE_LABEL: Record<Measure, string> = { sink: 'sink only', ingest: 'whole ingest' };
const MEASURES = (process.env.BENCH_SEARCH_MEASURES?.split(',') as Measure[] | undefined) ?? ALL_MEASURES;

/** One measure of one build against the engine's limit. */
interface MeasureResult {
  readonly ms: number;
  /** The limit's time over this one's. */
  readonly ratio: number;
  readonly eps: number;
  readonly mimelog_cpu_s: number;
  readonly engine_cpu_s: number;
}

/** One engine's results: its limit, each build's measures, its index size. */
interface EngineResult {
  readonly limit_ms: number;
  readonly limit_eps: number;
  readonly engine_cpu_s_limit: number;
  /** By build: `this` (this checkout), else the path given in BENCH_SEARCH_COMPARE. */
  readonly builds: Record<string, Partial<Record<Measure, MeasureResult>>>;
  readonly index_bytes: number;
  readonly bytes_per_event: number;
}

/** A checkout to measure: its root (with dist/ built) and the name its rows carry. */
interface Build {
  readonly root: string;
  readonly name: string;
}

/** This checkout, then BENCH_SEARCH_COMPARE's. */
function builds(): Build[] {
  const others = process.env.BENCH_SEARCH_COMPARE?.split(',').filter(Boolean) ?? [];
  return [{ root: ROOT, name: 'this' }, ...others.map((p) => ({ root: existsSync(join(p, 'bin/mimelog')) ? resolve(p) : resolve(p, '../..'), name: p }))];
}

/** One turn of a round: the pre-built bulks, or one measure of one build. */
type Turn = { readonly kind: 'limit' } | { readonly kind: Measure; readonly build: number };

export async function benchSearchEngines(count: number): Promise<{ rows: Row[]; results: Record<string, unknown> }> {
  const engines = (process.env.BENCH_SEARCH_ENGINES?.split(',') as Engine[] | undefined) ?? ALL_ENGINES;
  for (const engine of engines) if (!testNodeBuilt(engine)) throw new Error(notBuiltHint(engine));
  const file = await corpusFile(`kv-${count}.log`, count, toKeyValueLine);
  const docs = mimelogDocuments(file);
  const ndjsonMs = runMimelog(['ingest', '--sink', 'ndjson', file, '--summary', 'none']);
  const results: Record<string, unknown> = { events: count, bulk_docs: BULK_DOCS, bulk_concurrency: CONCURRENCY, ndjson_eps: rate(count, ndjsonMs) };
  const rows: Row[] = [
    { name: 'events', value: `${count.toLocaleString('en')} (each node: 1 JVM, 512 MiB heap, on the same 2 cores; bulk ${BULK_DOCS} docs, ${CONCURRENCY} in flight)` },
    { name: 'ingest → ndjson /dev/null (baseline)', value: `${rate(count, ndjsonMs).toLocaleString('en')} events/s` },
  ];
  for (const engine of engines) {
    const entry = await benchEngine(engine, file, docs, count);
    results[engine] = entry;
    rows.push({ name: `limit → ${ENGINES[engine].label}`, value: `pre-built bulks ${entry.limit_eps.toLocaleString('en')} events/s, engine ${entry.engine_cpu_s_limit} CPU-s; index ${entry.bytes_per_event} bytes/event after force-merge` });
    for (const [build, measures] of Object.entries(entry.builds)) {
      for (const measure of MEASURES) {
        const e = measures[measure]!;
        rows.push({
          name: `${MEASURE_LABEL[measure]} → ${ENGINES[engine].label}${build === 'this' ? '' : ` (${build})`}`,
          value: `${e.eps.toLocaleString('en')} events/s = ${e.ratio}× the engine's limit; CPU: mimelog ${e.mimelog_cpu_s} s, engine ${e.engine_cpu_s} s`,
        });
      }
    }
  }
  return { rows, results };
}

async function benchEngine(engine: Engine, file: string, docs: readonly Doc[], count: number): Promise<EngineResult> {
  const node = await EngineCluster.start(engine, 1, 'full');
  try {
    const url = node.urls[0]!;
    const jvm = jvmPid(url);
    for (const name of ['warm', 'limit']) {
      const template = indexTemplate({ distribution: engine === 'opensearch' ? 'opensearch' : 'elasticsearch', indexPatterns: [`${name}-*`], replicas: 0 });
      await node.request('PUT', `/_index_template/${name}`, template);
    }
    // Warm-up: the same bulks into indices that are dropped after, so the JIT has compiled the
    // indexing path (after one pass OpenSearch still took 44 s for the limit's first round, 14 s for its second).
    const warm = bulkBodies(docs, 'warm');
    for (let pass = 0; pass < WARM_UPS; pass++) {
      await postBulks(url, warm);
      await dropIndices(node, 'warm-*');
    }
    const limitBodies = bulkBodies(docs, 'limit');
    // Rounds of every turn, each into fresh indices; the best time of each counts, so that
    // another process taking the cores for a while skews none. Every other round the turns go
    // in the opposite order, so that a round's drift (the node's JIT, its merges, other jobs)
    // favours none.
    const checkouts = builds();
    const turns: Turn[] = [{ kind: 'limit' }, ...checkouts.flatMap((_, build) => MEASURES.map((kind) => ({ kind, build })))];
    const limit = new Best();
    const best = checkouts.map(() => ({ sink: new Best(), ingest: new Best() }));
    for (let round = 0; round < ROUNDS; round++) {
      for (const turn of round % 2 === 0 ? turns : [...turns].reverse()) {
        if (turn.kind === 'limit') {
          await dropIndices(node, 'limit-*');
          const before = engineCpu(jvm);
          const ms = await postBulks(url, limitBodies);
          limit.add({ ms, cpu_s: 0, engine_cpu_s: engineCpu(jvm) - before });
          const held = await node.count('limit-*');
          if (held !== count) throw new Error(`${node.spec.label} holds ${held} pre-built documents, expected ${count}`);
          await dropIndices(node, 'limit-*');
          process.stderr.write(`${node.spec.label} round ${round + 1}: pre-built bulks ${Math.round(ms)} ms\n`);
          continue;
        }
        const build = checkouts[turn.build]!;
        await dropIndices(node, 'mimecast-siem-*');
        const name = `${engine}-${turn.kind}-${round + 1}${turn.build === 0 ? '' : `-compare${turn.build}`}`;
        const run = turn.kind === 'sink' ? sinkOnly(build, node, jvm, file, name) : ingest(build, node, jvm, file, name);
        const indexed = await node.count();
        if (indexed !== count) throw new Error(`${node.spec.label} holds ${indexed} documents from ${build.name}'s ${turn.kind}, expected ${count}`);
        best[turn.build]![turn.kind].add(run);
        process.stderr.write(`${node.spec.label} round ${round + 1}: ${build.name} ${turn.kind}: ${Math.round(run.ms)} ms, ${run.cpu_s.toFixed(1)} CPU-s\n`);
      }
    }
    await node.request('POST', '/mimecast-siem-*/_forcemerge?max_num_segments=1'); // the last run's indices
    const store = await node.request('GET', '/mimecast-siem-*/_stats/store');
    const bytes = store._all.primaries.store.size_in_bytes as number;
    const result = (run: Best): MeasureResult => ({
      ms: Math.round(run.ms), ratio: +(limit.ms / run.ms).toFixed(2), eps: rate(count, run.ms), mimelog_cpu_s: +run.cpu_s.toFixed(1), engine_cpu_s: +run.engine_cpu_s.toFixed(1),
    });
    return {
      limit_ms: Math.round(limit.ms), limit_eps: rate(count, limit.ms), engine_cpu_s_limit: +limit.engine_cpu_s.toFixed(1),
      builds: Object.fromEntries(checkouts.map((b, i) => [b.name, Object.fromEntries(MEASURES.map((m) => [m, result(best[i]![m])]))])),
      index_bytes: bytes, bytes_per_event: Math.round(bytes / count),
    };
  } finally {
    await node.stop();
  }
}

/** Deletes the indices matching `pattern` by name (Elasticsearch 8+ refuses a wildcard DELETE). */
async function dropIndices(node: EngineCluster, pattern: string): Promise<void> {
  const list = (await node.request('GET', `/_cat/indices/${pattern}?format=json&h=index`)) as { index: string }[];
  if (list.length > 0) await node.request('DELETE', `/${list.map((i) => i.index).join(',')}`);
}

interface Run {
  readonly ms: number;
  readonly cpu_s: number;
  readonly engine_cpu_s: number;
}

/** The best (least) of each figure over the rounds. */
class Best implements Run {
  ms = Infinity;
  cpu_s = Infinity;
  engine_cpu_s = Infinity;
  add(run: Run): void {
    this.ms = Math.min(this.ms, run.ms);
    this.cpu_s = Math.min(this.cpu_s, run.cpu_s);
    this.engine_cpu_s = Math.min(this.engine_cpu_s, run.engine_cpu_s);
  }
}

/** `BIN ingest --sink <engine>` of the file into fresh indices and a fresh store: its wall time, its CPU and the engine's. */
/** The build's `ingest --sink <engine>` of the file into fresh indices and a fresh store: its wall time, its CPU and the engine's. */
function ingest(build: Build, node: EngineCluster, jvm: number, file: string, name: string): Run {
  const db = join(BENCH_DIR, `${name}.db`);
  const cpuFile = join(BENCH_DIR, `${name}-cpu.json`);
  const files = [db, `${db}-wal`, `${db}-shm`, cpuFile];
  for (const f of files) rmSync(f, { force: true });
  const args = [
    'ingest', '--db', db, '--sink', node.spec.sink, '--search-url', node.urls[0]!, '--replicas', '0',
    '--bulk-docs', String(BULK_DOCS), '--bulk-concurrency', String(CONCURRENCY), file, '--summary', 'none',
  ];
  const engineBefore = engineCpu(jvm);
  const t0 = Date.now();
  execFileSync(process.execPath, ['--import', CPU_USAGE, ...profileArgs(name), join(build.root, 'bin/mimelog'), ...args], { stdio: ['ignore', 'ignore', 'inherit'], env: { ...process.env, MIMELOG_BENCH_CPU_FILE: cpuFile } });
  const ms = Date.now() - t0;
  const { cpu_s } = JSON.parse(readFileSync(cpuFile, 'utf8')) as { cpu_s: number };
  for (const f of files) rmSync(f, { force: true });
  return { ms, cpu_s, engine_cpu_s: engineCpu(jvm) - engineBefore };
}

/** The build's sink stack alone (bench/search-sink.ts) delivering the file's processed events into fresh indices and a fresh store: the time, CPU and engine CPU of the delivery only. */
function sinkOnly(build: Build, node: EngineCluster, jvm: number, file: string, name: string): Run {
  const db = join(BENCH_DIR, `${name}.db`);
  const files = [db, `${db}-wal`, `${db}-shm`];
  for (const f of files) rmSync(f, { force: true });
  const profile = process.env.BENCH_SEARCH_PROFILE ? [join(process.env.BENCH_SEARCH_PROFILE, `${name}.cpuprofile`)] : [];
  const args = [build.root, file, node.spec.sink, node.urls[0]!, db, String(BULK_DOCS), String(CONCURRENCY), String(jvm), ...profile];
  const out = execFileSync(process.execPath, [SINK_DRIVER, ...args], { stdio: ['ignore', 'pipe', 'inherit'], encoding: 'utf8' });
  const run = JSON.parse(out.trim().split('\n').at(-1)!) as Run & { stored: number };
  for (const f of files) rmSync(f, { force: true });
  return run;
}

/** BENCH_SEARCH_PROFILE=DIR: mimelog's run writes a V8 CPU profile there (`node --cpu-prof`; the sink-only driver profiles its timed part only). */
function profileArgs(name: string): string[] {
  const dir = process.env.BENCH_SEARCH_PROFILE;
  return dir ? ['--cpu-prof', '--cpu-prof-dir', dir, '--cpu-prof-name', `${name}.cpuprofile`] : [];
}

/** A document as mimelog writes it: its JSON line, its id and the index of its day. */
interface Doc {
  readonly json: string;
  readonly id: string;
  readonly timeMs: number;
}

/** The documents `mimelog ingest --sink ndjson` writes for the file (the search suite checks the engines hold exactly these). */
function mimelogDocuments(file: string): Doc[] {
  const out = `${file}.docs.ndjson`;
  if (!existsSync(out)) {
    const fd = openSync(`${out}.tmp`, 'w');
    try {
      const res = spawnSync(process.execPath, [BIN, 'ingest', '--sink', 'ndjson', file, '--summary', 'none'], { stdio: ['ignore', fd, 'inherit'] });
      if (res.status !== 0) throw new Error(`mimelog ingest --sink ndjson ended with ${res.status}`);
    } finally {
      closeSync(fd);
    }
    renameSync(`${out}.tmp`, out);
  }
  return readFileSync(out, 'utf8').split('\n').filter((l) => l.length > 0).map((json) => {
    const doc = JSON.parse(json) as { '@timestamp': string; event: { id: string } };
    return { json, id: doc.event.id, timeMs: Date.parse(doc['@timestamp']) };
  });
}

/** The documents as `_bulk` bodies of BULK_DOCS `create`s each, into `PREFIX-yyyy.MM.dd`. */
function bulkBodies(docs: readonly Doc[], prefix: string): Buffer[] {
  const namer = new IndexNamer(`${prefix}-{yyyy}.{MM}.{dd}`);
  const bodies: Buffer[] = [];
  for (let i = 0; i < docs.length; i += BULK_DOCS) {
    let text = '';
    for (const d of docs.slice(i, i + BULK_DOCS)) text += `{"create":{"_index":"${namer.indexFor(d.timeMs)}","_id":"${d.id}"}}\n${d.json}\n`;
    bodies.push(Buffer.from(text));
  }
  return bodies;
}

/** Posts the bodies, CONCURRENCY at a time, over kept-alive connections, asking for the answer the sink asks for; returns the wall time in ms. */
async function postBulks(url: string, bodies: readonly Buffer[]): Promise<number> {
  const pool = new Pool(url, { connections: CONCURRENCY });
  let next = 0;
  const t0 = process.hrtime.bigint();
  try {
    await Promise.all(Array.from({ length: CONCURRENCY }, async () => {
      while (next < bodies.length) {
        const body = bodies[next++]!;
        const res = await pool.request({ path: BULK_PATH, method: 'POST', body, headers: { 'content-type': 'application/x-ndjson' } });
        const text = await res.body.text();
        if (res.statusCode !== 200 || !text.slice(0, text.indexOf('"items"')).includes('"errors":false')) throw new Error(`bulk refused: HTTP ${res.statusCode} ${text.slice(0, 300)}`);
      }
    }));
    return Number(process.hrtime.bigint() - t0) / 1e6;
  } finally {
    await pool.close();
  }
}

