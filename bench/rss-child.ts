/** Child process for the memory benchmark: ingests files to /dev/null and prints its peak RSS. */
import { createWriteStream } from 'node:fs';
import { buildTransformer } from '../src/cli/ingest.js';
import { runInputs } from '../src/pipeline/run.js';
import { NdjsonSink } from '../src/sinks/ndjson.js';
import { localInputs } from '../src/sources/local.js';

const { transformer } = buildTransformer({ original: true });
const sink = new NdjsonSink(createWriteStream('/dev/null'), '/dev/null');
const t0 = Date.now();
const summary = await runInputs((await localInputs(process.argv.slice(2))).inputs, transformer, sink);
await sink.close();
process.stdout.write(`${JSON.stringify({ events: summary.sink.stored, ms: Date.now() - t0, maxRssMiB: Math.round(process.resourceUsage().maxRSS / 1024) })}\n`);
