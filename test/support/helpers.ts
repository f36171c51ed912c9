/** Test helpers: run the pipeline in-process on text, and run the CLI as a user would. */
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Rng } from '../../src/simulator/generate.js';
import { fileURLToPath } from 'node:url';
import { Classifier } from '../../src/classify/classify.js';
import { DEFAULT_TABLES, type TypeTables } from '../../src/classify/type-tables.js';
import { decodeBytes } from '../../src/decode/input.js';
import { decodeJsonLine, decodeKeyValueLine } from '../../src/decode/decode-record.js';
import type { DecodedRecord } from '../../src/decode/record.js';
import type { DecodeLimits } from '../../src/decode/limits.js';
import { EcsNormalizer } from '../../src/normalize/ecs.js';
import type { Unit } from '../../src/core/unit.js';
import { Transformer } from '../../src/pipeline/transform.js';

export const ROOT = fileURLToPath(new URL('../../../', import.meta.url));

const tempDirs: string[] = [];
// Each test file runs in its own process: what it created goes when that process ends.
process.on('exit', () => {
  for (const d of tempDirs) rmSync(d, { recursive: true, force: true });
});

/** A new folder under the system temp folder, removed when the test process exits. */
export function tempDir(prefix: string): string {
  const dir = mkdtempSync(join(tmpdir(), `mimelog-${prefix}-`));
  tempDirs.push(dir);
  return dir;
}
export const BIN = `${ROOT}bin/mimelog`;
export const SAMPLES = `${ROOT}samples/`;

export function kv(line: string): DecodedRecord {
  const r = decodeKeyValueLine(line);
  if (!r.ok) throw new Error(`decode failed: ${r.reason}`);
  return r.record;
}

export function json(line: string): DecodedRecord {
  const r = decodeJsonLine(line);
  if (!r.ok) throw new Error(`decode failed: ${r.reason}`);
  return r.record;
}

export function transformer(opts: { tables?: TypeTables; declared?: string; keepOriginal?: boolean } = {}): Transformer {
  return new Transformer(new Classifier(opts.tables ?? DEFAULT_TABLES), new EcsNormalizer({ keepOriginal: opts.keepOriginal ?? true }), opts.declared);
}

/** Runs one named input (bytes or text) through decode and transform, merging its units. */
export async function processInput(name: string, content: Buffer | string, t: Transformer = transformer(), limits?: DecodeLimits): Promise<Unit> {
  const merged: Unit = { source: name, events: [], deadLetters: [], position: 0, last: true };
  for await (const batch of decodeBytes(name, typeof content === 'string' ? Buffer.from(content) : content, { limits })) {
    const unit = t.process(batch);
    merged.events.push(...unit.events);
    merged.deadLetters.push(...unit.deadLetters);
  }
  return merged;
}

export interface RunResult {
  code: number;
  stdout: string;
  stderr: string;
}

export function runCli(args: readonly string[], options: { stdin?: string | Buffer; cwd?: string; env?: NodeJS.ProcessEnv } = {}): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [BIN, ...args], { cwd: options.cwd ?? ROOT, env: { ...process.env, ...options.env } });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout.on('data', (c: Buffer) => out.push(c));
    child.stderr.on('data', (c: Buffer) => err.push(c));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code: code ?? -1, stdout: Buffer.concat(out).toString(), stderr: Buffer.concat(err).toString() }));
    child.stdin.end(options.stdin ?? '');
  });
}

export function lines(text: string): string[] {
  return text.split('\n').filter((l) => l.length > 0);
}

/**
 * Runs `mimelog ARGS` again and again, each time killing it with SIGKILL after a random delay in
 * [minMs, maxMs], until `kills` kills landed or a run finished by itself. Returns the kills landed.
 */
export async function killRepeatedly(args: readonly string[], o: { kills: number; minMs: number; maxMs: number; seed: number; env?: NodeJS.ProcessEnv }): Promise<number> {
  const rng = new Rng(o.seed);
  let kills = 0;
  while (kills < o.kills) {
    const killed = await new Promise<boolean>((resolve) => {
      const child = spawn(process.execPath, [BIN, ...args], { env: { ...process.env, ...o.env }, stdio: 'ignore' });
      const timer = setTimeout(() => child.kill('SIGKILL'), rng.int(o.minMs, o.maxMs));
      child.on('exit', (_code, signal) => {
        clearTimeout(timer);
        resolve(signal === 'SIGKILL');
      });
    });
    if (!killed) break;
    kills++;
  }
  return kills;
}
