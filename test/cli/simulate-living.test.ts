/**
 * A living demo: `simulate` dates its data relative to now unless told `--start` (tests and the
 * horizons pass explicit times), and `--campaign N` serves a phishing campaign inside the last 24
 * hours, so that the console's charts, Threats and Who-else show something after `npm run demo`.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { describe, it } from 'node:test';
import { BIN, ended, runCli, tempDir } from '../support/helpers.js';

interface Served { campaign?: { sender: string; first_acode: string } }

/** Runs `simulate` with --write-expected, reads its first line, stops it; ingests what it wrote. */
async function simulated(args: string[]): Promise<{ db: string; served: Served; times: string[] }> {
  const dir = tempDir('living');
  const child = spawn(BIN, ['simulate', '--seed', '7', '--events', '400', '--cloud-integrated', '0', '--write-expected', join(dir, 'files'), ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  const exit = ended(child);
  const line = await new Promise<string>((resolve, reject) => {
    createInterface({ input: child.stdout! }).once('line', resolve);
    child.once('exit', () => reject(new Error('simulate exited before its first line')));
  });
  child.kill('SIGTERM');
  await exit;
  const db = join(dir, 'store.db');
  const ingest = await runCli(['ingest', '--db', db, join(dir, 'files', 'v1'), '--summary', 'none']);
  assert.equal(ingest.code, 0, ingest.stderr);
  const search = await runCli(['search', '--db', db, '--limit', '100000', '--json']);
  const times = search.stdout.trim().split('\n').map((l) => (JSON.parse(l) as { '@timestamp': string })['@timestamp']).sort();
  return { db, served: JSON.parse(line) as Served, times };
}

describe('simulate: a living demo', () => {
  it('without --start the newest event is minutes old; the campaign is in the last 24 hours and who-else finds it', async () => {
    const { db, served, times } = await simulated(['--campaign', '6']);
    const newest = Date.parse(times.at(-1)!);
    assert.ok(newest <= Date.now() && newest > Date.now() - 15 * 60_000, `newest event ${times.at(-1)} is within minutes of now`);
    assert.ok(served.campaign, 'the campaign is described on the first line');
    const who = await runCli(['who', '--db', db, served.campaign.first_acode, '--json']);
    assert.equal(who.code, 0, who.stderr);
    const w = JSON.parse(who.stdout) as { messages: { sender: string; first_seen: string }[] };
    assert.equal(w.messages.length, 6);
    assert.ok(w.messages.every((m) => m.sender === served.campaign!.sender && Date.parse(m.first_seen) > Date.now() - 24 * 3_600_000));
  });

  it('--start pins the data (tests and the horizons): the first event is at that time', async () => {
    const { times, served } = await simulated(['--start', '2026-11-01T00:00:00Z']);
    assert.ok(times[0]!.startsWith('2026-11-01T00:0'), times[0]);
    assert.equal(served.campaign, undefined);
  });
});
