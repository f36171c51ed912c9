/**
 * mimelog's search sink on its own, in its own process (bench/search-engines.ts runs it): the
 * events of a file are first processed by the real pipeline into units (ECS documents as JSON
 * text with their ids, hashes and cross-version keys, 1,000 a unit, as `ingest` reads a file),
 * kept in memory; then, timed, they go through the real sink stack as `ingest --sink <engine>`
 * opens it: the delivering sink (cross-version decisions before sending, the checkpoint and the
 * bookkeeping committed into a real SQLite store once the engine acknowledged each event), the
 * search destination (bulk bodies, requests in flight, per-item outcomes, retries, 409 read-backs).
 * Units are handed over the way the pipeline's driver does: in order, the next before the last
 * is acknowledged, as many outstanding as its window allows with the default workers.
 *
 * Excluded from the time: reading, decoding, normalizing and fingerprinting (done before), the
 * engine check and index template at open, and closing. Printed: one JSON line
 * `{ ms, cpu_s, engine_cpu_s, stored }`.
 *
 * argv: BUILD_ROOT (a checkout whose dist/ is built: this one or another to compare) FILE KIND URL
 * DB BULK_DOCS CONCURRENCY ENGINE_PID [PROFILE_FILE: a V8 CPU profile of the timed part only].
 */
import { writeFileSync } from 'node:fs';
import { Session } from 'node:inspector/promises';
import { availableParallelism } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import type { SourceState } from '../src/core/sink.js';
import type { Unit } from '../src/core/unit.js';
import type * as AckWindowModule from '../src/pipeline/ack-window.js';
import type * as DriverModule from '../src/pipeline/driver.js';
import type * as LoggerModule from '../src/log/logger.js';
import type * as OpenModule from '../src/sinks/open.js';
import type * as RegistryModule from '../src/sinks/registry.js';
import type * as RunModule from '../src/pipeline/run.js';
import type * as TransformModule from '../src/pipeline/transform.js';
import type * as LocalModule from '../src/sources/local.js';
import { engineCpu } from './engine-process.js';

const [root, file, kind, url, db, bulkDocs, concurrency, enginePid, profileFile] = process.argv.slice(2) as [string, string, string, string, string, string, string, string, string?];

/** A module of the build under test (this checkout's or another's), typed as this checkout's. */
const load = <T>(path: string): Promise<T> => import(pathToFileURL(join(root, 'dist/src', path)).href) as Promise<T>;
const [{ AckWindow }, { defaultWorkers }, { Logger }, { openSink }, { SINK_SCHEMA }, { runInputs }, { Transformer }, { localInputs }] = await Promise.all([
  load<typeof AckWindowModule>('pipeline/ack-window.js'), load<typeof DriverModule>('pipeline/driver.js'), load<typeof LoggerModule>('log/logger.js'),
  load<typeof OpenModule>('sinks/open.js'), load<typeof RegistryModule>('sinks/registry.js'), load<typeof RunModule>('pipeline/run.js'),
  load<typeof TransformModule>('pipeline/transform.js'), load<typeof LocalModule>('sources/local.js'),
]);

// The units the pipeline hands a text-only sink (documents as JSON text, as the worker threads send them).
const prepared: ({ unit: Unit; state?: SourceState } | undefined)[] = [];
const capture = {
  documentsAsText: true,
  write(unit: Unit, state?: SourceState) {
    prepared.push({ unit, state });
    return Promise.resolve({ stored: unit.events.length, duplicates: 0, collisions: 0, deadLetters: unit.deadLetters.length });
  },
  close: () => Promise.resolve(),
};
await runInputs((await localInputs([file])).inputs, Transformer.fromSpec({ keepOriginal: true, unknownTypes: 'store' }), capture, { workers: 1 });

const entries = SINK_SCHEMA.parse({ kind, urls: [url], replicas: 0, bulk_docs: Number(bulkDocs), bulk_concurrency: Number(concurrency) });
const sink = await openSink(entries, db, new Logger(process.stderr, 'warn'), {});
// The driver's window with the default workers of `ingest --sink <engine>` on this machine (pipeline/driver.ts).
const workers = defaultWorkers(availableParallelism(), false);
const window = new AckWindow(workers > 1 ? workers + 2 : 2);
let stored = 0;
const profile = profileFile === undefined ? undefined : await startProfile();
const cpu0 = process.cpuUsage();
const engine0 = engineCpu(Number(enginePid));
const t0 = process.hrtime.bigint();
for (let i = 0; i < prepared.length; i++) {
  const { unit, state } = prepared[i]!;
  prepared[i] = undefined; // let a delivered unit go, as the pipeline does
  await window.push(sink.write(unit, state).then((c) => void (stored += c.stored)));
}
await window.drain();
const ms = Number(process.hrtime.bigint() - t0) / 1e6;
const cpu = process.cpuUsage(cpu0);
const engine_cpu_s = engineCpu(Number(enginePid)) - engine0;
if (profile) writeFileSync(profileFile!, JSON.stringify(await profile()));
await sink.close();
process.stdout.write(`${JSON.stringify({ ms, cpu_s: (cpu.user + cpu.system) / 1e6, engine_cpu_s, stored })}\n`);


/** Starts V8's CPU profiler in this thread; the function returned stops it and gives the profile. */
async function startProfile(): Promise<() => Promise<unknown>> {
  const session = new Session();
  session.connect();
  await session.post('Profiler.enable');
  await session.post('Profiler.start');
  return async () => (await session.post('Profiler.stop')).profile;
}
