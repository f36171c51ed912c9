/**
 * Leases against an in-memory stand-in for the state index (the engine's `if_seq_no` semantics:
 * a write names the version it read, refused when the document moved since). Fast: no engine.
 * What it pins down: a resumed old process of a replica id does not take its sources back from
 * the process restarted under that id; an owner stops at its lease time by itself, not at its
 * next write; an epoch that cannot grow is refused.
 */
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { it } from 'node:test';
import { LeaseBook, LeaseLost, sourceDocId } from '../../src/cluster/leases.js';
import type { StateIndex } from '../../src/cluster/state-index.js';
import { MemoryIndex } from './memory-index.js';

const book = (index: MemoryIndex, replica: string, leaseMs = 10_000) => new LeaseBook(index as unknown as StateIndex, { replica, leaseMs });

it('a replica restarted under the same id takes its sources at once; its old process, resumed (SIGSTOP, SIGCONT), does not take them back', async () => {
  const index = new MemoryIndex();
  const old = book(index, 'a');
  await old.register('s');
  const oldLease = (await old.claim('s'))!;
  assert.equal(oldLease.epoch, 1);
  // The old process freezes; the supervisor starts a new one under the same id: it claims at once.
  const restarted = book(index, 'a');
  const newLease = await restarted.claim('s');
  assert.equal(newLease?.epoch, 2, 'the restarted process claims its own lease at once');
  // The old process resumes: its next write is refused, its source stops ...
  await assert.rejects(oldLease.renew(), LeaseLost);
  // ... and its coordinator's next round looks at the source again: the document names its id,
  // but a live process of that id renews it: it must not be taken from under that process.
  const seen = await old.inspect('s');
  assert.equal(seen.state, 'held', 'another process of this id holds it');
  assert.equal(await old.claim('s'), undefined, 'the resumed old process must not take the lease back');
  await newLease!.renew(); // the restarted process keeps it
  assert.equal(newLease!.lost, undefined);
});

it('a claim whose answer was lost (it went through) is claimed again at once by the same process', async () => {
  const index = new MemoryIndex();
  const a = book(index, 'a');
  await a.register('s');
  const first = (await a.claim('s'))!;
  // The answer never arrived: the process never used the lease, and claims again in its next round.
  first.markLost('the answer to the claim was lost');
  const again = await a.claim('s');
  assert.equal(again?.epoch, 2);
});

it('a claim that went through although the answer said 409 (the client sent it again after a timeout) is this replica\'s, at once', async () => {
  const index = new MemoryIndex();
  const a = book(index, 'a');
  const b = book(index, 'b');
  await a.register('s');
  index.loseNextAnswer();
  const lease = await a.claim('s');
  assert.equal(lease?.epoch, 1, 'the claim went through: the lease is held');
  await lease!.renew();
  assert.equal(await b.claim('s'), undefined);
  // Of two claims racing, the one refused reads the document and finds the other's claim: no lease.
  const index2 = new MemoryIndex();
  const [x, y] = [book(index2, 'x'), book(index2, 'y')];
  await x.register('s');
  index2.hold();
  const racing = Promise.all([x.claim('s'), y.claim('s')]);
  await sleep(10);
  index2.release();
  const won = (await racing).filter((l) => l !== undefined);
  assert.equal(won.length, 1);
  assert.equal(won[0]!.epoch, 1);
});

it('an owner whose renewal hangs stops its source at its lease time, not when the engine answers', async () => {
  const index = new MemoryIndex();
  const a = book(index, 'a', 150);
  await a.register('s');
  const lease = (await a.claim('s'))!;
  let stoppedAt: number | undefined;
  const t0 = performance.now();
  lease.onLost(() => (stoppedAt = performance.now() - t0));
  index.hold(); // a partition that lets nothing through; the request hangs up to its timeout
  const renewing = lease.renew().catch((err: unknown) => err);
  await sleep(400);
  assert.notEqual(lease.lost, undefined, 'the lease time ran out 250 ms ago: the source must have been stopped (a claimant may run it now)');
  assert.ok(stoppedAt! < 300, `stopped ${Math.round(stoppedAt!)} ms after the claim, lease 150 ms`);
  index.release();
  await renewing;
});

it('an epoch that cannot grow (a string, 1e300, past 2^53) is refused: two claims never share an epoch', async () => {
  for (const epoch of [1e300, 2 ** 53, '7', -1, 1.5]) {
    const index = new MemoryIndex();
    const a = book(index, 'a');
    await a.register('s');
    index.edit(sourceDocId('s'), (d) => ({ ...d, owner: null, epoch }));
    await assert.rejects(a.claim('s'), /epoch/, `epoch ${JSON.stringify(epoch)}`);
  }
});

it('a lease time in the document that is not a number, or absurd, does not keep a dead owner\'s source from being taken over', async () => {
  for (const leaseMs of ['30000x', 1e300, null]) {
    const index = new MemoryIndex();
    let t = 0;
    const b = new LeaseBook(index as unknown as StateIndex, { replica: 'b', leaseMs: 1_000, now: () => t });
    await b.register('s');
    index.edit(sourceDocId('s'), (d) => ({ ...d, owner: 'dead', epoch: 4, lease_ms: leaseMs }));
    assert.equal((await b.inspect('s')).state, 'held');
    t += 24 * 3_600_000; // a day: longer than any lease_s the config allows (600 s)
    assert.equal((await b.inspect('s')).state, 'expired', `lease_ms ${JSON.stringify(leaseMs)}`);
  }
});

it('a history that is not a list does not make a source unclaimable forever', async () => {
  const index = new MemoryIndex();
  const a = book(index, 'a');
  await a.register('s');
  index.edit(sourceDocId('s'), (d) => ({ ...d, history: { oops: true } }));
  const lease = await a.claim('s');
  assert.equal(lease?.epoch, 1);
  assert.equal(lease?.doc.history.length, 1);
});
