/**
 * The Kafka destination against a real Kafka 4.1.1 broker (test/support/receivers/kafka.ts): what
 * a consumer reads back (keys, values, headers, topics of the template), dead letters for what the
 * broker refuses for good, and a broker killed and started again in the middle of a delivery.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { datasetOf } from '../../../src/mimecast/feeds.js';
import { HEADERS } from '../../../src/sinks/kafka/records.js';
import { readCommittedTopic } from '../../support/receivers/kafka.js';
import { brokerForSuite, memoryLogger, openKafka, unitOf } from './kafka-support.js';

/** The broker's bound on a record batch: small, so that a big unit is split and a big event is refused. */
const MESSAGE_MAX_BYTES = 64 * 1024;

describe('kafka destination (Kafka 4.1.1 broker)', () => {
  const broker = brokerForSuite({ properties: { 'message.max.bytes': MESSAGE_MAX_BYTES } });

  it('delivers each event with key event.id, the ECS document as value and the headers, to its template topic; a fresh consumer reads every id', async () => {
    const dest = await openKafka({ brokers: [broker().bootstrap], topic: 'deliver.{dataset}' });
    try {
      const units = [await unitOf('first.log', 150, 1), await unitOf('second.log', 150, 2)];
      // Pipelined as the delivering sink calls it: the second before the first resolved.
      const reports = await Promise.all(units.map((u) => dest.deliver(u)));
      const events = units.flatMap((u) => u.events);
      assert.deepEqual(reports.map((r) => [r.indexed, r.rejected.length, r.resent]), units.map((u) => [u.events.length, 0, 0]));
      const topics = [...new Set(events.map((e) => `deliver.${datasetOf(e.classification.logType)}`))];
      const read = await broker().read(topics, { expect: events.length });
      assert.equal(read.length, events.length, 'each event once');
      const byKey = new Map(read.map((m) => [m.key, m]));
      for (const [i, e] of events.entries()) {
        const m = byKey.get(e.id);
        assert.ok(m, `event ${e.id} read back`);
        assert.equal(m.topic, `deliver.${datasetOf(e.classification.logType)}`);
        assert.equal(JSON.parse(m.value).event.id, e.id);
        assert.deepEqual(m.headers, { [HEADERS.logType]: e.classification.logType, [HEADERS.source]: i < 150 ? 'first.log' : 'second.log', [HEADERS.eventId]: e.id });
      }
    } finally {
      await dest.close();
    }
  });

  for (const mode of ['idempotent', 'transactional'] as const) {
    it(`${mode}: an event over the broker's message.max.bytes is a dead letter with the broker's reason; a unit over it is split and delivered`, async () => {
      const topic = `large-${mode}`;
      const dest = await openKafka({ brokers: [broker().bootstrap], topic, ...(mode === 'transactional' ? { transactional_id: 'large', state_topic: 'large-state' } : {}) });
      try {
        // 400 events of about 1.5 KB: about 600 KB in our 900 KiB requests, refused whole by the broker's 64 KiB.
        const unit = await unitOf('large.log', 400, 3, [`datetime=2026-11-01T00:00:00+0000|aCode=big|acc=C1|Subject=${'x'.repeat(2 * MESSAGE_MAX_BYTES)}`]);
        const big = unit.events.find((e) => e.raw.includes('aCode=big'))!;
        const report = await dest.deliver(unit);
        assert.equal(report.indexed, unit.events.length - 1);
        assert.equal(report.rejected.length, 1);
        assert.match(report.rejected[0]!.reason, /MESSAGE_TOO_LARGE|RECORD_LIST_TOO_LARGE/);
        assert.equal(report.rejected[0]!.raw.toString(), big.raw, 'the dead letter holds the record');
        const read = mode === 'transactional' ? await readCommittedTopic(broker(), topic) : await broker().read([topic], { expect: unit.events.length - 1 });
        assert.equal(read.length, unit.events.length - 1);
        assert.equal(new Set(read.map((m) => m.key)).size, unit.events.length - 1);
        assert.ok(!read.some((m) => m.key === big.id));
      } finally {
        await dest.close();
      }
    });
  }

  it('an event whose template makes no legal topic name is a dead letter saying why; a template with an unknown placeholder is refused', async () => {
    await assert.rejects(openKafka({ brokers: [broker().bootstrap], topic: 'mimecast.{dataset}.{tenant}' }), /unknown placeholder \{tenant\}/);
    await assert.rejects(openKafka({ brokers: [broker().bootstrap], topic: 'mimecast siem' }), /is not legal/);
    const dest = await openKafka({ brokers: [broker().bootstrap], topic: 'types.{log_type}' });
    try {
      const unit = await unitOf('odd.log', 3, 4);
      const odd = { ...unit.events[0]!, classification: { ...unit.events[0]!.classification, logType: 'a type/with spaces' } };
      const report = await dest.deliver({ ...unit, events: [odd, ...unit.events.slice(1)] });
      assert.equal(report.indexed, 2);
      assert.equal(report.rejected.length, 1);
      assert.match(report.rejected[0]!.reason, /no topic for event .*"types\.a type\/with spaces" is not legal/);
    } finally {
      await dest.close();
    }
  });

  it('the broker killed while a unit is delivered and started again: every event arrives once, the re-sends counted; a broker that stays down passes the give-up bound and stops the run', async () => {
    const { log, lines } = memoryLogger();
    const dest = await openKafka({ brokers: [broker().bootstrap], topic: 'restart', timeout_s: 2 }, log);
    const quick = await openKafka({ brokers: [broker().bootstrap], topic: 'restart', timeout_s: 1, give_up_s: 1 });
    try {
      const first = await unitOf('before.log', 200, 5);
      assert.equal((await dest.deliver(first)).indexed, 200);
      await broker().stop();
      const second = await unitOf('during.log', 200, 6);
      const during = dest.deliver(second);
      await assert.rejects(quick.deliver(await unitOf('given-up.log', 5, 7)), /kafka destination kafka did not accept 5 events for \d+ s/);
      await new Promise((r) => setTimeout(r, 1500));
      await broker().start();
      const report = await during;
      assert.equal(report.indexed, 200);
      assert.ok(report.resent >= 200, `re-sends counted (${report.resent})`);
      assert.ok(lines.some((l) => l.includes('kafka unreachable or busy: retrying')));
      const read = await broker().read(['restart'], { expect: 400 });
      const ids = read.map((m) => m.key).sort();
      assert.deepEqual(ids, [...first.events, ...second.events].map((e) => e.id).sort(), 'every event, each once');
    } finally {
      await quick.close();
      await dest.close();
    }
  });
});
