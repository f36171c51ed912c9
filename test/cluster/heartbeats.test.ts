/**
 * Heartbeats of replicas gone, against a real OpenSearch node: past a thousand of them (a
 * deployment whose replica ids change at every start, as Kubernetes pod names do) the live
 * replicas are still found, and the ones unchanged for long are deleted, conditionally, never a
 * live one. Hostile heartbeats (absurd fields, a clock that lies) neither count nor stop a round.
 */
import assert from 'node:assert/strict';
import { PassThrough } from 'node:stream';
import { after, before, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { Logger } from '../../src/log/logger.js';
import { SearchClient } from '../../src/sinks/search/client.js';
import { StateIndex } from '../../src/cluster/state-index.js';
import { LeaseBook } from '../../src/cluster/leases.js';
import { Coordinator, replicaDocId, staleHeartbeatMs } from '../../src/cluster/coordinator.js';
import type { EngineCluster } from '../support/search-engine.js';
import { stateEngine } from './replica-support.js';

const quiet = () => new Logger(new PassThrough(), 'error');
const STALE = 1_200;
const LEASE_MS = 1_000;

/** Waits until `ok()` holds, at most `ms`; says what it waited for. */
async function until(ok: () => boolean | Promise<boolean>, ms: number, what: () => string): Promise<void> {
  const end = performance.now() + ms;
  while (!(await ok())) {
    if (performance.now() > end) assert.fail(`not within ${ms} ms: ${what()}`);
    await sleep(50);
  }
}

describe('heartbeats of replicas gone', () => {
  let os: EngineCluster;
  let client: SearchClient;
  let index: StateIndex;
  const NAME = 'mimelog-state-heartbeats';
  before(async () => {
    ({ os, client, index } = await stateEngine(NAME));
  });
  after(async () => {
    await client?.close();
    await os?.stop();
  });

  const heartbeatCount = async () => {
    await client.send('POST', `/${NAME}/_refresh`);
    return ((await client.send('POST', `/${NAME}/_count`, JSON.stringify({ query: { term: { kind: 'replica' } } }))).body as { count: number }).count;
  };

  it(`with ${STALE} heartbeats of replicas gone, the two live replicas see each other; once those are unchanged long enough they are deleted, the live ones kept`, async () => {
    const at = (i: number) => new Date(Date.UTC(2026, 0, 1) + i * 1000).toISOString();
    const planted = Array.from({ length: STALE }, (_, i) => {
      const doc = { kind: 'replica', replica: `pod-${i}`, beats: 7, left: i % 2 === 0, owns: [], sources: ['hb'], layout: 'x', at: at(i) };
      return `${JSON.stringify({ index: { _index: NAME, _id: replicaDocId(`pod-${i}`) } })}\n${JSON.stringify(doc)}\n`;
    });
    // Hostile ones: a replica id that is not a string, fields of the wrong kinds, a clock that lies (year 9999), one never left.
    const hostile = [
      { _id: 'replica:liar', kind: 'replica', replica: 'liar', beats: 1e300, left: 'no', owns: 'all', sources: ['hb'], at: '9999-12-31T23:59:59Z' },
      { _id: 'replica:12345', kind: 'replica', replica: 12345, beats: -1, left: false, sources: 'hb', at: null },
      { _id: 'replica:other-name', kind: 'replica', replica: 'not-its-id', left: false, sources: ['hb'] },
    ].map(({ _id, ...doc }) => `${JSON.stringify({ index: { _index: NAME, _id } })}\n${JSON.stringify(doc)}\n`);
    const res = await client.send('POST', '/_bulk?refresh=true', [...planted, ...hostile].join(''), 'application/x-ndjson');
    assert.equal(res.status, 200);
    assert.equal(await heartbeatCount(), STALE + 3);

    let skip = 0; // a's clock runs as the real one, and jumps when the test says
    const aClock = () => performance.now() + skip;
    const run = async (_group: string, _leases: unknown, stop: AbortSignal) => new Promise<void>((resolve) => stop.addEventListener('abort', () => resolve(), { once: true }));
    // b beats every 50 ms; a looks every 300 ms, on a clock the test moves on.
    const a = new Coordinator(new LeaseBook(index, { replica: 'a', leaseMs: LEASE_MS, now: aClock }), ['hb'], run, { renewMs: 300 }, quiet());
    const b = new Coordinator(new LeaseBook(index, { replica: 'b', leaseMs: LEASE_MS }), ['hb'], run, { renewMs: 50 }, quiet());
    try {
      await Promise.all([a.start(), b.start()]);
      // For their first lease time both count every heartbeat not marked left as live (not yet seen unchanged for a lease).
      await until(() => a.liveReplicas === 2 && b.liveReplicas === 2, 8_000, () => `live replicas seen by a: ${a.liveReplicas}, by b: ${b.liveReplicas}`);
      await sleep(400);
      assert.equal(await heartbeatCount(), STALE + 5, 'nothing deleted before it stood unchanged long enough by the reader\'s clock');
      assert.equal(a.liveReplicas, 2, 'the liar, whose heartbeat never moves, is not live (its year-9999 time is not read)');
      skip += staleHeartbeatMs(LEASE_MS) + 1;
      await until(async () => (await heartbeatCount()) === 2, 10_000, () => 'the stale heartbeats deleted');
      assert.ok(await index.get(replicaDocId('a')), "a's own heartbeat kept");
      assert.ok(await index.get(replicaDocId('b')), "b's heartbeat, which moved meanwhile, kept");
      await sleep(700);
      assert.equal(a.liveReplicas, 2, 'b still live for a after the deletion');
    } finally {
      await Promise.all([a.stop(), b.stop()]);
    }
  });
});
