/**
 * Three replicas of `mimelog run` with `cluster:`, four sources on simulators with faults, the
 * events and the state in a real 3-node OpenSearch cluster. Replicas are killed with kill -9 at
 * random moments and started again, one is killed and left dead (its sources are taken over
 * within the lease time), one is frozen with SIGSTOP past its lease and resumed (its writes are
 * refused), and one engine node is killed and started again. The engine ends with exactly the
 * expected events, and a watcher that read the lease documents all along saw every epoch held by
 * one replica and no checkpoint written under an older epoch after a newer claim.
 *
 * Heavy: run under the shared lock. MIMELOG_CLUSTER_KILLS (default 20) and
 * MIMELOG_CLUSTER_NODES (default 3) make it lighter while developing.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { Rng } from '../../src/simulator/generate.js';
import type { SourceDoc } from '../../src/cluster/leases.js';
import { tempDir } from '../support/helpers.js';
import { EngineCluster, notBuiltHint, testNodeBuilt } from '../support/search-engine.js';
import { type Running, logLines, startSimulator } from '../support/simulator.js';
import { Replica, clusterConfig, expectedOf } from './replica-support.js';

const KILLS = Number(process.env.MIMELOG_CLUSTER_KILLS ?? 20);
const NODES = Number(process.env.MIMELOG_CLUSTER_NODES ?? 3);
const LEASE_S = 3;
const RENEW_S = 1;
const SOURCES = ['acme-v1', 'umbrella-v1', 'initech-stream', 'hooli-stream'];
const STATE_INDEX = 'mimelog-state';

/** Reads every source's lease document over and over, and keeps what would show two owners at once. */
class LeaseWatcher {
  readonly problems: string[] = [];
  /** Per source and epoch: its owner. */
  readonly owners = new Map<string, string>();
  private readonly last = new Map<string, SourceDoc>();
  private running = true;
  private done: Promise<void> | undefined;

  constructor(private readonly os: EngineCluster) {}

  start(): void {
    this.done = (async () => {
      while (this.running) {
        for (const s of SOURCES) await this.look(s).catch(() => undefined); // a node down: read again next round
        await sleep(100);
      }
    })();
  }

  async stop(): Promise<void> {
    this.running = false;
    await this.done;
  }

  async doc(source: string): Promise<SourceDoc> {
    return (await this.versioned(source)).doc;
  }

  private async versioned(source: string): Promise<{ doc: SourceDoc; seqNo: number }> {
    const got = await this.os.request('GET', `/${STATE_INDEX}/_doc/source:${source}`);
    return { doc: got._source as SourceDoc, seqNo: Number(got._seq_no ?? -1) };
  }

  /** Per source: the highest sequence number read so far. */
  private readonly seen = new Map<string, number>();

  private async look(source: string): Promise<void> {
    const { doc, seqNo } = await this.versioned(source);
    if (!doc) return;
    // A GET may be served by any copy of the shard, and a replica applies a write a moment after
    // the primary: a read of an older version after a newer one is the engine's read, not a write
    // that went back. Only versions newer than any seen are compared (the order the engine wrote them).
    if (seqNo <= (this.seen.get(source) ?? -1)) return;
    this.seen.set(source, seqNo);
    const before = this.last.get(source);
    if (before) {
      if (doc.epoch < before.epoch) this.problems.push(`${source}: epoch went back from ${before.epoch} to ${doc.epoch}`);
      for (const [key, c] of Object.entries(doc.checkpoints)) {
        const was = before.checkpoints[key];
        if (was && c.epoch < was.epoch) this.problems.push(`${source} ${key}: checkpoint written under epoch ${c.epoch} after one of epoch ${was.epoch}`);
        if (was && c.epoch === was.epoch && c.epoch < doc.epoch && c.cursor !== was.cursor && before.epoch === doc.epoch && doc.owner !== null) {
          // moved under an epoch that was no longer the lease's
          this.problems.push(`${source} ${key}: checkpoint moved under epoch ${c.epoch} while epoch ${doc.epoch} held the lease`);
        }
      }
    }
    for (const h of doc.history) {
      const k = `${source}#${h.epoch}`;
      const owner = this.owners.get(k);
      if (owner !== undefined && owner !== h.owner) this.problems.push(`${source}: epoch ${h.epoch} claimed by ${owner} and by ${h.owner}`);
      this.owners.set(k, h.owner);
    }
    this.last.set(source, doc);
  }
}

describe('mimelog run: three replicas sharing four sources', () => {
  let os: EngineCluster;
  const sims: Running[] = [];
  let expected: string[] = [];
  before(async () => {
    assert.ok(testNodeBuilt(), notBuiltHint('opensearch'));
    os = await EngineCluster.start('opensearch', NODES);
    const v1Faults = { enabled: ['429', '5xx', 'reset'] as const, rate: 0.1 };
    const v2Faults = { enabled: ['429', '5xx', 'token-expiry'] as const, rate: 0.1 };
    sims.push(await startSimulator({ seed: 901, events: 20_000, eventsPerFile: 200, faults: { enabled: [...v1Faults.enabled], rate: v1Faults.rate, seed: 1 } }));
    sims.push(await startSimulator({ seed: 902, events: 20_000, eventsPerFile: 200, faults: { enabled: [...v1Faults.enabled], rate: v1Faults.rate, seed: 2 } }));
    sims.push(await startSimulator({ seed: 903, events: 20_000, eventsPerFile: 200, faults: { enabled: [...v2Faults.enabled], rate: v2Faults.rate, seed: 3 }, v2: { tokenTtlMs: 4000 } }));
    sims.push(await startSimulator({ seed: 904, events: 20_000, eventsPerFile: 200, faults: { enabled: [...v2Faults.enabled], rate: v2Faults.rate, seed: 4 }, v2: { tokenTtlMs: 4000 } }));
    expected = await expectedOf(SOURCES.map((name, i) => ({ name, kind: i < 2 ? 'mimecast-v1' : 'mimecast-v2-stream', sim: sims[i]! })));
    assert.equal(expected.length, 80_000, 'four simulators with distinct events');
  });
  after(async () => {
    for (const s of sims) await s.sim.stop();
    await os?.stop();
  });

  it('replicas killed, frozen and left dead, an engine node killed: every event once, one owner per epoch, take-over within the lease time', { timeout: 1_200_000 }, async () => {
    const dir = tempDir('replicas');
    const config = clusterConfig(dir, SOURCES.map((name, i) => ({ name, kind: i < 2 ? 'mimecast-v1' : 'mimecast-v2-stream', sim: sims[i]! })), {
      urls: os.urls, leaseS: LEASE_S, renewS: RENEW_S, stateIndex: STATE_INDEX, indexReplicas: NODES > 1 ? 1 : 0,
    });
    const replicas = ['r1', 'r2', 'r3'].map((id) => new Replica(id, config, dir, {}));
    const watcher = new LeaseWatcher(os);
    const rng = new Rng(77);
    const owned = async (id: string) => (await Promise.all(SOURCES.map((s) => watcher.doc(s).catch(() => undefined)))).filter((d): d is SourceDoc => d?.owner === id);
    try {
      for (const r of replicas) r.start();
      const deadline = Date.now() + 120_000;
      while ((await os.count().catch(() => 0)) < 1_000) {
        assert.ok(Date.now() < deadline, `no events arrived: ${replicas.map((r) => r.log.slice(-1500)).join('\n---\n')}`);
        await sleep(200);
      }
      watcher.start();

      // kill -9 at random moments, each replica started again after a short while.
      let whileWorking = 0;
      for (let k = 0; k < KILLS; k++) {
        const victim = replicas[rng.int(0, replicas.length - 1)]!;
        await sleep(rng.int(200, 1_000));
        await victim.signal('SIGKILL');
        if ((await os.count().catch(() => 0)) < expected.length) whileWorking++;
        await sleep(rng.int(0, 500));
        victim.start();
      }
      assert.ok(whileWorking >= KILLS / 2, `only ${whileWorking} of ${KILLS} kills landed while events were still to come; make the simulators larger`);

      // One replica killed and left dead: every source it held is taken over within the lease time.
      await sleep(2 * RENEW_S * 1000);
      const dead = (await Promise.all(replicas.map(async (r) => ({ r, docs: await owned(r.id) })))).find((x) => x.docs.length > 0)!;
      await dead.r.signal('SIGKILL');
      const diedAt = Date.now();
      const takenOver: number[] = [];
      for (const d of dead.docs) {
        while ((await watcher.doc(d.source)).epoch === d.epoch) {
          assert.ok(Date.now() - diedAt < 30_000, `${d.source} was not taken over`);
          await sleep(50);
        }
        takenOver.push(Date.now() - diedAt);
      }
      const bound = (LEASE_S + 2 * RENEW_S) * 1000 + 1_000; // the lease, a renew interval each side, and reading
      assert.ok(Math.max(...takenOver) <= bound, `take-over after ${takenOver.join(', ')} ms (bound ${bound})`);
      dead.r.start();

      // One replica frozen past its lease, then resumed: what it held is someone else's, its writes are refused.
      await sleep(3 * RENEW_S * 1000);
      const frozen = (await Promise.all(replicas.map(async (r) => ({ r, docs: await owned(r.id) })))).find((x) => x.docs.length > 0)!;
      frozen.r.child!.kill('SIGSTOP');
      for (const d of frozen.docs) while ((await watcher.doc(d.source)).epoch === d.epoch) await sleep(100);
      await sleep(1_000);
      frozen.r.child!.kill('SIGCONT');
      const lostSaid = Date.now() + 15_000;
      while (!frozen.docs.every((d) => logLines(frozen.r.log).some((l) => l.msg === 'cluster: lease lost; stopping its group at once' && l.source === d.source && l.epoch === d.epoch))) {
        assert.ok(Date.now() < lostSaid, `the resumed replica did not notice it lost its leases:\n${frozen.r.log.slice(-3000)}`);
        await sleep(100);
      }

      // One engine node killed and started again.
      if (NODES > 1) {
        await os.killNode(os.nodes[2]!.name);
        await sleep(5_000);
        await os.startNode(os.nodes[2]!.name);
      }

      const finish = Date.now() + 600_000;
      while ((await os.count().catch(() => 0)) < expected.length) {
        assert.ok(Date.now() < finish, `not every event arrived: ${await os.count()} of ${expected.length}`);
        await sleep(500);
      }
      await sleep(2 * RENEW_S * 1000); // the units in hand commit
      await watcher.stop();
      for (const r of replicas) assert.equal(await r.signal('SIGTERM'), 0, `${r.id} stopped cleanly:\n${r.log.slice(-3000)}`);
      if (NODES > 1) await os.waitHealthy('green', NODES);
      assert.deepEqual(await os.ids(), expected, 'every event once: none lost, none doubled');
      assert.deepEqual(watcher.problems, [], 'no two owners at once');
      // From the lease epochs: each claim of a source has its own epoch and one owner, in order.
      const claims = replicas.flatMap((r) => logLines(r.log).filter((l) => l.msg === 'cluster: lease claimed').map((l) => ({ source: l.source as string, epoch: l.epoch as number, replica: r.id })));
      for (const s of SOURCES) {
        const epochs = claims.filter((c) => c.source === s).map((c) => c.epoch).sort((a, b) => a - b);
        assert.equal(new Set(epochs).size, epochs.length, `${s}: no epoch claimed twice`);
        const doc = await watcher.doc(s);
        assert.equal(doc.owner, null, `${s}: released on SIGTERM`);
        assert.equal(Math.max(...epochs), doc.epoch);
      }
      const handovers = (await Promise.all(SOURCES.map((s) => watcher.doc(s)))).reduce((n, d) => n + d.handovers, 0);
      process.stderr.write(`replicas: ${whileWorking} of ${KILLS} kills while events were to come, ${claims.length} claims, ${handovers} hand-overs, take-over after death ${takenOver.join(', ')} ms (lease ${LEASE_S * 1000} ms)\n`);
    } finally {
      await watcher.stop();
      for (const r of replicas) if (r.alive) await r.signal('SIGKILL');
    }
  });
});
