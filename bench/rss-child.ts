/** Child process for the memory and pipeline benchmarks: `rss-child.js WORKERS FILE...` ingests files to /dev/null and prints its time and peak RSS. */
import { createWriteStream } from 'node:fs';
import { buildTransformer } from '../src/cli/ingest.js';
import { runInputs } from '../src/pipeline/run.js';
import { NdjsonSink } from '../src/sinks/ndjson.js';
import { localInputs } from '../src/sources/local.js';

const [workers, ...files] = process.argv.slice(2);
const { transformer } = buildTransformer({ original: true });
const sink = new NdjsonSink(createWriteStream('/dev/null'), '/dev/null');
const t0 = Date.now();
const summary = await runInputs((await localInputs(files)).inputs, transformer, sink, { workers: Number(workers) });
await sink.close();
process.stdout.write(`${JSON.stringify({ events: summary.sink.stored, ms: Date.now() - t0, maxRssMiB: Math.round(process.resourceUsage().maxRSS / 1024) })}\n`);
