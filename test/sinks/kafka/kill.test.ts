/**
 * End to end through the real CLI: `mimelog collect --sink-config` delivering 20,000 simulated
 * events to a real Kafka broker with a transactional id, killed with SIGKILL 20 times while it
 * delivers. Read as a read_committed consumer, the topic then holds every expected id exactly
 * once, each record keyed by it; a read_uncommitted consumer also sees the aborted transactions'
 * copies, at most a unit per kill (src/sinks/kafka/README.md). MIMELOG_KAFKA_KILLS sets fewer
 * kills while developing.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { killWhileDelivering, runCli } from '../../support/helpers.js';
import { readCommittedTopic } from '../../support/receivers/kafka.js';
import { FAST, expectedIds, startSimulator } from '../../support/simulator.js';
import { brokerForSuite } from './kafka-support.js';

const EVENTS = 20_000;
const PER_FILE = 200;
const KILLS = Number(process.env.MIMELOG_KAFKA_KILLS ?? 20);
/** Units a killed run may have had sent in an open transaction (one at a time, with room). */
const IN_FLIGHT_UNITS = 2;

describe('kafka destination through mimelog collect', () => {
  const broker = brokerForSuite();

  it(`ends with every expected id in the topic exactly once for a read_committed consumer, each with its key, after ${KILLS} kill -9 of the collector delivering ${EVENTS} events`, { timeout: 600_000 }, async () => {
    const r = await startSimulator({ seed: 707, events: EVENTS, eventsPerFile: PER_FILE, faults: { enabled: ['429', '5xx', 'reset'], rate: 0.05, seed: 5 } });
    try {
      const db = join(r.dir, 'k.db');
      const sinkConfig = join(r.dir, 'sink.yaml');
      writeFileSync(sinkConfig, `sink:\n  kind: kafka\n  brokers: ["${broker().bootstrap}"]\n  topic: killed\n  transactional_id: mimelog-kill-test\n  state_topic: killed-state\n  give_up_s: 120\n`);
      const args = ['collect', '--url', r.info.url, '--db', db, ...FAST, '--sink-config', sinkConfig];
      const started = Date.now();
      const kills = await killWhileDelivering(args, { kills: KILLS, db, total: EVENTS, seed: 17, env: r.env });
      assert.ok(kills >= KILLS, `only ${kills} kills landed`);
      const final = await runCli(args, { env: r.env });
      assert.equal(final.code, 0, final.stderr.slice(-2000));
      const collectedMs = Date.now() - started;
      const expected = await expectedIds(r);
      assert.equal(expected.length, EVENTS);
      const committed = await readCommittedTopic(broker(), 'killed');
      for (const m of committed) assert.equal(JSON.parse(m.value).event.id, m.key, 'each record keyed by its event id');
      assert.deepEqual(committed.map((m) => m.key).sort(), expected, 'every expected id exactly once, no other');
      const all = await broker().read(['killed'], { expect: EVENTS, timeoutMs: 120_000, settleMs: 1500 });
      const aborted = all.length - committed.length;
      assert.ok(aborted <= kills * IN_FLIGHT_UNITS * PER_FILE, `${aborted} records of aborted transactions: more than ${IN_FLIGHT_UNITS} units of ${PER_FILE} per kill`);
      const stats = JSON.parse((await runCli(['stats', '--db', db, '--json'])).stdout) as { duplicates: number };
      process.stderr.write(`# kafka kill test: ${kills} kills, ${committed.length} committed records for ${EVENTS} events, ${aborted} in aborted transactions, ${stats.duplicates} events recognised from the markers, ${Math.round(collectedMs / 1000)} s\n`);
    } finally {
      await r.sim.stop();
    }
  });
});
