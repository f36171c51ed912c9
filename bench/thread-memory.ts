/**
 * Preloaded into a benchmarked mimelog process (`node --import`; worker threads inherit it): each
 * thread writes the peak of its V8 heap (total, and its young generation), its external memory
 * and the process's RSS, every half second, to MIMELOG_BENCH_MEMORY_DIR/thread-N.json, so a
 * benchmark can say which thread holds the memory.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { getHeapSpaceStatistics } from 'node:v8';
import { isMainThread, threadId } from 'node:worker_threads';

/** A thread's peaks, in MiB. */
export interface ThreadMemory {
  readonly main: boolean;
  heap_total: number;
  heap_used: number;
  young: number;
  old: number;
  external: number;
  rss: number;
}

const dir = process.env.MIMELOG_BENCH_MEMORY_DIR;
if (dir) {
  const peak: ThreadMemory = { main: isMainThread, heap_total: 0, heap_used: 0, young: 0, old: 0, external: 0, rss: 0 };
  const mib = (n: number) => Math.round(n / 1048576);
  const sample = () => {
    const m = process.memoryUsage();
    const spaces = getHeapSpaceStatistics();
    const size = (names: string[]) => spaces.filter((s) => names.includes(s.space_name)).reduce((n, s) => n + s.space_size, 0);
    const now = {
      heap_total: mib(m.heapTotal), heap_used: mib(m.heapUsed), young: mib(size(['new_space'])), old: mib(size(['old_space', 'code_space', 'large_object_space', 'new_large_object_space'])),
      external: mib(m.external), rss: isMainThread ? mib(m.rss) : 0,
    };
    for (const [k, v] of Object.entries(now) as [Exclude<keyof ThreadMemory, 'main'>, number][]) peak[k] = Math.max(peak[k], v);
    writeFileSync(join(dir, `thread-${threadId}.json`), JSON.stringify(peak));
  };
  setInterval(sample, 500).unref();
  process.on('exit', sample);
}
