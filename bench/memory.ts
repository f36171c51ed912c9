/** Peak RSS of the streaming pipeline for growing inputs: it must stay flat. */
import { toKeyValueLine } from '../src/simulator/generate.js';
import { type Row, corpusFile, ingestInChild } from './common.js';


export async function benchMemory(sizes: readonly number[]): Promise<{ rows: Row[]; results: Record<string, unknown> }> {
  const rows: Row[] = [];
  const results: Record<string, unknown> = {};
  for (const n of sizes) {
    const file = await corpusFile(`kv-${n}.log`, n, toKeyValueLine);
    const out = ingestInChild(file);
    results[String(n)] = out;
    rows.push({ name: `${n.toLocaleString('en')} events (file → ndjson /dev/null)`, value: `peak RSS ${out.maxRssMiB} MiB, ${Math.round(out.events / (out.ms / 1000)).toLocaleString('en')} events/s` });
  }
  return { rows, results };
}
