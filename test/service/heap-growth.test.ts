/**
 * Issue 31 item 3: `heap_growth_percent` bounds how far a thread's heap grows past its live data
 * (the service's memory held garbage: 194 MiB of main-thread heap on a 1M-event backlog). The
 * setting is read from the config with its default and range, and applied it keeps a heap that
 * allocates fast near what it holds: two real Node processes run the same allocations, one with
 * the bound.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { pathToFileURL } from 'node:url';
import { loadConfig } from '../../src/service/config.js';
import { ConfigError } from '../../src/util/errors.js';
import { ROOT, tempDir } from '../support/helpers.js';

const RUN_MODULE = pathToFileURL(join(ROOT, 'dist', 'src', 'service', 'run.js')).href;

/** Units of 2,000 small objects, the last 20 kept (a window of units in flight): the peak heap in MiB. */
function peakHeapMib(bound: number | undefined): number {
  const script = `
    ${bound === undefined ? '' : `(await import(${JSON.stringify(RUN_MODULE)})).boundHeapGrowth(${bound});`}
    const kept = [];
    let peak = 0;
    for (let round = 0; round < 400; round++) {
      const unit = [];
      for (let i = 0; i < 2000; i++) unit.push({ text: 'x'.repeat(200) + i, list: [i, i + 1, { n: String(i) }] });
      kept.push(unit);
      if (kept.length > 20) kept.shift();
      peak = Math.max(peak, process.memoryUsage().heapTotal);
    }
    process.stdout.write(String(Math.round(peak / 1048576)));`;
  const r = spawnSync(process.execPath, ['--single-threaded-gc', '--input-type=module', '-e', script], { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  return Number(r.stdout);
}

function config(extra: string): string {
  const dir = tempDir('heap-growth');
  const file = join(dir, 'mimelog.yaml');
  writeFileSync(file, `store: ${join(dir, 'x.db')}\n${extra}sources:\n  - name: drop\n    kind: spool\n    path: ${dir}\n`, { mode: 0o600 });
  return file;
}

describe('service memory: heap_growth_percent', () => {
  it('is a config key with a default of 25 and a range, refused outside it with the key named', () => {
    assert.equal(loadConfig(config(''), {}).heap_growth_percent, 25);
    assert.equal(loadConfig(config('heap_growth_percent: 50\n'), {}).heap_growth_percent, 50);
    assert.throws(() => loadConfig(config('heap_growth_percent: 1\n'), {}), (err: unknown) => err instanceof ConfigError && /heap_growth_percent/.test(err.message) && /5 to 400/.test(err.message));
  });

  it('keeps a heap that allocates fast well under what V8 lets it grow to by itself', () => {
    // Each child collects on its own thread only (--single-threaded-gc): with V8's helper threads
    // the bounded heap's peak moved with what else the machine did (94 to 122 MiB in one loaded
    // clean-clone CI, and no effect at all in some runs beside a 3-node engine test), since its
    // concurrent marking got less CPU. Single-threaded, the free heap peaks at 141-150 MiB and the
    // bounded one well below it, idle or beside two busy loops; without the bound the two medians
    // are equal. The median of five runs of each, taken in turn.
    const runs = [0, 1, 2, 3, 4].map(() => [peakHeapMib(undefined), peakHeapMib(25)] as const);
    const median = (values: number[]) => values.sort((a, b) => a - b)[2]!;
    const free = median(runs.map(([f]) => f));
    const bounded = median(runs.map(([, b]) => b));
    assert.ok(bounded < free * 0.85, `peak heap ${bounded} MiB with the bound, ${free} MiB without (medians of runs: ${JSON.stringify(runs)})`);
  });
});
