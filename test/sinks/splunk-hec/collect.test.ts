/**
 * End to end through the real CLI: `mimelog collect --sink-config` delivering simulator events to
 * a real HEC receiver (the OpenTelemetry Collector with indexer acknowledgement): 20 × kill -9
 * while delivering, the receiver stopped and started again mid-run, and TLS with a wrong CA.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { stringify } from 'yaml';
import { BIN, committedCount, ended, killWhileDelivering, runCli, tempDir } from '../../support/helpers.js';
import { HecReceiver, type HecReceived } from '../../support/receivers/hec.js';
import { makeTestCertificates } from '../../support/certificates.js';
import { FAST, expectedIds, startSimulator } from '../../support/simulator.js';
import { SplunkEmulator, TOKEN } from './splunk-emulator.js';

/** A `--sink-config` file for the receiver (the OTel receiver does not check the token). */
function sinkConfig(dir: string, url: string, extra: Record<string, unknown> = {}): string {
  const file = join(dir, `sink-${Math.random().toString(36).slice(2)}.yaml`);
  const sink = { kind: 'splunk-hec', url, token: 'otel-receiver-token', ack_poll_ms: 25, batch_events: 200, ...extra };
  writeFileSync(file, stringify({ sink }), { mode: 0o600 });
  return file;
}

/** Ids received, each once, sorted; and how many arrived more than once. */
function tally(got: readonly HecReceived[]): { ids: string[]; copies: number } {
  const ids = [...new Set(got.map((g) => g.id))].sort();
  return { ids, copies: got.length - ids.length };
}

describe('splunk-hec end to end: mimelog collect --sink-config to a real HEC receiver', () => {
  let rx: HecReceiver;
  before(async () => {
    rx = await HecReceiver.start();
  });
  after(() => rx?.stop());

  it('20 × kill -9 of a collector delivering 20,000 events: the receiver holds every expected id; copies only of unacknowledged units, each with its id', { timeout: 600_000 }, async () => {
    const r = await startSimulator({ seed: 707, events: 20_000, eventsPerFile: 200, faults: { enabled: ['429', '5xx', 'reset'], rate: 0.05, seed: 9 } });
    try {
      const db = join(r.dir, 'k.db');
      const inFlight = 4;
      const args = ['collect', '--url', r.info.url, '--db', db, ...FAST, '--sink-config', sinkConfig(r.dir, rx.url, { requests_in_flight: inFlight })];
      const kills = await killWhileDelivering(args, { kills: Number(process.env.MIMELOG_HEC_KILLS ?? 20), db, total: 20_000, seed: 8, env: r.env });
      assert.ok(kills >= Math.min(20, Number(process.env.MIMELOG_HEC_KILLS ?? 20)), `only ${kills} kills landed`);
      const final = await runCli(args, { env: r.env });
      assert.equal(final.code, 0, final.stderr.slice(-2000));
      const expected = await expectedIds(r);
      assert.equal(expected.length, 20_000);
      const got = await rx.waitForIds(20_000);
      const { ids, copies } = tally(got);
      assert.deepEqual(ids, expected, 'every expected id, nothing else');
      assert.ok(got.every((g) => /^[0-9a-f]+$/.test(g.id)), 'every copy carries its id');
      // A kill loses what was sent and not yet committed: at most the requests in flight and the
      // units acknowledged behind one still waiting; nothing committed is sent again.
      const bound = kills * (inFlight + 2) * 200;
      assert.ok(copies <= bound, `${copies} copies after ${kills} kills (bound ${bound})`);
      console.log(`hec kill test: ${kills} kills, ${got.length} received, ${copies} copies (bound ${bound}), committed ${committedCount(db)}`);
    } finally {
      await r.sim.stop();
    }
  });

  it('the receiver stopped and started again mid-run (acks pending then are forgotten): nothing lost, the run ends by itself', { timeout: 180_000 }, async () => {
    const own = await HecReceiver.start();
    const r = await startSimulator({ seed: 708, events: 4_000, eventsPerFile: 100 });
    try {
      const db = join(r.dir, 'restart.db');
      const args = ['collect', '--url', r.info.url, '--db', db, ...FAST, '--sink-config', sinkConfig(r.dir, own.url, { batch_events: 50, ack_timeout_s: 1, give_up_s: 120 })];
      const child = spawn(process.execPath, [BIN, ...args], { env: { ...process.env, ...r.env }, stdio: ['ignore', 'ignore', 'pipe'] });
      const done = ended(child);
      while (own.received().length < 500 && child.exitCode === null) await sleep(20);
      await own.stop();
      await sleep(1_000); // requests refused, acks unanswered: back-off and re-sends
      await own.restart();
      const { code, stderr } = await done;
      assert.equal(code, 0, stderr.slice(-2000));
      const expected = await expectedIds(r);
      const { ids, copies } = tally(await own.waitForIds(4_000));
      assert.deepEqual(ids, expected);
      assert.match(stderr, /sending again/, 'the restart was noticed and waited out');
      const stats = JSON.parse((await runCli(['stats', '--db', db, '--json'])).stdout) as { destinations: { destination: string; acknowledged: number; resent: number }[] };
      const hec = stats.destinations.find((d) => d.destination === 'splunk-hec');
      assert.equal(hec?.acknowledged, 4_000, 'stats: every event acknowledged by Splunk HEC');
      assert.ok(hec.resent > 0, 'stats: the events sent again are counted');
      console.log(`hec restart test: ${copies} copies`);
    } finally {
      await r.sim.stop();
      await own.stop();
    }
  });

  it('TLS with a wrong CA: collect stops at open with the reason, before reading an event', { timeout: 60_000 }, async () => {
    const dir = tempDir('hec-tls-cli');
    const pem = makeTestCertificates(dir);
    const tls = await HecReceiver.start({ tls: { certFile: pem.serverCert, keyFile: pem.serverKey } });
    const r = await startSimulator({ seed: 709, events: 200, eventsPerFile: 100 });
    try {
      const db = join(dir, 'tls.db');
      const res = await runCli(['collect', '--url', r.info.url, '--db', db, ...FAST, '--sink-config', sinkConfig(dir, tls.url, { ca_file: pem.otherCa })], { env: r.env });
      assert.equal(res.code, 1);
      assert.match(res.stderr, /splunk-hec destination: TLS with https:\/\/127\.0\.0\.1:\d+ failed/);
      assert.equal(committedCount(db), 0);
      assert.equal(tls.received().length, 0);
      const ok = await runCli(['collect', '--url', r.info.url, '--db', db, ...FAST, '--sink-config', sinkConfig(dir, tls.url, { ca_file: pem.ca })], { env: r.env });
      assert.equal(ok.code, 0, ok.stderr.slice(-2000));
      assert.equal(tally(await tls.waitFor(200)).ids.length, 200);
    } finally {
      await r.sim.stop();
      await tls.stop();
    }
  });

  it('Splunk never acknowledging stops the run past give_up_s with nothing checkpointed; a refused token stops it naming the code, never the token', { timeout: 60_000 }, async () => {
    const emu = await SplunkEmulator.start({ ackAfterPolls: Infinity });
    const r = await startSimulator({ seed: 710, events: 300, eventsPerFile: 100 });
    try {
      const dir = tempDir('hec-stop-cli');
      const db = join(dir, 'stop.db');
      const never = await runCli(['collect', '--url', r.info.url, '--db', db, ...FAST, '--sink-config', sinkConfig(dir, emu.url, { token: TOKEN, ack_timeout_s: 1, give_up_s: 2 })], { env: r.env });
      assert.equal(never.code, 1);
      assert.match(never.stderr, /Splunk did not acknowledge \d+ events for \d+ s \(last: ack \d+ still not true after 1 s\); nothing after the last delivered unit was checkpointed/);
      assert.equal(committedCount(db), 0);
      assert.ok(emu.indexed.length > 0, 'the events were sent, never acknowledged');
      emu.token = 'the token Splunk knows';
      const refused = await runCli(['collect', '--url', r.info.url, '--db', db, ...FAST, '--sink-config', sinkConfig(dir, emu.url, { token: TOKEN })], { env: r.env });
      assert.equal(refused.code, 1);
      assert.match(refused.stderr, /HTTP 403 code 4 \(invalid token: check the token/);
      assert.ok(!refused.stderr.includes(TOKEN) && !never.stderr.includes(TOKEN), 'the token never shows');
      assert.equal(committedCount(db), 0);
    } finally {
      await r.sim.stop();
      await emu.stop();
    }
  });
});
