/**
 * Delivery into each real local search engine (OpenSearch 2.19, Elasticsearch 8.15 and 9.1,
 * started here from the test node builds) next to the same file's pipeline-to-NDJSON rate in the
 * same run, with the same bulk settings; and each engine's index size per event after a
 * force-merge to one segment.
 */
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { toKeyValueLine } from '../src/simulator/generate.js';
import { ALL_ENGINES, ENGINES, EngineCluster, notBuiltHint, testNodeBuilt } from '../test/support/search-engine.js';
import { BENCH_DIR, type Row, corpusFile, rate, runMimelog } from './common.js';

const BULK_DOCS = 1000;
const CONCURRENCY = 2;

export async function benchSearchEngines(count: number): Promise<{ rows: Row[]; results: Record<string, unknown> }> {
  for (const engine of ALL_ENGINES) if (!testNodeBuilt(engine)) throw new Error(notBuiltHint(engine));
  const file = await corpusFile(`kv-${count}.log`, count, toKeyValueLine);
  const ndjsonMs = runMimelog(['ingest', '--sink', 'ndjson', file, '--summary', 'none']);
  const results: Record<string, unknown> = { events: count, bulk_docs: BULK_DOCS, bulk_concurrency: CONCURRENCY, ndjson_eps: rate(count, ndjsonMs) };
  const rows: Row[] = [
    { name: 'events', value: `${count.toLocaleString('en')} (each node: 1 JVM, 512 MiB heap, on the same 2 cores)` },
    { name: 'ingest → ndjson /dev/null (baseline)', value: `${rate(count, ndjsonMs).toLocaleString('en')} events/s` },
  ];
  for (const engine of ALL_ENGINES) {
    const db = join(BENCH_DIR, `${engine}-${count}.db`);
    for (const suffix of ['', '-wal', '-shm']) rmSync(db + suffix, { force: true });
    const node = await EngineCluster.start(engine, 1, 'full');
    try {
      const ms = runMimelog([
        'ingest', '--db', db, '--sink', node.spec.sink, '--search-url', node.urls[0]!, '--replicas', '0',
        '--bulk-docs', String(BULK_DOCS), '--bulk-concurrency', String(CONCURRENCY), file, '--summary', 'none',
      ]);
      const indexed = await node.count();
      if (indexed !== count) throw new Error(`${node.spec.label} holds ${indexed} documents, expected ${count}`);
      await node.request('POST', '/mimecast-siem-*/_forcemerge?max_num_segments=1');
      const store = await node.request('GET', '/mimecast-siem-*/_stats/store');
      const bytes = store._all.primaries.store.size_in_bytes as number;
      const entry = { eps: rate(count, ms), ratio: +(ndjsonMs / ms).toFixed(3), index_bytes: bytes, bytes_per_event: Math.round(bytes / count) };
      results[engine] = entry;
      rows.push({
        name: `ingest → ${ENGINES[engine].label}`,
        value: `${entry.eps.toLocaleString('en')} events/s  ratio ${entry.ratio}; index ${entry.bytes_per_event} bytes/event after force-merge (bulk ${BULK_DOCS} docs, ${CONCURRENCY} in flight)`,
      });
    } finally {
      await node.stop();
    }
  }
  return { rows, results };
}
