/**
 * Pipeline throughput: key_value → ECS NDJSON and v2 NDJSON → ECS NDJSON in memory, against a bare
 * JSON.parse + JSON.stringify pass over the same events as JSON, in the same process and run; and
 * the whole pipeline (a file → NDJSON to /dev/null, each run its own process) with 1 and 2 worker
 * threads, against the serialization floor: a bare JSON.parse + JSON.stringify of the documents it
 * writes.
 */
import { readFileSync } from 'node:fs';
import { decodeInput } from '../src/decode/input.js';
import { takeEvents, toKeyValueLine, toV1JsonRecord, toV2Record } from '../src/simulator/generate.js';
import { Classifier } from '../src/classify/classify.js';
import { DEFAULT_TABLES } from '../src/classify/type-tables.js';
import { EcsNormalizer } from '../src/normalize/ecs.js';
import { Transformer } from '../src/pipeline/transform.js';
import { type Unit, documentJson } from '../src/core/unit.js';
import { ndjsonOf } from '../src/sinks/ndjson.js';
import { type ChildRun, type Row, START_MS, corpusFile, ingestInChild, rate, time, timeAsync } from './common.js';

function chunks(text: string, size = 64 * 1024): Buffer[] {
  const buf = Buffer.from(text);
  const out: Buffer[] = [];
  for (let i = 0; i < buf.length; i += size) out.push(buf.subarray(i, i + size));
  return out;
}

/** The input `parts` decoded and processed, unit by unit, in memory. */
async function* processedUnits(name: string, parts: Buffer[]): AsyncGenerator<Unit> {
  const t = new Transformer(new Classifier(DEFAULT_TABLES), new EcsNormalizer({ keepOriginal: true }));
  async function* source() {
    yield* parts;
  }
  // As for the NDJSON sink: events carry their documents as text only.
  for await (const batch of decodeInput(name, source())) yield t.process(batch, false);
}

async function pipelineOnce(name: string, parts: Buffer[]): Promise<number> {
  let bytes = 0;
  // What the NDJSON sink writes for each unit (the bytes its documents were written to).
  for await (const unit of processedUnits(name, parts)) bytes += ndjsonOf(unit).length;
  return bytes;
}

/** The documents the pipeline writes for `parts`, one JSON text each. */
async function outputDocuments(name: string, parts: Buffer[]): Promise<string[]> {
  const docs: string[] = [];
  for await (const unit of processedUnits(name, parts)) for (const e of unit.events) docs.push(documentJson(e));
  return docs;
}

function bareJsonOnce(jsonLines: readonly string[]): number {
  let bytes = 0;
  let text = '';
  for (let i = 0; i < jsonLines.length; i++) {
    text += `${JSON.stringify(JSON.parse(jsonLines[i]!))}\n`;
    if (text.length > 1 << 20) {
      bytes += text.length;
      text = '';
    }
  }
  return bytes + text.length;
}

export async function benchPipeline(count: number): Promise<{ rows: Row[]; results: Record<string, number> }> {
  const events = takeEvents({ seed: 2026, startMs: START_MS }, count);
  const jsonLines = events.map((e) => JSON.stringify(toV1JsonRecord(e)));
  const kvParts = chunks(events.map(toKeyValueLine).join('\n'));
  const v2Parts = chunks(events.map((e, i) => JSON.stringify(toV2Record(e, { shape: 'batch', offset: i }))).join('\n'));
  // Warm up each path once, then take the best of three (machines here are noisy).
  bareJsonOnce(jsonLines.slice(0, 20_000));
  await pipelineOnce('warm.log', kvParts.slice(0, 20));
  await pipelineOnce('warm.ndjson', v2Parts.slice(0, 20));
  const best = async (fn: () => Promise<unknown> | unknown) => {
    let ms = Infinity;
    for (let i = 0; i < 3; i++) ms = Math.min(ms, (await timeAsync(async () => fn())).ms);
    return ms;
  };
  const bare = await best(() => bareJsonOnce(jsonLines));
  const kvMs = await best(() => pipelineOnce('bench.log', kvParts));
  const v2Ms = await best(() => pipelineOnce('bench.ndjson', v2Parts));
  const results = {
    events: count,
    bare_json_eps: rate(count, bare),
    kv_eps: rate(count, kvMs),
    v2_eps: rate(count, v2Ms),
    kv_ratio: +(bare / kvMs).toFixed(3),
    v2_ratio: +(bare / v2Ms).toFixed(3),
  };
  void time;
  // The whole pipeline in its own process, with one thread and with two worker threads.
  const file = await corpusFile(`kv-${count}.log`, count, toKeyValueLine);
  const outputDocs = await outputDocuments(file, chunks(readFileSync(file, 'utf8')));
  const floor = await best(() => bareJsonOnce(outputDocs));
  const whole = (workers: number): ChildRun => {
    let fastest: ChildRun | undefined;
    for (let i = 0; i < 3; i++) {
      const run = ingestInChild(file, workers);
      if (!fastest || run.ms < fastest.ms) fastest = { ...run, maxRssMiB: Math.max(run.maxRssMiB, fastest?.maxRssMiB ?? 0) };
    }
    return fastest!;
  };
  const one = whole(1);
  const two = whole(2);
  const floorEps = rate(count, floor);
  const wholeResults = {
    output_json_eps: floorEps,
    workers1_eps: rate(one.events, one.ms), workers1_ratio: +(floor / one.ms).toFixed(3), workers1_max_rss_mib: one.maxRssMiB,
    workers2_eps: rate(two.events, two.ms), workers2_ratio: +(floor / two.ms).toFixed(3), workers2_max_rss_mib: two.maxRssMiB,
    workers2_vs_1: +(one.ms / two.ms).toFixed(3),
  };
  const rows: Row[] = [
    { name: `events`, value: String(count) },
    { name: 'bare JSON.parse+stringify (baseline)', value: `${results.bare_json_eps.toLocaleString('en')} events/s` },
    { name: 'key_value → ECS NDJSON', value: `${results.kv_eps.toLocaleString('en')} events/s  ratio ${results.kv_ratio} (target ≥ 0.5)` },
    { name: 'v2 NDJSON → ECS NDJSON', value: `${results.v2_eps.toLocaleString('en')} events/s  ratio ${results.v2_ratio} (target ≥ 0.5)` },
    { name: 'bare JSON.parse+stringify of the output documents (the floor)', value: `${floorEps.toLocaleString('en')} events/s` },
    { name: 'whole pipeline, key_value file → NDJSON, --workers 1', value: `${rate(one.events, one.ms).toLocaleString('en')} events/s  ratio ${(floor / one.ms).toFixed(3)}  peak RSS ${one.maxRssMiB} MiB` },
    { name: 'whole pipeline, key_value file → NDJSON, --workers 2', value: `${rate(two.events, two.ms).toLocaleString('en')} events/s  ratio ${(floor / two.ms).toFixed(3)}  peak RSS ${two.maxRssMiB} MiB  (${(one.ms / two.ms).toFixed(2)}× --workers 1)` },
  ];
  return { rows, results: { ...results, ...wholeResults } };
}
