/**
 * Pipeline throughput: key_value → ECS NDJSON and v2 NDJSON → ECS NDJSON, against a bare
 * JSON.parse + JSON.stringify pass over the same events as JSON, in the same process and run.
 */
import { decodeInput } from '../src/decode/input.js';
import { takeEvents, toKeyValueLine, toV1JsonRecord, toV2Record } from '../src/simulator/generate.js';
import { Classifier } from '../src/classify/classify.js';
import { DEFAULT_TABLES } from '../src/classify/type-tables.js';
import { EcsNormalizer } from '../src/normalize/ecs.js';
import { Transformer } from '../src/pipeline/transform.js';
import { type Row, START_MS, rate, time, timeAsync } from './common.js';

function chunks(text: string, size = 64 * 1024): Buffer[] {
  const buf = Buffer.from(text);
  const out: Buffer[] = [];
  for (let i = 0; i < buf.length; i += size) out.push(buf.subarray(i, i + size));
  return out;
}

async function pipelineOnce(name: string, parts: Buffer[]): Promise<number> {
  const t = new Transformer(new Classifier(DEFAULT_TABLES), new EcsNormalizer({ keepOriginal: true }));
  let bytes = 0;
  async function* source() {
    yield* parts;
  }
  for await (const batch of decodeInput(name, source())) {
    const unit = t.process(batch);
    let text = '';
    for (const e of unit.events) text += `${JSON.stringify(e.doc)}\n`;
    bytes += text.length;
  }
  return bytes;
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
  const rows: Row[] = [
    { name: `events`, value: String(count) },
    { name: 'bare JSON.parse+stringify (baseline)', value: `${results.bare_json_eps.toLocaleString('en')} events/s` },
    { name: 'key_value → ECS NDJSON', value: `${results.kv_eps.toLocaleString('en')} events/s  ratio ${results.kv_ratio} (target ≥ 0.5)` },
    { name: 'v2 NDJSON → ECS NDJSON', value: `${results.v2_eps.toLocaleString('en')} events/s  ratio ${results.v2_ratio} (target ≥ 0.5)` },
  ];
  return { rows, results };
}
