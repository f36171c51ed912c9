/**
 * The syslog destination end to end: `mimelog collect --sink-config` delivering to a real rsyslog
 * over RELP, killed with SIGKILL again and again, and rsyslog stopped and started again mid-run.
 * rsyslog must end with every expected event (by its id), and events sent more than once only
 * within what was unacknowledged or uncommitted when each collector died, each with its id.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { stringify } from 'yaml';
import { BIN, ended, killWhileDelivering, runCli } from '../../support/helpers.js';
import { Rsyslog, type Received } from '../../support/receivers/rsyslog.js';
import { FAST, expectedIds, startSimulator } from '../../support/simulator.js';

/** 20 in CI; fewer while developing (MIMELOG_SYSLOG_KILLS=3). */
const KILLS = Number(process.env.MIMELOG_SYSLOG_KILLS ?? 20);
const EVENTS = 20_000;
const PER_FILE = 200;
const IN_FLIGHT = 200;

let rx: Rsyslog;
before(async () => {
  rx = await Rsyslog.start();
});
after(async () => {
  await rx?.stop();
});

/** A `--sink-config` file: one syslog destination, RELP, CEF bodies. */
function sinkConfig(dir: string): string {
  const file = join(dir, 'sink.yaml');
  writeFileSync(file, stringify({ sink: { kind: 'syslog', host: '127.0.0.1', port: rx.ports.relp, transport: 'relp', format: 'cef', max_in_flight: IN_FLIGHT, give_up_s: 120 } }), { mode: 0o600 });
  return file;
}

/** The event id of each message, from rsyslog's parse of the structured data; the CEF externalId must say the same. */
function idsOf(received: readonly Received[]): string[] {
  return received.map((r) => {
    const id = r.parsed['rfc5424-sd']?.['mimelog@32473']?.id;
    assert.ok(id, `a message without its id: ${r.raw.slice(0, 200)}`);
    const ext = r.parsed.cef?.Extensions;
    // liblognorm drops the first character of the first extension key (externalId → xternalId).
    assert.equal(ext?.externalId ?? ext?.xternalId, id, 'the CEF body carries the same id');
    return id;
  });
}

/** How many events the messages carry (copies counted once): what to wait for, as re-sends make copies. */
const distinctIds = (received: readonly Received[]): number => new Set(received.map((r) => r.parsed['rfc5424-sd']?.['mimelog@32473']?.id)).size;

function counts(ids: readonly string[]): Map<string, number> {
  const m = new Map<string, number>();
  for (const id of ids) m.set(id, (m.get(id) ?? 0) + 1);
  return m;
}

describe('syslog destination through mimelog collect (RELP to rsyslog)', () => {
  it(`${KILLS} × kill -9 of a collector delivering ${EVENTS} events: rsyslog holds every expected id; re-sends only within the in-flight bound`, { timeout: 600_000 }, async () => {
    const r = await startSimulator({ seed: 707, events: EVENTS, eventsPerFile: PER_FILE });
    try {
      const start = rx.received().length;
      const db = join(r.dir, 'k.db');
      const args = ['collect', '--url', r.info.url, '--db', db, ...FAST, '--sink-config', sinkConfig(r.dir)];
      const kills = await killWhileDelivering(args, { kills: KILLS, db, total: EVENTS, seed: 8, env: r.env });
      assert.ok(kills >= KILLS, `only ${kills} kills landed`);
      const final = await runCli(args, { env: r.env });
      assert.equal(final.code, 0, final.stderr.slice(-2000));
      const expected = await expectedIds(r);
      assert.equal(expected.length, EVENTS);
      const ids = idsOf((await rx.waitUntil((all) => distinctIds(all.slice(start)) >= EVENTS, 30_000)).slice(start));
      const seen = counts(ids);
      assert.deepEqual([...seen.keys()].sort(), expected, 'every expected event, and no other');
      const extra = ids.length - EVENTS;
      // A kill loses what was acknowledged but not yet committed: at most the units in the
      // pipeline and the window in flight. Each run re-sends at most that.
      const bound = (kills + 1) * (IN_FLIGHT + 4 * PER_FILE);
      assert.ok(extra <= bound, `${extra} messages sent twice or more; bound ${bound}`);
      console.log(`syslog kill test: ${kills} kills, ${ids.length} messages for ${EVENTS} events (${extra} re-sent), most copies of one event ${Math.max(...seen.values())}`);
    } finally {
      await r.sim.stop();
    }
  });

  it('rsyslog stopped and started again while a collector delivers: nothing lost over RELP', { timeout: 300_000 }, async () => {
    const r = await startSimulator({ seed: 808, events: 5_000, eventsPerFile: PER_FILE });
    try {
      const start = rx.received().length;
      const db = join(r.dir, 'r.db');
      const child = spawn(process.execPath, [BIN, 'collect', '--url', r.info.url, '--db', db, ...FAST, '--sink-config', sinkConfig(r.dir)], { env: { ...process.env, ...r.env }, stdio: ['ignore', 'ignore', 'pipe'] });
      const exit = ended(child);
      while (rx.received().length < start + 1000) {
        assert.equal(child.exitCode, null, 'the collector still runs');
        await sleep(20);
      }
      await rx.stop();
      await sleep(1500);
      await rx.run();
      const { code, stderr } = await exit;
      assert.equal(code, 0, stderr.slice(-2000));
      assert.match(stderr, /connection to relp 127\.0\.0\.1:\d+ lost/);
      const expected = await expectedIds(r);
      const ids = idsOf((await rx.waitUntil((all) => distinctIds(all.slice(start)) >= expected.length, 30_000)).slice(start));
      assert.deepEqual([...new Set(ids)].sort(), expected, 'every expected event');
      assert.ok(ids.length - expected.length <= IN_FLIGHT, `${ids.length - expected.length} re-sent: at most the window`);
    } finally {
      await r.sim.stop();
    }
  });
});
