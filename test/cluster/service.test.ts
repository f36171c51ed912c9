/**
 * One `mimelog run` replica with `cluster:` on a real OpenSearch node: it claims the sources,
 * /readyz and /metrics show its leases, and SIGTERM releases them (owner null, checkpoints kept).
 * One of its sources is an API 2.0 batch source (its work queue fenced in the engine).
 */
import assert from 'node:assert/strict';
import { after, before, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import type { SourceDoc } from '../../src/cluster/leases.js';
import { tempDir } from '../support/helpers.js';
import { EngineCluster, notBuiltHint, testNodeBuilt } from '../support/search-engine.js';
import { type Running, logLines, startSimulator } from '../support/simulator.js';
import { Replica, clusterConfig, expectedOf } from './replica-support.js';

let os: EngineCluster;
const sims: Running[] = [];
before(async () => {
  assert.ok(testNodeBuilt(), notBuiltHint('opensearch'));
  os = await EngineCluster.start('opensearch', 1);
  for (const seed of [951, 952, 953]) sims.push(await startSimulator({ seed, events: 1_000, eventsPerFile: 200 }));
});
after(async () => {
  for (const s of sims) await s.sim.stop();
  await os?.stop();
});

it('a replica claims its sources, shows its leases on /readyz and /metrics, and releases them on SIGTERM', { timeout: 120_000 }, async () => {
  const dir = tempDir('cluster-service');
  // 'three' is an API 2.0 batch source: its work queue is fenced in the engine too.
  const sources = [{ name: 'one', kind: 'mimecast-v2-stream' as const, sim: sims[0]! }, { name: 'two', kind: 'mimecast-v1' as const, sim: sims[1]! }, { name: 'three', kind: 'mimecast-v2-batch' as const, sim: sims[2]! }];
  const expected = await expectedOf(sources);
  const config = clusterConfig(dir, sources, { urls: os.urls, leaseS: 6, renewS: 2, stateIndex: 'mimelog-state-service', indexReplicas: 0 });
  const replica = new Replica('solo', config, dir, {});
  replica.start();
  try {
    const deadline = Date.now() + 60_000;
    while ((await os.count().catch(() => 0)) < expected.length) {
      assert.ok(Date.now() < deadline && replica.alive, replica.log.slice(-3000));
      await sleep(200);
    }
    assert.deepEqual(await os.ids(), expected);
    const url = logLines(replica.log).find((l) => l.msg === 'service listening')!.url as string;
    const ready = (await (await fetch(new URL('readyz', url))).json()) as { status: string; cluster: { replica: string; live_replicas: number; leases: { source: string; epoch: number; age_ms: number }[]; claimed: number } };
    assert.equal(ready.cluster.replica, 'solo');
    assert.equal(ready.cluster.live_replicas, 1);
    assert.deepEqual(ready.cluster.leases.map((l) => [l.source, l.epoch]).sort(), [['one', 1], ['three', 1], ['two', 1]]);
    assert.ok(ready.cluster.leases.every((l) => l.age_ms < 6_000));
    const metrics = await (await fetch(new URL('metrics', url))).text();
    assert.match(metrics, /mimelog_lease_epoch\{source="one"\} 1/);
    assert.match(metrics, /mimelog_lease_age_seconds\{source="two"\} \d/);
    assert.match(metrics, /mimelog_cluster_live_replicas 1/);
    assert.match(metrics, /mimelog_lease_events\{event="claimed"\} 3/);
    assert.equal(await replica.signal('SIGTERM'), 0, replica.log.slice(-3000));
    for (const s of ['one', 'two', 'three']) {
      const doc = (await os.request('GET', `/mimelog-state-service/_doc/source:${s}`))._source as SourceDoc;
      assert.equal(doc.owner, null, `${s} released`);
      assert.ok(Object.keys(doc.checkpoints).length > 0, `${s} keeps its checkpoints`);
    }
    assert.ok(logLines(replica.log).some((l) => l.msg === 'cluster: lease released' && l.source === 'one'));
  } finally {
    if (replica.alive) await replica.signal('SIGKILL');
  }
});
