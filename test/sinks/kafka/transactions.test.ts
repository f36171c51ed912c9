/**
 * The Kafka destination's transactional mode against a real Kafka 4.1.1 broker: each unit one
 * transaction with its marker on the state topic, a unit sent again by a restarted mimelog (its
 * store did not commit) recognised from the markers, a transaction a killed producer left open
 * aborted and invisible to read_committed consumers, and a broker restart in the middle.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Producer, stringSerializers } from '@platformatic/kafka';
import { readCommittedTopic } from '../../support/receivers/kafka.js';
import { brokerForSuite, openKafka, unitOf } from './kafka-support.js';

describe('kafka destination, transactional (Kafka 4.1.1 broker)', () => {
  const broker = brokerForSuite();

  const config = (topic: string, id: string, more: Record<string, unknown> = {}) => ({ brokers: [broker().bootstrap], topic, transactional_id: id, state_topic: `${topic}-state`, ...more });

  it('a unit sent again by a restarted mimelog (its store never committed) is reported as duplicates and not written again; read_committed sees each event once', async () => {
    const units = [await unitOf('a.log', 100, 21), await unitOf('b.log', 100, 22), await unitOf('c.log', 100, 23)];
    const first = await openKafka(config('once', 'mimelog-once'));
    const r1 = await Promise.all([first.deliver(units[0]!), first.deliver(units[1]!)]);
    assert.deepEqual(r1.map((r) => [r.indexed, r.duplicates]), [[100, 0], [100, 0]]);
    await first.close();
    // The "crash": the store committed only unit a, so the next run sends b again, then c.
    const second = await openKafka(config('once', 'mimelog-once'));
    try {
      const again = await second.deliver(units[1]!);
      assert.deepEqual([again.indexed, again.duplicates], [0, 100]);
      const next = await second.deliver(units[2]!);
      assert.deepEqual([next.indexed, next.duplicates], [100, 0]);
    } finally {
      await second.close();
    }
    const read = await readCommittedTopic(broker(), 'once');
    assert.deepEqual(read.map((m) => m.key).sort(), units.flatMap((u) => u.events.map((e) => e.id)).sort(), 'each event once');
    const markers = await readCommittedTopic(broker(), 'once-state');
    assert.deepEqual(markers.map((m) => JSON.parse(m.value).source), ['a.log', 'b.log', 'c.log']);
  });

  it('a transaction a killed producer left open is aborted when mimelog takes the id over: read_committed never sees its events twice', async () => {
    const unit = await unitOf('open.log', 50, 24);
    const killed = new Producer({ clientId: 'killed', bootstrapBrokers: [broker().bootstrap], idempotent: true, retries: 3, autocreateTopics: true, transactionalId: 'mimelog-open', serializers: stringSerializers });
    const tx = await killed.beginTransaction();
    await tx.send({ messages: unit.events.map((e) => ({ topic: 'open', key: e.id, value: 'half-sent' })) });
    // No commit: the producer "died" here. Its socket stays open, as a frozen process's would.
    const dest = await openKafka(config('open', 'mimelog-open'));
    try {
      const report = await dest.deliver(unit);
      assert.deepEqual([report.indexed, report.duplicates], [50, 0]);
    } finally {
      await dest.close();
      await new Promise<void>((resolve) => killed.close(true, () => resolve()));
    }
    const read = await readCommittedTopic(broker(), 'open');
    assert.equal(read.length, 50);
    assert.ok(read.every((m) => m.value !== 'half-sent'));
    const all = await broker().read(['open'], { expect: 100 });
    assert.equal(all.length, 100, 'a read_uncommitted consumer sees the aborted copies too');
  });

  it('the broker killed during a transaction and started again: the unit starts over in a new transaction, committed once', async () => {
    const dest = await openKafka(config('tx-restart', 'mimelog-restart', { timeout_s: 2 }));
    try {
      const before = await unitOf('before.log', 100, 25);
      assert.equal((await dest.deliver(before)).indexed, 100);
      await broker().stop();
      const during = dest.deliver(await unitOf('during.log', 100, 26));
      during.catch(() => undefined); // awaited below; a failure must not count as unhandled meanwhile
      await new Promise((r) => setTimeout(r, 1500));
      await broker().start();
      const report = await during;
      assert.equal(report.indexed + report.duplicates, 100);
      assert.ok(report.resent >= 100, `re-sends counted (${report.resent})`);
    } finally {
      await dest.close();
    }
    const read = await readCommittedTopic(broker(), 'tx-restart');
    assert.equal(read.length, 200);
    assert.equal(new Set(read.map((m) => m.key)).size, 200);
  });
});
