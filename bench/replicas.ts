/**
 * Replicas (`cluster:`): how collection scales with 1, 2 and 3 replicas of `mimelog run` sharing
 * four API 2.0 stream sources, into one local OpenSearch node (full JIT), each run from empty
 * (fresh indices, state index and stores); and what the state index costs per unit, from one
 * replica against the same config without `cluster:`. All processes share this machine's cores,
 * so the ratios say what the replicas add on one machine, not on three.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { EngineCluster, notBuiltHint, testNodeBuilt } from '../test/support/search-engine.js';
import { startSimulator, type Running } from '../test/support/simulator.js';
import { type ClusterSource, Replica, clusterConfig } from '../test/cluster/replica-support.js';
import { BENCH_DIR, type Row, rate } from './common.js';

const PAGE = 200; // events per unit: the sources' page_size in the config

async function timeRun(node: EngineCluster, sources: readonly ClusterSource[], total: number, replicas: number, cluster: boolean, run: number): Promise<number> {
  await node.request('DELETE', '/mimecast-siem-*');
  const dir = mkdtempSync(join(BENCH_DIR, 'replicas-'));
  try {
    const config = clusterConfig(dir, sources, { urls: node.urls, leaseS: 15, renewS: 5, stateIndex: `mimelog-state-bench-${run}`, indexReplicas: 0, cluster });
    const procs = Array.from({ length: replicas }, (_, i) => new Replica(`b${i + 1}`, config, dir, {}));
    const started = Date.now();
    for (const p of procs) p.start();
    try {
      while ((await node.count().catch(() => 0)) < total) {
        if (procs.some((p) => !p.alive)) throw new Error(`a replica ended:\n${procs.map((p) => p.log.slice(-2000)).join('\n')}`);
        await sleep(250);
      }
      return Date.now() - started;
    } finally {
      for (const p of procs) await p.signal('SIGTERM');
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

export async function benchReplicas(perSource: number): Promise<{ rows: Row[]; results: Record<string, unknown> }> {
  if (!testNodeBuilt('opensearch')) throw new Error(notBuiltHint('opensearch'));
  const node = await EngineCluster.start('opensearch', 1, 'full');
  const sims: Running[] = [];
  try {
    for (let i = 0; i < 4; i++) sims.push(await startSimulator({ seed: 1_001 + i, events: perSource, eventsPerFile: PAGE }));
    const sources: ClusterSource[] = sims.map((sim, i) => ({ name: `stream-${i + 1}`, kind: 'mimecast-v2-stream', sim }));
    const total = perSource * 4;
    const units = total / PAGE;
    const plainMs = await timeRun(node, sources, total, 1, false, 0);
    const ms = [await timeRun(node, sources, total, 1, true, 1), await timeRun(node, sources, total, 2, true, 2), await timeRun(node, sources, total, 3, true, 3)];
    const results = {
      events: total, units, plain_eps: rate(total, plainMs),
      replicas: ms.map((m, i) => ({ replicas: i + 1, eps: rate(total, m), ratio: +(ms[0]! / m).toFixed(2) })),
      state_index_ms_per_unit: +((ms[0]! - plainMs) / units).toFixed(2),
    };
    const rows: Row[] = [
      { name: 'events', value: `${total.toLocaleString('en')} from 4 API 2.0 streams (units of ${PAGE}), one OpenSearch node, all on this machine's cores` },
      { name: 'one process without cluster: (baseline)', value: `${results.plain_eps.toLocaleString('en')} events/s` },
      ...results.replicas.map((r) => ({ name: `${r.replicas} replica${r.replicas > 1 ? 's' : ''}`, value: `${r.eps.toLocaleString('en')} events/s  ratio ${r.ratio} to one replica` })),
      { name: 'state index cost', value: `${results.state_index_ms_per_unit} ms per unit (one replica vs the baseline, over ${units} units)` },
    ];
    return { rows, results };
  } finally {
    for (const s of sims) await s.sim.stop();
    await node.stop();
  }
}
