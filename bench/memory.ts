/** Peak RSS of the streaming pipeline for growing inputs: it must stay flat. */
import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { toKeyValueLine } from '../src/simulator/generate.js';
import { type Row, corpusFile } from './common.js';

const child = fileURLToPath(new URL('./rss-child.js', import.meta.url));

export async function benchMemory(sizes: readonly number[]): Promise<{ rows: Row[]; results: Record<string, unknown> }> {
  const rows: Row[] = [];
  const results: Record<string, unknown> = {};
  for (const n of sizes) {
    const file = await corpusFile(`kv-${n}.log`, n, toKeyValueLine);
    const out = JSON.parse(execFileSync(process.execPath, [child, file], { encoding: 'utf8', maxBuffer: 1 << 20 })) as { events: number; ms: number; maxRssMiB: number };
    results[String(n)] = out;
    rows.push({ name: `${n.toLocaleString('en')} events (file → ndjson /dev/null)`, value: `peak RSS ${out.maxRssMiB} MiB, ${Math.round(out.events / (out.ms / 1000)).toLocaleString('en')} events/s` });
  }
  return { rows, results };
}
