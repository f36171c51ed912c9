/**
 * The Splunk HEC destination's deliver() against a loopback emulation of Splunk's documented
 * answers (splunk-emulator.ts): indexer acknowledgement, acks late or never, busy answers, stop
 * codes, refused events, and the check at open.
 */
import assert from 'node:assert/strict';
import { PassThrough } from 'node:stream';
import { after, before, describe, it } from 'node:test';
import { z } from 'zod';
import type { Unit } from '../../../src/core/unit.js';
import { Logger } from '../../../src/log/logger.js';
import { takeEvents, toKeyValueLine } from '../../../src/simulator/generate.js';
import type { Destination } from '../../../src/sinks/destination.js';
import { splunkHecKind } from '../../../src/sinks/splunk-hec/index.js';
import { processInput } from '../../support/helpers.js';
import { ANSWERS, type EmulatorOptions, SplunkEmulator, TOKEN } from './splunk-emulator.js';

const SCHEMA = z.strictObject(splunkHecKind.keys);
const FAST = { ack_poll_ms: 20, timeout_s: 5 };

async function unitOf(count: number, seed = 1): Promise<Unit> {
  const lines = takeEvents({ seed, startMs: Date.UTC(2026, 10, 1) }, count).map((e) => toKeyValueLine(e));
  const unit = await processInput('mimecast-test', lines.join('\n'));
  assert.equal(unit.events.length, count);
  return unit;
}

/** A destination opened on the emulator, and what it logged. */
async function open(emu: SplunkEmulator, keys: Record<string, unknown> = {}): Promise<{ dest: Destination; logs: () => string }> {
  const out = new PassThrough();
  let text = '';
  out.on('data', (d: Buffer) => (text += d.toString()));
  const config = SCHEMA.parse({ url: emu.url, token: TOKEN, ...FAST, ...keys });
  const dest = await splunkHecKind.open(config, 'splunk', { log: new Logger(out, 'debug'), env: {} });
  return { dest, logs: () => text };
}

const emulators: SplunkEmulator[] = [];
async function emulator(o: EmulatorOptions = {}): Promise<SplunkEmulator> {
  const e = await SplunkEmulator.start(o);
  emulators.push(e);
  return e;
}
after(async () => {
  for (const e of emulators) await e.stop();
});

describe('splunk-hec destination: deliver() against an emulation of Splunk', () => {
  let unit: Unit;
  before(async () => {
    unit = await unitOf(25);
  });

  it('sends gzipped batches with the token and one channel UUID, and counts events only once their ack is true', async () => {
    const emu = await emulator({ ackAfterPolls: 2 });
    const { dest } = await open(emu, { batch_events: 10 });
    try {
      const report = await dest.deliver(unit);
      assert.deepEqual({ indexed: report.indexed, resent: report.resent, rejected: report.rejected.length }, { indexed: 25, resent: 0, rejected: 0 });
      assert.deepEqual(emu.eventRequests.map((r) => r.ids.length).sort((a, b) => a - b), [5, 10, 10], 'sent at once, so in any order');
      assert.ok(emu.eventRequests.every((r) => r.gzip && r.authorization === `Splunk ${TOKEN}`));
      assert.equal(new Set(emu.eventRequests.map((r) => r.channel)).size, 1);
      assert.match(emu.eventRequests[0]!.channel!, /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
      // Each ack id was asked about until it turned true: false twice, then true.
      const asked = emu.ackQueries.flat();
      for (const id of [0, 1, 2]) assert.ok(asked.filter((a) => a === id).length >= 3, `ack ${id} asked until true`);
      const byId = new Map(emu.indexed.map((i) => [i.id, i.line]));
      for (const e of unit.events) {
        const line = byId.get(e.id)!;
        assert.deepEqual(line.fields, { 'event.id': e.id, 'event.hash': e.hash });
        assert.equal(line.time, Math.round(e.timeMs) / 1000, 'time: epoch seconds with the milliseconds');
        assert.equal(line.index, 'mimecast');
        assert.equal(line.sourcetype, 'mimecast:siem:ecs');
        assert.equal(line.source, 'mimecast-test');
        assert.equal(line.event.event.id, e.id);
      }
    } finally {
      await dest.close();
    }
  });

  it('does not resolve while an ack is false: the unit waits for true', async () => {
    const emu = await emulator({ ackAfterPolls: 8 });
    const { dest } = await open(emu);
    try {
      let done = false;
      const delivery = dest.deliver(unit).then((r) => ((done = true), r));
      await new Promise((r) => setTimeout(r, 80));
      assert.equal(done, false, 'still waiting on ack false');
      assert.equal((await delivery).indexed, 25);
    } finally {
      await dest.close();
    }
  });

  it('an ack that never comes: the request is sent again (new ackId, counted resent), then the run stops past give_up_s', async () => {
    const emu = await emulator({ ackAfterPolls: Infinity });
    const { dest, logs } = await open(emu, { ack_timeout_s: 1, give_up_s: 2 });
    try {
      await assert.rejects(dest.deliver(unit), /splunk-hec destination: Splunk did not acknowledge 25 events for \d+ s \(last: ack \d+ still not true after 1 s\); nothing after the last delivered unit was checkpointed/);
      assert.ok(emu.eventRequests.length >= 2, 'sent again');
      assert.deepEqual(emu.eventRequests[1]!.ids, emu.eventRequests[0]!.ids, 'the same events, with their ids');
      assert.ok(new Set(emu.indexed.map((i) => i.ackId)).size >= 2, 'each send got its own ackId');
      assert.match(logs(), /sending again/);
    } finally {
      await dest.close();
    }
  });

  it('an ack lost once: the events go again and count as resent, then as indexed', async () => {
    const emu = await emulator({ loseAcks: 1 });
    const { dest } = await open(emu, { ack_timeout_s: 2 });
    try {
      const report = await dest.deliver(unit);
      assert.deepEqual({ indexed: report.indexed, resent: report.resent }, { indexed: 25, resent: 25 });
      assert.equal(emu.eventRequests.length, 2);
    } finally {
      await dest.close();
    }
  });

  it('503 server busy (code 9) and 429 are waited out with back-off and counted resent', async () => {
    const emu = await emulator();
    const { dest } = await open(emu);
    emu.eventFaults.push(ANSWERS.busy, ANSWERS.tooMany, ANSWERS.busy);
    try {
      const report = await dest.deliver(unit);
      assert.deepEqual({ indexed: report.indexed, resent: report.resent }, { indexed: 25, resent: 75 });
      assert.equal(emu.eventRequests.length, 4);
    } finally {
      await dest.close();
    }
  });

  it('a token refused mid-run (403 code 4) or disabled (403 code 1) stops the run, naming the meaning and never the token', async () => {
    for (const [turn, meaning] of [[(e: SplunkEmulator) => (e.token = 'another-token-entirely'), /HTTP 403 code 4 \(invalid token: check the token/], [(e: SplunkEmulator) => (e.disabled = true), /HTTP 403 code 1 \(token disabled: enable the token/]] as const) {
      const emu = await emulator();
      const { dest } = await open(emu);
      turn(emu);
      try {
        const err = await dest.deliver(unit).then(() => assert.fail('delivered'), (e: Error) => e);
        assert.match(err.message, meaning);
        assert.ok(!err.message.includes(TOKEN), 'no token in the message');
      } finally {
        await dest.close();
      }
    }
  });

  it('a bad token, a token without indexer acknowledgement, or ack: false on a token that needs a channel fail at open with the fix', async () => {
    const bad = await emulator();
    bad.token = 'the-real-token-is-another';
    await assert.rejects(open(bad), (err: Error) => /refused the check at open: HTTP 403 code 4 \(invalid token/.test(err.message) && !err.message.includes(TOKEN));
    const noAck = await emulator({ useAck: false });
    await assert.rejects(open(noAck), /HTTP 400 code 14 \(ACK is disabled: enable indexer acknowledgement on the token, or set ack: false/);
    const needsChannel = await emulator({ useAck: true });
    await assert.rejects(open(needsChannel, { ack: false }), /HTTP 400 code 10 \(data channel is missing: the token has indexer acknowledgement on, which needs a channel: remove ack: false/);
  });

  it('ack on but an answer without ackId stops with a clear error (never a silent fallback to HTTP 200)', async () => {
    const emu = await emulator({ dropAckId: true });
    const { dest } = await open(emu);
    try {
      await assert.rejects(dest.deliver(unit), /gave no ackId \(HTTP 200 code 0 \(success\)\): the token has no indexer acknowledgement, or a proxy answered instead of HEC\. Enable indexer acknowledgement on the token .* or set ack: false/);
    } finally {
      await dest.close();
    }
  });

  it('the ack endpoint answering 4xx stops the run: the events are not counted as delivered', async () => {
    const emu = await emulator();
    const { dest } = await open(emu);
    emu.ackFaults.push({ status: 400, body: { text: 'Invalid data format', code: 6 } });
    try {
      await assert.rejects(dest.deliver(unit), /the ack endpoint answered HTTP 400 code 6 \(invalid data format\); the events are not counted as delivered/);
    } finally {
      await dest.close();
    }
  });

  it('ack: false says at open that delivery rests on HTTP 200 only, sends no channel, and counts a 200 as delivered', async () => {
    const emu = await emulator({ useAck: false });
    const { dest, logs } = await open(emu, { ack: false });
    try {
      assert.match(logs(), /"level":"warn".*ack: false, so delivery rests on HTTP 200 only/);
      const report = await dest.deliver(unit);
      assert.equal(report.indexed, 25);
      assert.equal(emu.eventRequests[0]!.channel, undefined);
      assert.equal(emu.ackQueries.length, 0);
    } finally {
      await dest.close();
    }
  });

  for (const say of [true, false]) {
    it(`a refused batch is split to find the bad events${say ? " (at Splunk's invalid-event-number)" : ' (in halves)'}: each a dead letter with the reason, the others indexed`, async () => {
      const poison = new Set([unit.events[3]!.id, unit.events[17]!.id]);
      const emu = await emulator({ poison, sayInvalidEvent: say });
      const { dest } = await open(emu, { batch_events: 25 });
      try {
        const report = await dest.deliver(unit);
        assert.equal(report.indexed, 23);
        assert.deepEqual(report.rejected.map((d) => d.position).sort(), [unit.events[3]!.position, unit.events[17]!.position].sort());
        for (const d of report.rejected) assert.match(d.reason, /refused event [0-9a-f]+: HTTP 400 code 6 \(invalid data format\)/);
        assert.deepEqual(new Set(emu.indexed.map((i) => i.id)), new Set(unit.events.map((e) => e.id).filter((id) => !poison.has(id))));
        // Bounded: per bad event about 2 × log2(25) more requests in halves, 3 at Splunk's hint.
        assert.ok(emu.eventRequests.length <= (say ? 7 : 21), `bounded: ${emu.eventRequests.length} requests`);
      } finally {
        await dest.close();
      }
    });
  }

  it('a single event refused (code 12 on a one-event request) is a dead letter with the reason', async () => {
    const emu = await emulator();
    const one = await unitOf(1, 7);
    const { dest } = await open(emu);
    emu.eventFaults.push({ status: 400, body: { text: 'Event field is required', code: 12, 'invalid-event-number': 0 } });
    try {
      const report = await dest.deliver(one);
      assert.equal(report.indexed, 0);
      assert.equal(report.rejected.length, 1);
      assert.match(report.rejected[0]!.reason, /HTTP 400 code 12 \(event field is required\)/);
    } finally {
      await dest.close();
    }
  });
});
