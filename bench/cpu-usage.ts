/**
 * Preloaded into a benchmarked mimelog process (`node --import`): when it exits, writes the CPU
 * time it used (every thread) to MIMELOG_BENCH_CPU_FILE, so a benchmark can say how much of the
 * machine mimelog took next to the engine it fed.
 */
import { writeFileSync } from 'node:fs';

const out = process.env.MIMELOG_BENCH_CPU_FILE;
if (out) {
  process.on('exit', () => {
    const { user, system } = process.cpuUsage();
    writeFileSync(out, JSON.stringify({ cpu_s: (user + system) / 1e6 }));
  });
}
