/**
 * Delivery into each real local search engine (OpenSearch 2.19, Elasticsearch 8.15 and 9.1,
 * started here from the test node builds with the full JIT), measured against the engine's own
 * limit in the same run: after a warm-up, the very documents mimelog writes (its NDJSON output
 * for the same file) are posted as pre-built `_bulk` bodies, with the same bulk size and requests
 * in flight, by a minimal client; then `mimelog ingest --sink <engine>` delivers the same file into
 * fresh indices. The ratio is the limit's time over mimelog's (1 = as fast as the engine allows).
 * Also: the pipeline-to-NDJSON rate, the CPU each side used, and each engine's index size per
 * event after a force-merge to one segment.
 *
 * BENCH_SEARCH_ROUNDS (2): rounds of both sides, the best of each counts. BENCH_SEARCH_ENGINES:
 * some engines only. BENCH_SEARCH_COMPARE=PATH[,PATH]: other builds' bin/mimelog run in the same
 * rounds against the same node (before/after a change). BENCH_SEARCH_PROFILE=DIR: CPU profiles.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { closeSync, existsSync, openSync, readFileSync, readdirSync, renameSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Pool } from 'undici';
import { toKeyValueLine } from '../src/simulator/generate.js';
import { IndexNamer } from '../src/sinks/search/index-name.js';
import { indexTemplate } from '../src/sinks/search/template.js';
import { ALL_ENGINES, ENGINES, type Engine, EngineCluster, notBuiltHint, testNodeBuilt } from '../test/support/search-engine.js';
import { BENCH_DIR, BIN, type Row, corpusFile, rate, runMimelog } from './common.js';

const BULK_DOCS = 1000;
const CONCURRENCY = Number(process.env.BENCH_SEARCH_CONCURRENCY ?? 2);
const ROUNDS = Number(process.env.BENCH_SEARCH_ROUNDS ?? 2);
const CPU_USAGE = fileURLToPath(new URL('./cpu-usage.js', import.meta.url));

/** One engine's line of results. */
interface EngineResult {
  readonly limit_ms: number;
  readonly mimelog_ms: number;
  /** limit_ms / mimelog_ms. */
  readonly ratio: number;
  readonly eps: number;
  readonly limit_eps: number;
  readonly mimelog_cpu_s: number;
  readonly engine_cpu_s_limit: number;
  readonly engine_cpu_s_mimelog: number;
  readonly index_bytes: number;
  readonly bytes_per_event: number;
}

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
    const { compared, ...entry } = await benchEngine(engine, file, docs, count);
    results[engine] = { ...entry, ...(Object.keys(compared).length > 0 ? { compared } : {}) };
    for (const [build, e] of [['', entry], ...Object.entries(compared)] as [string, EngineResult][]) {
      rows.push({
        name: `ingest → ${ENGINES[engine].label}${build ? ` (${build})` : ''}`,
        value: `${e.eps.toLocaleString('en')} events/s = ${e.ratio}× the engine's limit (pre-built bulks: ${e.limit_eps.toLocaleString('en')} events/s); ` +
          `CPU: mimelog ${e.mimelog_cpu_s} s, engine ${e.engine_cpu_s_mimelog} s (${e.engine_cpu_s_limit} s for the pre-built bulks); index ${e.bytes_per_event} bytes/event after force-merge`,
      });
    }
  }
  return { rows, results };
}

async function benchEngine(engine: Engine, file: string, docs: readonly Doc[], count: number): Promise<EngineResult & { compared: Record<string, EngineResult> }> {
  const node = await EngineCluster.start(engine, 1, 'full');
  try {
    const url = node.urls[0]!;
    const jvm = jvmPid(url);
    for (const name of ['warm', 'limit']) {
      const template = indexTemplate({ distribution: engine === 'opensearch' ? 'opensearch' : 'elasticsearch', indexPatterns: [`${name}-*`], replicas: 0 });
      await node.request('PUT', `/_index_template/${name}`, template);
    }
    // Warm-up: the same bulks once into indices that are dropped after, so the JIT has compiled the indexing path.
    await postBulks(url, bulkBodies(docs, 'warm'));
    await dropIndices(node, 'warm-*');
    const limitBodies = bulkBodies(docs, 'limit');
    // Rounds of (pre-built bulks, then mimelog), each into fresh indices; the best time of each side
    // counts, so that another process taking the cores for a while skews neither.
    const limit = new Best();
    const builds = [BIN, ...(process.env.BENCH_SEARCH_COMPARE?.split(',') ?? [])];
    const runs = builds.map(() => new Best());
    for (let round = 0; round < ROUNDS; round++) {
      await dropIndices(node, 'limit-*');
      const before = engineCpu(jvm);
      const ms = await postBulks(url, limitBodies);
      limit.add({ ms, cpu_s: 0, engine_cpu_s: engineCpu(jvm) - before });
      const held = await node.count('limit-*');
      if (held !== count) throw new Error(`${node.spec.label} holds ${held} pre-built documents, expected ${count}`);
      await dropIndices(node, 'limit-*');
      // Builds take turns going first, so that a round's drift (the node's JIT, its merges, other jobs) favours none.
      const turn = [...builds.entries()];
      for (const [i, bin] of round % 2 === 0 ? turn : turn.reverse()) {
        await dropIndices(node, 'mimecast-siem-*');
        const run = ingest(bin, node, jvm, file, `${engine}-${round + 1}${i === 0 ? '' : `-compare${i}`}`);
        const indexed = await node.count();
        if (indexed !== count) throw new Error(`${node.spec.label} holds ${indexed} documents from ${bin}, expected ${count}`);
        runs[i]!.add(run);
        process.stderr.write(`${node.spec.label} round ${round + 1}: pre-built bulks ${Math.round(ms)} ms; ${bin}: ${run.ms} ms, ${run.cpu_s.toFixed(1)} CPU-s\n`);
      }
    }
    await node.request('POST', '/mimecast-siem-*/_forcemerge?max_num_segments=1'); // the last build's indices
    const store = await node.request('GET', '/mimecast-siem-*/_stats/store');
    const bytes = store._all.primaries.store.size_in_bytes as number;
    const result = (run: Best): EngineResult => ({
      limit_ms: Math.round(limit.ms), mimelog_ms: run.ms, ratio: +(limit.ms / run.ms).toFixed(2), eps: rate(count, run.ms), limit_eps: rate(count, limit.ms),
      mimelog_cpu_s: +run.cpu_s.toFixed(1), engine_cpu_s_limit: +limit.engine_cpu_s.toFixed(1), engine_cpu_s_mimelog: +run.engine_cpu_s.toFixed(1),
      index_bytes: bytes, bytes_per_event: Math.round(bytes / count),
    });
    return { ...result(runs[0]!), compared: Object.fromEntries(builds.slice(1).map((b, i) => [b, result(runs[i + 1]!)])) };
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
function ingest(bin: string, node: EngineCluster, jvm: number, file: string, name: string): Run {
  const db = join(BENCH_DIR, `${name}.db`);
  const cpuFile = join(BENCH_DIR, `${name}-cpu.json`);
  for (const f of [db, `${db}-wal`, `${db}-shm`, cpuFile]) rmSync(f, { force: true });
  const args = [
    'ingest', '--db', db, '--sink', node.spec.sink, '--search-url', node.urls[0]!, '--replicas', '0',
    '--bulk-docs', String(BULK_DOCS), '--bulk-concurrency', String(CONCURRENCY), file, '--summary', 'none',
  ];
  const engineBefore = engineCpu(jvm);
  const t0 = Date.now();
  execFileSync(process.execPath, ['--import', CPU_USAGE, ...profileArgs(name), bin, ...args], { stdio: ['ignore', 'ignore', 'inherit'], env: { ...process.env, MIMELOG_BENCH_CPU_FILE: cpuFile } });
  const ms = Date.now() - t0;
  const { cpu_s } = JSON.parse(readFileSync(cpuFile, 'utf8')) as { cpu_s: number };
  for (const f of [db, `${db}-wal`, `${db}-shm`, cpuFile]) rmSync(f, { force: true });
  return { ms, cpu_s, engine_cpu_s: engineCpu(jvm) - engineBefore };
}

/** BENCH_SEARCH_PROFILE=DIR: mimelog's run writes a V8 CPU profile there (`node --cpu-prof`). */
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

/** Posts the bodies, CONCURRENCY at a time, over kept-alive connections; returns the wall time in ms. */
async function postBulks(url: string, bodies: readonly Buffer[]): Promise<number> {
  const pool = new Pool(url, { connections: CONCURRENCY });
  let next = 0;
  const t0 = process.hrtime.bigint();
  try {
    await Promise.all(Array.from({ length: CONCURRENCY }, async () => {
      while (next < bodies.length) {
        const body = bodies[next++]!;
        const res = await pool.request({ path: '/_bulk', method: 'POST', body, headers: { 'content-type': 'application/x-ndjson' } });
        const text = await res.body.text();
        if (res.statusCode !== 200 || !text.slice(0, text.indexOf('"items"')).includes('"errors":false')) throw new Error(`bulk refused: HTTP ${res.statusCode} ${text.slice(0, 300)}`);
      }
    }));
    return Number(process.hrtime.bigint() - t0) / 1e6;
  } finally {
    await pool.close();
  }
}

/** The engine JVM's process id, found by the HTTP port it was started with. */
function jvmPid(url: string): number {
  const port = new URL(url).port;
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      if (readFileSync(`/proc/${entry}/cmdline`, 'utf8').split('\0').includes(`http.port=${port}`)) return Number(entry);
    } catch {
      // gone meanwhile
    }
  }
  throw new Error(`no engine process listens on ${url}`);
}

/** CPU seconds (user + system) the process used so far. */
function engineCpu(pid: number): number {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').replace(/^.*\) /, '').split(' ');
  return (Number(fields[11]) + Number(fields[12])) / 100; // utime, stime in clock ticks (USER_HZ = 100)
}
