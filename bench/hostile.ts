/**
 * Peak RSS on hostile inputs with the default limits, next to a clean file in the same run.
 * Each case runs in its own child (rss-child.js: the whole ingest pipeline to /dev/null).
 */
import { createWriteStream, existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createGzip } from 'node:zlib';
import { pipeline } from 'node:stream/promises';
import { Readable } from 'node:stream';
import { zipMembers } from '../src/simulator/zip.js';
import { toKeyValueLine } from '../src/simulator/generate.js';
import { BENCH_DIR, type Row, corpusFile, ingestInChild } from './common.js';

const dir = join(BENCH_DIR, 'hostile');

async function once(name: string, make: (path: string) => Promise<void>): Promise<string> {
  mkdirSync(dir, { recursive: true });
  const path = join(dir, name);
  if (!existsSync(path)) await make(path);
  return path;
}

function* repeat(chunk: Buffer, times: number): Generator<Buffer> {
  for (let i = 0; i < times; i++) yield chunk;
}

const CASES: { name: string; file: () => Promise<string> }[] = [
  { name: 'clean: 200,000 key_value events (baseline)', file: () => corpusFile('kv-200000.log', 200_000, toKeyValueLine) },
  {
    name: '1 GiB of zeros, gzipped (a decompression bomb)',
    file: () => once('zeros.gz', (p) => pipeline(Readable.from(repeat(Buffer.alloc(1 << 20), 1024)), createGzip({ level: 9 }), createWriteStream(p))),
  },
  {
    name: 'one 200 MB line between two records',
    file: () => once('long-line.log', (p) => pipeline(Readable.from((function* () {
      yield Buffer.from('datetime=2026-11-01T00:00:00+0000|acc=C0A0|aCode=a|Subject=x\n');
      yield* repeat(Buffer.alloc(1 << 20, 0x61), 200);
      yield Buffer.from('\ndatetime=2026-11-01T00:00:01+0000|acc=C0A0|aCode=b|Subject=y\n');
    })()), createWriteStream(p))),
  },
  {
    name: 'one record with 1,000,000 keys',
    file: () => once('million-keys.ndjson', async (p) => {
      const parts = ['{"type":"receipt","timestamp":"1761955200000"'];
      for (let i = 0; i < 1_000_000; i++) parts.push(`,"k${i}":"v"`);
      writeFileSync(p, `${parts.join('')}}\n`);
    }),
  },
  {
    name: 'zips nested 4,000 deep',
    file: () => once('nested.zip', async (p) => {
      let bytes: Buffer = Buffer.from('datetime=2026-11-01T00:00:00+0000|acc=C0A0|aCode=a\n');
      for (let i = 0; i < 4000; i++) bytes = await zipMembers({ [`l${i}.zip`]: bytes });
      writeFileSync(p, bytes);
    }),
  },
];

export async function benchHostile(): Promise<{ rows: Row[]; results: Record<string, unknown> }> {
  const rows: Row[] = [];
  const results: Record<string, unknown> = {};
  let baseline = 0;
  for (const c of CASES) {
    const file = await c.file();
    const out = ingestInChild(file);
    baseline ||= out.maxRssMiB;
    results[c.name] = out;
    rows.push({ name: c.name, value: `peak RSS ${out.maxRssMiB} MiB (${(out.maxRssMiB / baseline).toFixed(2)}× the clean file), ${(out.ms / 1000).toFixed(1)} s, ${out.events} events` });
  }
  return { rows, results };
}
