/**
 * A time that lies (issue 25, item 5): an event dated 2126 among normal ones, then a token that
 * expires. The event is stored (it is data) and counted, but its time drives no restart point, gap
 * bound or lag: after the restart collection goes on, the gap is recorded between real events,
 * and the lag is not pinned at 0. Also a time that lies the other way (1970: seconds read as ms).
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import Database from 'better-sqlite3';
import { EARLIEST_EVENT_MS, FUTURE_SKEW_MS, isTrustedTime, lagSeconds, trustedSpan } from '../../src/core/trusted-time.js';
import type { ProcessedEvent } from '../../src/core/unit.js';
import { agedOutGaps } from '../../src/sources/mimecast-v1/collector.js';
import { MimecastSimulator, type SimulatorOptions } from '../../src/simulator/server.js';
import { runCli } from '../support/helpers.js';
import { type Running, collect, logLines, query, startSimulator, withSimulator } from '../support/simulator.js';

const HOUR = 3_600_000;
const DAY = 24 * HOUR;
/** The lie: far after any clock (the stored time of the misdated event). */
const FUTURE = Date.UTC(2126, 0, 1);
const START = Date.UTC(2026, 9, 1);
const BELIEVED = 'event time not believed: the event is stored, but its time drives no cursor, restart point, gap bound or lag (counted as untrusted_time_events in stats; said once per run)';

interface ApiStream {
  stream: string;
  lag_seconds: number | null;
  untrusted_time_events: number;
}
interface GapRow {
  log_type: string | null;
  from_ms: number;
  to_ms: number;
}

const v2Env = (r: Running) => ({ MIMECAST_CLIENT_ID: r.info.v2Credentials.clientId, MIMECAST_CLIENT_SECRET: r.info.v2Credentials.clientSecret });

async function apiStreams(db: string): Promise<ApiStream[]> {
  return (JSON.parse((await runCli(['stats', '--db', db, '--json'])).stdout) as { api_streams: ApiStream[] }).api_streams;
}

/** True event times of the catalog (the misdated one at its true place), as an API serves them (API 2.0: to the millisecond). */
function catalogTimes(r: Running, api: 'v1' | 'v2'): { timeMs: number; logType: string }[] {
  return r.sim.catalog.flatMap((f) => f.events.map((e) => ({ timeMs: api === 'v2' ? e.preciseMs ?? e.timeMs : e.timeMs, logType: e.logType })));
}

/** The stored warning, once per run and source, with the lying time. */
function assertWarnedOnce(stderr: string): void {
  const warned = logLines(stderr).filter((l) => l.msg === BELIEVED);
  assert.equal(warned.length, 1, stderr.slice(-1500));
  assert.equal(warned[0]!.event_time, new Date(FUTURE).toISOString());
  assert.ok(typeof warned[0]!.source === 'string' && warned[0]!.source.length > 0);
}

/** The files scenario of horizons.test.ts: collected up to day 3, then down 10 days with a 7-day retention (files of days 3–6 are lost). */
const FILES: Omit<SimulatorOptions, 'seed'> = { events: 1200, eventsPerFile: 50, spacingMs: 2 * HOUR, startMs: START, clockMs: START + 3 * DAY, fileRetentionMs: 7 * DAY };

/**
 * The last event of the newest file collected before the outage, of a type that then loses files:
 * served dated 2126, it would be that type's newest event stored and so the start of its gap.
 */
function lieInFiles(seed: number): NonNullable<SimulatorOptions['misdated']>[number] & { logType: string } {
  const { catalog } = new MimecastSimulator({ ...FILES, seed });
  const last = (f: (typeof catalog)[number]) => f.events.at(-1)!.timeMs;
  const losing = new Set(catalog.filter((f) => last(f) > START + 3 * DAY && last(f) < START + 6 * DAY).map((f) => f.logType));
  const file = catalog.filter((f) => last(f) <= START + 3 * DAY && losing.has(f.logType)).at(-1)!;
  return { file: file.index, at: file.events.length - 1, timeMs: FUTURE, logType: file.logType };
}

/** Both file APIs: the type of the lie gets its gap, starting at its newest believable event stored. */
async function filesOutage(api: 'v1' | 'v2', seed: number): Promise<void> {
  const lie = lieInFiles(seed);
  await withSimulator({ ...FILES, seed, misdated: [lie] }, async (r) => {
    const db = join(r.dir, 'store.db');
    const run = () => collect({ ...r, env: { ...r.env, ...v2Env(r) } }, db, api === 'v2' ? ['--api', 'v2'] : ['--format', 'key_value']);
    const first = await run();
    assert.equal(first.code, 0, first.stderr.slice(-1500));
    assertWarnedOnce(first.stderr);
    assert.deepEqual(query(db, 'SELECT log_type FROM stored_events WHERE ts = ?', FUTURE), [{ log_type: lie.logType }], 'the misdated event is stored');

    r.sim.advanceClock(10 * DAY);
    const second = await run();
    assert.equal(second.code, 4, `the files lost are a gap: ${second.stderr.slice(-1500)}`);
    const gaps = query<GapRow>(db, 'SELECT log_type, from_ms, to_ms FROM gaps WHERE log_type = ?', lie.logType);
    assert.equal(gaps.length, 1, `a gap of ${lie.logType}: ${JSON.stringify(query(db, 'SELECT log_type, from_ms, to_ms FROM gaps'))}`);
    const stored = query<{ ts: number }>(db, 'SELECT max(ts) AS ts FROM stored_events WHERE log_type = ? AND ts < ? AND ts <= ?', lie.logType, FUTURE, START + 3 * DAY)[0]!.ts;
    assert.equal(gaps[0]!.from_ms, stored, 'from the newest believable event stored of the type');
    assert.ok(gaps[0]!.to_ms > gaps[0]!.from_ms && gaps[0]!.to_ms <= START + 13 * DAY, 'to an event still held');
    const lost = catalogTimes(r, api).filter((e) => e.logType === lie.logType && e.timeMs > START + 3 * DAY && e.timeMs < START + 6 * DAY);
    assert.ok(lost.length > 0 && lost.every((e) => e.timeMs > gaps[0]!.from_ms && e.timeMs < gaps[0]!.to_ms), 'every lost event of the type lies inside its gap');
    assert.ok(gaps.every((g) => g.to_ms < FUTURE) && query<GapRow>(db, 'SELECT * FROM gaps WHERE from_ms >= ? OR to_ms >= ?', FUTURE, FUTURE).length === 0);

    const streams = await apiStreams(db);
    assert.ok(streams.length > 0 && streams.every((s) => s.lag_seconds !== null && s.lag_seconds > DAY / 1000), `no lag pinned at 0: ${JSON.stringify(streams)}`);
    assert.equal(streams.reduce((n, s) => n + s.untrusted_time_events, 0), 1, 'the misdated event is counted once');
    assert.match((await runCli(['stats', '--db', db])).stdout, /events timed after now \+ 5 min or before 2000/);
  });
}

describe('a time that lies drives no cursor, restart point, gap bound or lag', () => {
  it('API 2.0 stream: an event dated 2126, then an expired token: the restart collects what is held, the gap lies between real events, the lag is real', async () => {
    const options: SimulatorOptions = { seed: 811, events: 3000, eventsPerFile: 200, spacingMs: 240_000, startMs: START, clockMs: START + 10 * HOUR, v2: { streamWindowMs: DAY } };
    // The lie: an event among the first hours collected, with events before and after it.
    const at = 3;
    const file = new MimecastSimulator(options).catalog.find((f) => f.events.length > at + 1 && f.events[at]!.timeMs < START + 5 * HOUR)!;
    await withSimulator({ ...options, misdated: [{ file: file.index, at, timeMs: FUTURE }] }, async (r) => {
      const db = join(r.dir, 'stream.db');
      const run = () => collect({ ...r, env: { ...r.env, ...v2Env(r) } }, db, ['--api', 'v2', '--mode', 'stream', '--page-size', '200']);
      const times = catalogTimes(r, 'v2').map((e) => e.timeMs);
      const first = await run();
      assert.equal(first.code, 0, first.stderr.slice(-1500));
      assertWarnedOnce(first.stderr);
      const before = times.filter((t) => t <= START + 10 * HOUR);
      assert.equal(query<{ n: number }>(db, 'SELECT count(*) AS n FROM stored_events')[0]!.n, before.length);
      assert.equal(query<{ n: number }>(db, 'SELECT count(*) AS n FROM stored_events WHERE ts = ?', FUTURE)[0]!.n, 1, 'the misdated event is stored');
      const [stream] = await apiStreams(db);
      assert.ok(stream!.lag_seconds !== null && stream!.lag_seconds > DAY / 1000, `the lag is not pinned at 0: ${JSON.stringify(stream)}`);
      assert.equal(stream!.untrusted_time_events, 1);

      // Down 30 hours: the stored page token now points before the window (start + 16 h).
      r.sim.advanceClock(30 * HOUR);
      const second = await run();
      assert.equal(second.code, 4, `a gap, and collection goes on: ${second.stderr.slice(-1500)}`);
      const restart = logLines(second.stderr).find((l) => /^stream token is older than the stream window/.test(l.msg));
      const newestStored = Math.max(...before); // the lie is early: its true time is not the newest
      assert.equal(restart?.from, new Date(newestStored).toISOString(), 'the restart asks from the newest believable event stored');
      const held = times.filter((t) => t >= START + 16 * HOUR && t <= START + 40 * HOUR);
      assert.equal(query<{ n: number }>(db, 'SELECT count(*) AS n FROM stored_events')[0]!.n, before.length + held.length, 'everything still held is stored');
      assert.deepEqual(query<GapRow>(db, 'SELECT log_type, from_ms, to_ms FROM gaps'), [{ log_type: null, from_ms: newestStored, to_ms: Math.min(...held) }]);
      const [after] = await apiStreams(db);
      assert.ok(after!.lag_seconds !== null && after!.lag_seconds > 0, JSON.stringify(after));
      assert.equal(after!.untrusted_time_events, 1);

      // A store written before times were checked holds 2126 as its newest: no lag is shown from it,
      // no restart begins there, and the next commit replaces it.
      const store = new Database(db);
      store.prepare('UPDATE checkpoints SET newest_event_ms = ?').run(FUTURE);
      store.close();
      assert.equal((await apiStreams(db))[0]!.lag_seconds, null, 'unknown, not 0');
      r.sim.advanceClock(HOUR);
      const third = await run();
      assert.equal(third.code, 0, third.stderr.slice(-1500));
      const newest = Math.max(...times.filter((t) => t <= START + 41 * HOUR));
      assert.deepEqual(query(db, 'SELECT newest_event_ms FROM checkpoints'), [{ newest_event_ms: newest }]);
    });
  });

  it('API 2.0 feeds: a cursor dated 2126 (the clock ran ahead when it was written) does not hold the feed until 2126', async () => {
    await withSimulator({ seed: 814, events: 10, v2: { feeds: { records: 50 } } }, async (r) => {
      const db = join(r.dir, 'feeds.db');
      const run = (extra: string[]) => collect({ ...r, env: { ...r.env, ...v2Env(r) } }, db, ['--api', 'v2', '--feeds', 'audit', ...extra]);
      // The records lie 3 to 1 days back: a first look-back of 1 day leaves them for later.
      assert.equal((await run(['--first-look-back-days', '1'])).code, 0);
      const held = query<{ n: number }>(db, 'SELECT count(*) AS n FROM stored_events')[0]!.n;
      assert.ok(held < 50);
      const store = new Database(db);
      assert.equal(store.prepare("UPDATE checkpoints SET cursor = ? WHERE source LIKE 'mimecast-v2-feed % audit'").run(String(FUTURE)).changes, 1);
      store.close();
      const res = await run([]);
      assert.equal(res.code, 0, res.stderr.slice(-1500));
      const warned = logLines(res.stderr).filter((l) => /^feed cursor lies after now/.test(l.msg));
      assert.deepEqual(warned.map((l) => [l.feed, l.cursor]), [['audit', new Date(FUTURE).toISOString()]]);
      assert.equal(query<{ n: number }>(db, 'SELECT count(*) AS n FROM stored_events')[0]!.n, 50, 'collected from the first look-back');
      const cursor = Number(query<{ cursor: string }>(db, "SELECT cursor FROM checkpoints WHERE source LIKE 'mimecast-v2-feed % audit'")[0]!.cursor);
      assert.ok(cursor <= Date.now(), 'the cursor is a real window end again');
    });
  });

  it('API 2.0 batch: the type of an event dated 2126 still gets its gap when its files age out', async () => {
    await filesOutage('v2', 812);
  });

  it('API 1.0: an event dated 2126 does not hide the gap of every type after an invalid token', async () => {
    await filesOutage('v1', 813);
  });

  it('the rule: believed from 2000 to now + 5 min, bounds included; the lag of a time beyond is unknown, not 0', () => {
    const now = Date.UTC(2026, 11, 6, 12);
    const cases: [number, boolean][] = [
      [now + FUTURE_SKEW_MS, true], [now + FUTURE_SKEW_MS + 1, false], [EARLIEST_EVENT_MS, true], [EARLIEST_EVENT_MS - 1, false],
      [NaN, false], [Infinity, false], [-8.64e15, false], [FUTURE, false], [8.64e15, false],
    ];
    assert.deepEqual(cases.map(([t]) => isTrustedTime(t, now)), cases.map(([, ok]) => ok));
    assert.deepEqual([lagSeconds(now - 90_000, now), lagSeconds(now + 60_000, now), lagSeconds(FUTURE, now), lagSeconds(null, now)], [90, 0, null, null]);
    const span = trustedSpan([{ timeMs: now - 1000 }, { timeMs: FUTURE }, { timeMs: 0 }, { timeMs: now - 5000 }], now);
    assert.deepEqual(span, { oldest: now - 5000, newest: now - 1000, untrusted: 2, firstUntrusted: FUTURE });
  });

  it('API 1.0 gap bounds: an event of the first file kept dated 1970 (seconds read as ms) neither hides nor ends a gap', () => {
    const event = (logType: string, timeMs: number) => ({ timeMs, classification: { logType } }) as unknown as ProcessedEvent;
    const newest = new Map([['receipt', START], ['process', START]]);
    const gaps = agedOutGaps(newest, [event('receipt', Math.floor(START / 1000)), event('process', START + DAY)], START + 2 * DAY, ['receipt', 'process']);
    assert.deepEqual(gaps.map((g) => [g.logType, g.fromMs, g.toMs]), [['receipt', START, START + DAY], ['process', START, START + DAY]]);
    // Only lies: the interval runs to now (nothing believable is held), never to 2126.
    const lies = agedOutGaps(newest, [event('receipt', FUTURE)], START + 2 * DAY, ['receipt']);
    assert.deepEqual(lies.map((g) => [g.logType, g.fromMs, g.toMs]), [['receipt', START, START + 2 * DAY]]);
  });
});
