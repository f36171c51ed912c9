/**
 * Two `replay --config` runs at once over the same dead letters (a loopback stand-in of the state
 * index that honours `if_seq_no`): each dead letter is claimed before it is delivered, so only one
 * run delivers it; a claim of a run that died is taken over after the bound; the mark after the
 * delivery is conditional on the claim.
 */
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { describe, it } from 'node:test';
import { EngineBooks } from '../../src/cluster/books.js';
import { type ReplayInto, replayEngineDeadLetters } from '../../src/cluster/replay.js';
import { buildTransformer } from '../../src/cli/ingest.js';
import { noCounts } from '../../src/core/counts.js';
import { clientOfStandIn, wholeDeadLetter } from './stand-in-engine.js';
import { STATE, StateStandIn } from './state-stand-in.js';

const record = (n: number) => JSON.stringify({ datetime: '2026-12-06T10:00:00Z', aCode: `acode-${n}`, Act: 'Acc', Sender: `s${n}@example.com` });

/** Puts `n` dead letters (positions 1..n) into the stand-in; returns their ids. */
function letters(engine: StateStandIn, n: number, extra: (i: number) => object = () => ({})): string[] {
  return Array.from({ length: n }, (_, i) => {
    const d = wholeDeadLetter('s', { from: 'stream r.json', position: i + 1, reason: 'failed then', raw: Buffer.from(record(i + 1)) });
    engine.put(d.id, { ...d.doc, ...extra(i + 1) });
    return d.id;
  });
}

/** A sink like Kafka's: it keeps every event it is given (no ids recognised), after `wait`. */
function kafkaLike(delivered: number[], wait: () => Promise<unknown> = () => sleep(5)): ReplayInto {
  return async (units) => {
    await wait();
    const events = units.flatMap((u) => u.events);
    delivered.push(...events.map((e) => e.position));
    return { ...noCounts(), stored: events.length };
  };
}

const docOf = (engine: StateStandIn, id: string) => engine.docs.get(id)!.source as { replayed_at?: string; replayed_by?: string; replay_claim?: unknown; commit?: string };

describe('replay --config: two runs at once', () => {
  const engine = new StateStandIn();
  const client = clientOfStandIn(engine, 10_000);
  const replay = (runId: string, into: ReplayInto, o: { claimStaleMs?: number; pageSize?: number } = {}) =>
    replayEngineDeadLetters(new EngineBooks(client(), STATE), buildTransformer({ original: true }).transformer, into, { runId, ...o });

  it('two runs over the same 20 dead letters, a sink that keeps every copy: each delivered exactly once in all, the other run reports it claimed, none counted recovered twice', async () => {
    engine.docs.clear();
    const ids = letters(engine, 20);
    const delivered: number[] = [];
    const [a, b] = await Promise.all([replay('A', kafkaLike(delivered), { pageSize: 5 }), replay('B', kafkaLike(delivered), { pageSize: 5 })]);
    assert.deepEqual([...delivered].sort((x, y) => x - y), Array.from({ length: 20 }, (_, i) => i + 1), `each once (${delivered.length} deliveries)`);
    assert.equal(a.recovered + b.recovered, 20, 'recovered counted by the run that delivered it only');
    assert.ok(a.recovered > 0 && b.recovered > 0, `both runs worked (${a.recovered} + ${b.recovered})`);
    // The other run met each (unless its claim or mark had moved it past that run's listing): claimed by another run, or replayed before.
    assert.ok(a.claimed_elsewhere + b.claimed_elsewhere > 0, 'some met while claimed by the other run');
    assert.equal(a.attempted + b.attempted, 20, 'none attempted by both');
    for (const id of ids) {
      const d = docOf(engine, id);
      assert.equal(typeof d.replayed_at, 'string', 'marked');
      assert.equal(d.replay_claim, undefined, 'its claim dropped by the mark');
      assert.ok(d.replayed_by === 'A' || d.replayed_by === 'B');
    }
  });

  it("a claim of a run that died (older than the bound, or not a time) is taken over and delivered; another run's live claim is left to it", async () => {
    engine.docs.clear();
    const old = new Date(Date.now() - 20 * 60_000).toISOString();
    const claims = [{ by: 'dead', at: old }, { by: 'dead', at: 'never' }, { by: 'busy', at: new Date().toISOString() }];
    const ids = letters(engine, 3, (i) => ({ replay_claim: claims[i - 1] }));
    const delivered: number[] = [];
    const report = await replay('C', kafkaLike(delivered));
    assert.deepEqual(delivered.sort(), [1, 2], 'the dead run\'s two delivered');
    assert.deepEqual([report.recovered, report.claimed_elsewhere, report.attempted], [2, 1, 2]);
    assert.deepEqual(docOf(engine, ids[2]!).replay_claim, claims[2], 'the live claim untouched');
    assert.equal(docOf(engine, ids[0]!).replayed_by, 'C');
  });

  it('the mark after a delivery is conditional on the claim: a replica stamping the document meanwhile is written over (its stamp kept); a claim taken over meanwhile leaves no mark of this run, said as taken over', async () => {
    engine.docs.clear();
    const [stamped] = letters(engine, 1);
    const a = await replay('A', kafkaLike([], async () => {
      const held = engine.docs.get(stamped!)!.source as object;
      engine.put(stamped!, { ...held, commit: 'unit-2' }); // as books.adopt does, the claim kept
    }));
    assert.deepEqual([a.recovered, a.taken_over], [1, 0]);
    assert.equal(docOf(engine, stamped!).commit, 'unit-2', 'the stamp kept');
    assert.equal(typeof docOf(engine, stamped!).replayed_at, 'string', 'marked');

    engine.docs.clear();
    const [slow] = letters(engine, 1);
    const delivered: number[] = [];
    let bDone: () => void = () => undefined;
    const bDelivered = new Promise<void>((r) => (bDone = r));
    const runA = replay('A', kafkaLike(delivered, () => bDelivered), { claimStaleMs: 50 });
    await sleep(150); // A holds its claim longer than the bound: B takes it over
    const b = await replay('B', kafkaLike(delivered, async () => bDone()), { claimStaleMs: 50 });
    const late = await runA;
    assert.deepEqual([b.recovered, late.recovered, late.taken_over], [1, 1, 1]);
    assert.equal(docOf(engine, slow!).replayed_by, 'B', "B's mark stands; A's was refused");
    assert.equal(delivered.length, 2, 'the documented cost of a delivery that outlasts the bound: sent twice');
  });
});
