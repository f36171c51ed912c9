/**
 * "Caught up" and "lag" mean one thing each in `stats` (table and --json): caught up = the source's
 * last call said there is nothing more; lag = now minus the newest event time stored from it. The
 * file columns say what the kind of source knows, "-" where it knows nothing.
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { runCli, tempDir } from '../support/helpers.js';
import { type Running, query, withSimulator } from '../support/simulator.js';

interface Row { stream: string; kind: string; caught_up: boolean; lag_seconds: number | null; pending: number | null; done: number | null; dead_lettered: number | null }

const FAST = ['--retry-base-ms', '20', '--retry-max-ms', '100', '--max-retries', '1', '--timeout', '5', '--once'];

/** `stats --json`'s rows (and when it ran: between `from` and `to`), and `stats`'s text. */
async function statsOf(db: string): Promise<{ rows: Row[]; text: string; ran: { from: number; to: number } }> {
  const from = Date.now();
  const json = await runCli(['stats', '--db', db, '--json']);
  const to = Date.now();
  const text = await runCli(['stats', '--db', db]);
  return { rows: (JSON.parse(json.stdout) as { api_streams: Row[] }).api_streams, text: text.stdout, ran: { from, to } };
}

/**
 * Says whether `lag` is now minus the newest event stored, in whole seconds, for a `now` while
 * `stats` ran (a child process: on a loaded machine seconds pass before and after its own clock read).
 */
function lagHolds(lag: number | null, db: string, ran: { from: number; to: number }): boolean {
  const newest = query<{ ts: number }>(db, 'SELECT max(ts) AS ts FROM stored_events')[0]!.ts;
  return lag !== null && lag >= Math.round((ran.from - newest) / 1000) && lag <= Math.round((ran.to - newest) / 1000);
}

const collectV1 = (r: Running, db: string) => runCli(['collect', '--url', r.info.url, '--db', db, ...FAST], { env: r.env });

describe('stats: caught up and lag', () => {
  it('API 1.0: caught up once its last call said no more files; lag from the newest event; the files it stored, "-" for what it cannot know', { timeout: 60_000 }, async () => {
    await withSimulator({ seed: 2904, events: 300, eventsPerFile: 100 }, async (r) => {
      const db = join(tempDir('stats'), 'v1.db');
      const res = await collectV1(r, db);
      assert.equal(res.code, 0, res.stderr.slice(-1000));
      const { rows, text, ran } = await statsOf(db);
      assert.equal(rows.length, 1);
      const row = rows[0]!;
      assert.equal(row.caught_up, true);
      assert.ok(lagHolds(row.lag_seconds, db, ran), `lag ${row.lag_seconds} s`);
      assert.deepEqual([row.pending, row.done, row.dead_lettered], [null, r.info.files, null], 'API 1.0 has no work queue: it knows the files it stored');
      assert.match(text, new RegExp(`${row.stream.replace(/[.:/]/g, '\\$&')}\\s+yes\\s+\\S+ (s|min|h)\\s+-\\s+${r.info.files}\\s+-`));
    });
  });

  it('API 1.0 stopped before its last call said no more files: not caught up, lag still from the newest event stored', { timeout: 60_000 }, async () => {
    await withSimulator({ seed: 2905, events: 400, eventsPerFile: 100, expireBindingAfter: 3 }, async (r) => {
      const db = join(tempDir('stats'), 'cut.db');
      const res = await collectV1(r, db);
      assert.notEqual(res.code, 0, 'the binding expired mid-way');
      const { rows: [row], ran } = await statsOf(db);
      assert.equal(row!.caught_up, false);
      assert.ok(row!.done! > 0 && row!.done! < r.info.files, JSON.stringify(row));
      assert.ok(lagHolds(row!.lag_seconds, db, ran), `lag ${row!.lag_seconds} s`);
    });
  });

  it('API 2.0 stream: caught up after its last page; no files, so "-"', { timeout: 60_000 }, async () => {
    await withSimulator({ seed: 2906, events: 300, eventsPerFile: 100 }, async (r) => {
      const db = join(tempDir('stats'), 'stream.db');
      const env = { MIMECAST_CLIENT_ID: r.info.v2Credentials.clientId, MIMECAST_CLIENT_SECRET: r.info.v2Credentials.clientSecret };
      const res = await runCli(['collect', '--api', 'v2', '--mode', 'stream', '--url', r.info.url, '--db', db, ...FAST], { env });
      assert.equal(res.code, 0, res.stderr.slice(-1000));
      const { rows, ran } = await statsOf(db);
      assert.equal(rows.length, 1);
      assert.equal(rows[0]!.caught_up, true);
      assert.deepEqual([rows[0]!.pending, rows[0]!.done, rows[0]!.dead_lettered], [null, null, null]);
      assert.ok(lagHolds(rows[0]!.lag_seconds, db, ran), `lag ${rows[0]!.lag_seconds} s`);
    });
  });
});
