/**
 * Delivery into a real local OpenSearch 2.19 node (started here from the test node build) on
 * ≥ 500,000 events, next to the same file's pipeline-to-NDJSON rate in the same run.
 */
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { toKeyValueLine } from '../src/simulator/generate.js';
import { OpenSearchCluster, testNodeBuilt } from '../test/support/opensearch.js';
import { BENCH_DIR, type Row, corpusFile, rate, runMimelog } from './common.js';

const BULK_DOCS = 1000;
const CONCURRENCY = 2;

export async function benchOpenSearch(count: number): Promise<{ rows: Row[]; results: Record<string, unknown> }> {
  if (!testNodeBuilt()) throw new Error('the OpenSearch test node is not built: run bash scripts/build-test-node.sh (Java 17, Maven)');
  const file = await corpusFile(`kv-${count}.log`, count, toKeyValueLine);
  const db = join(BENCH_DIR, `opensearch-${count}.db`);
  for (const suffix of ['', '-wal', '-shm']) rmSync(db + suffix, { force: true });
  const os = await OpenSearchCluster.start(1);
  try {
    const ndjsonMs = runMimelog(['ingest', '--sink', 'ndjson', file, '--summary', 'none']);
    const osMs = runMimelog([
      'ingest', '--db', db, '--sink', 'opensearch', '--search-url', os.urls[0]!, '--replicas', '0',
      '--bulk-docs', String(BULK_DOCS), '--bulk-concurrency', String(CONCURRENCY), file, '--summary', 'none',
    ]);
    const indexed = await os.count();
    if (indexed !== count) throw new Error(`OpenSearch holds ${indexed} documents, expected ${count}`);
    const results = {
      events: count, bulk_docs: BULK_DOCS, bulk_concurrency: CONCURRENCY,
      ndjson_eps: rate(count, ndjsonMs), opensearch_eps: rate(count, osMs), ratio: +(ndjsonMs / osMs).toFixed(3),
    };
    return {
      results,
      rows: [
        { name: 'events', value: `${count.toLocaleString('en')} (node: 1 JVM, 512 MiB heap, same 2 cores)` },
        { name: 'ingest → ndjson /dev/null (baseline)', value: `${results.ndjson_eps.toLocaleString('en')} events/s` },
        { name: 'ingest → opensearch', value: `${results.opensearch_eps.toLocaleString('en')} events/s  ratio ${results.ratio} (bulk ${BULK_DOCS} docs, ${CONCURRENCY} in flight)` },
      ],
    };
  } finally {
    await os.stop();
  }
}
