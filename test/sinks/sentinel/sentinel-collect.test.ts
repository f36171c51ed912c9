/**
 * The Sentinel destination end to end, through the real CLI: `mimelog collect` from the Mimecast
 * simulator into the Azure emulator, both in this test's process (so the emulator keeps what it
 * accepted while collectors are killed with kill -9).
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { killWhileDelivering, runCli } from '../../support/helpers.js';
import { FAST, expectedIds, query, startSimulator } from '../../support/simulator.js';
import type { AzureFault } from '../../../src/simulator/azure-logs.js';
import { SECRET, emulator, sinkKeys } from './azure.js';

/** A `--sink-config` file for the emulator, its secret in a file only its owner may read. */
function sinkConfig(dir: string, url: string, extra: Record<string, unknown> = {}): string {
  const secretFile = join(dir, 'sentinel-secret');
  writeFileSync(secretFile, `${SECRET}\n`, { mode: 0o600 });
  const { client_secret: _inline, ...keys } = sinkKeys(url, { client_secret_file: secretFile, max_retry_after_s: 1, ...extra });
  const file = join(dir, 'sink.yaml');
  writeFileSync(file, stringify({ sink: [{ kind: 'sentinel', name: 'azure', ...keys }] }), { mode: 0o600 });
  return file;
}

const sorted = (ids: Iterable<string>) => [...ids].sort();

describe('sentinel: collect --sink-config', () => {
  it('delivers every event once (one refused by Azure is a dead letter with its reason; per-destination counts in stats), then a second run sends nothing; a wrong secret stops with a masked error', { timeout: 120_000 }, async () => {
    const r = await startSimulator({ seed: 2801, events: 2_000, eventsPerFile: 200 });
    const emu = emulator();
    await emu.start();
    try {
      const db = join(r.dir, 'once.db');
      const expected = await expectedIds(r);
      const refusedId = expected[1234]!;
      emu.poison.add(refusedId);
      emu.inject({ kind: '429', retryAfter: '1' });
      const args = ['collect', '--url', r.info.url, '--db', db, ...FAST, '--sink-config', sinkConfig(r.dir, emu.url)];
      const first = await runCli(args, { env: r.env });
      assert.equal(first.code, 2, `exit 2: something was dead-lettered\n${first.stderr.slice(-2000)}`);
      assert.deepEqual(sorted(emu.eventIds()), expected.filter((id) => id !== refusedId));
      const stats = JSON.parse((await runCli(['stats', '--db', db, '--json'])).stdout) as { destinations: { destination: string; acknowledged: number; refused: number; resent: number }[] };
      assert.deepEqual(stats.destinations.map(({ destination, acknowledged, refused }) => ({ destination, acknowledged, refused })), [{ destination: 'azure', acknowledged: 1_999, refused: 1 }]);
      assert.ok(stats.destinations[0]!.resent > 0, 'the 429 and the split sent events again');
      const letters = query<{ reason: string }>(db, 'SELECT reason FROM dead_letters');
      assert.equal(letters.length, 1);
      assert.match(letters[0]!.reason, new RegExp(`refused event ${refusedId}: Azure refused its row \\(HTTP 400 InvalidPayload`));
      const second = await runCli(args, { env: r.env });
      assert.equal(second.code, 0, second.stderr.slice(-2000));
      assert.equal(emu.rows.length, 1_999, 'nothing sent again');

      writeFileSync(join(r.dir, 'sentinel-secret'), 'a-wrong-secret-value\n', { mode: 0o600 });
      const refused = await runCli(['collect', '--url', r.info.url, '--db', join(r.dir, 'other.db'), ...FAST, '--sink-config', join(r.dir, 'sink.yaml')], { env: r.env });
      assert.equal(refused.code, 1);
      assert.match(refused.stderr, /invalid_client, AADSTS7000215/);
      assert.ok(!refused.stderr.includes('a-wrong-secret-value'));
    } finally {
      await emu.stop();
      await r.sim.stop();
    }
  });

  it('ends with every expected id in Azure after 20 kill -9 of a collector delivering 20,000 events, re-sending only what was in flight', { timeout: 600_000 }, async (t) => {
    const kills = Number(process.env.MIMELOG_SENTINEL_KILLS ?? 20);
    const r = await startSimulator({ seed: 2802, events: 20_000, eventsPerFile: 200, faults: { enabled: ['429', '5xx', 'reset'], rate: 0.05, seed: 3 } });
    const faults: AzureFault[] = [{ kind: '429', retryAfter: '0' }, { kind: '503', retryAfter: '1' }, { kind: '500' }, { kind: 'reset' }];
    const emu = emulator({ randomFaults: { rate: 0.05, seed: 4, faults } });
    await emu.start();
    try {
      const db = join(r.dir, 'k.db');
      // One worker: the pipeline keeps at most 2 units in flight (pipeline/ack-window.ts), each at most one file.
      const args = ['collect', '--url', r.info.url, '--db', db, ...FAST, '--workers', '1', '--sink-config', sinkConfig(r.dir, emu.url)];
      const landed = await killWhileDelivering(args, { kills, db, total: 20_000, seed: 5, env: r.env });
      assert.ok(landed >= kills, `only ${landed} kills landed`);
      const final = await runCli(args, { env: r.env });
      assert.equal(final.code, 0, final.stderr.slice(-2000));

      const expected = await expectedIds(r);
      assert.equal(expected.length, 20_000);
      assert.deepEqual(sorted(new Set(emu.eventIds())), expected, 'every expected id, and no other');
      for (const row of emu.rows) assert.equal((row.Document as { event: { id: string } }).event.id, row.EventId, 'each row carries its own id');
      // A kill can lose the acknowledgement of what was in flight: the units being delivered.
      const extra = emu.rows.length - expected.length;
      const bound = landed * IN_FLIGHT_EVENTS;
      assert.ok(extra <= bound, `${extra} rows sent again, more than ${landed} kills × ${IN_FLIGHT_EVENTS} events in flight`);
      const faulted = emu.calls.filter((c) => c.fault !== undefined).length;
      t.diagnostic(`${landed} kills; ${emu.rows.length} rows for ${expected.length} events (${extra} sent again, bound ${bound}); ${emu.calls.length} calls, ${faulted} faulted`);
    } finally {
      await emu.stop();
      await r.sim.stop();
    }
  });
});

/** Events a collector may have sent and not yet checkpointed when killed: 2 units in flight, of one 200-event file at most. */
const IN_FLIGHT_EVENTS = 2 * 200;
