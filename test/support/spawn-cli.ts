/** A `mimelog` child process whose peak resident memory (VmHWM) is followed while it runs. */
import { type ChildProcess, spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { BIN, ROOT, type RunResult } from './helpers.js';

export function spawnCli(args: string[], env: NodeJS.ProcessEnv): { child: ChildProcess; done: Promise<RunResult & { peakRssMiB: number }> } {
  const child = spawn(process.execPath, [BIN, ...args], { cwd: ROOT, env: { ...process.env, ...env } });
  const out: Buffer[] = [];
  const err: Buffer[] = [];
  let peakKiB = 0;
  const watch = setInterval(() => {
    try {
      peakKiB = Math.max(peakKiB, Number(/VmHWM:\s+(\d+)/.exec(readFileSync(`/proc/${child.pid}/status`, 'utf8'))?.[1] ?? 0));
    } catch {
      // gone
    }
  }, 20);
  child.stdout!.on('data', (c: Buffer) => out.push(c));
  child.stderr!.on('data', (c: Buffer) => err.push(c));
  const done = new Promise<RunResult & { peakRssMiB: number }>((resolve) =>
    child.on('close', (code) => {
      clearInterval(watch);
      resolve({ code: code ?? -1, stdout: Buffer.concat(out).toString(), stderr: Buffer.concat(err).toString(), peakRssMiB: Math.round(peakKiB / 1024) });
    }),
  );
  return { child, done };
}
