/**
 * The API 2.0 POST feeds (all nine) against the simulator: windows, pages, faults, an unlicensed
 * feed, kill -9, a page that never parses, late-indexed records, and the look-back gap.
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import Database from 'better-sqlite3';
import { FEEDS } from '../../src/mimecast/feeds.js';
import { killWhileDelivering, runCli } from '../support/helpers.js';
import { type Running, logLines, query, startSimulator, storedIds } from '../support/simulator.js';

function v2Env(r: Running): NodeJS.ProcessEnv {
  return { MIMECAST_CLIENT_ID: r.info.v2Credentials.clientId, MIMECAST_CLIENT_SECRET: r.info.v2Credentials.clientSecret };
}

const args = (r: Running, db: string, extra: string[] = []) =>
  ['collect', '--api', 'v2', '--feeds', 'all', '--url', r.info.url, '--db', db, '--once', '--retry-base-ms', '20', '--retry-max-ms', '200', '--timeout', '5', ...extra];

/** The expected ids: every licensed feed's records through `mimelog ingest` (exit 2 when some are dead-lettered there too). */
async function expectedFeedIds(r: Running, exit = 0): Promise<string[]> {
  const dir = join(r.dir, 'expected-feeds');
  r.sim.v2.feeds.writeExpected(dir);
  const db = join(r.dir, 'expected-feeds.db');
  const res = await runCli(['ingest', '--db', db, dir, '--summary', 'none']);
  assert.equal(res.code, exit, res.stderr);
  return storedIds(db);
}

describe('API 2.0 POST feeds', () => {
  it('collects every feed with faults on, equal to the expected set; an unlicensed feed is said once with the fix; a second run adds nothing', { timeout: 180_000 }, async () => {
    const r = await startSimulator({
      seed: 701, events: 10, faults: { enabled: ['429', '5xx', 'fail200'], rate: 0.15, seed: 7 },
      v2: { feeds: { records: 400, unlicensed: ['dlp'] } },
    });
    try {
      const db = join(r.dir, 'feeds.db');
      const first = await runCli(args(r, db, ['--page-size', '40']), { env: v2Env(r) });
      assert.equal(first.code, 0, first.stderr.slice(-2000));
      const expected = await expectedFeedIds(r);
      assert.equal(expected.length, (FEEDS.length - 1) * 400, 'every licensed feed, distinct records never share an id');
      assert.deepEqual(storedIds(db), expected);
      const perType = Object.fromEntries(query<{ log_type: string; n: number }>(db, 'SELECT log_type, count(*) AS n FROM stored_events GROUP BY 1').map((x) => [x.log_type, x.n]));
      assert.deepEqual(perType, Object.fromEntries(FEEDS.filter((f) => f.name !== 'dlp').map((f) => [f.name, 400])));
      assert.deepEqual(query(db, "SELECT DISTINCT log_type_source AS s FROM stored_events"), [{ s: 'feed' }], 'the feed says the type');
      const unavailable = logLines(first.stderr).filter((l) => l.msg === 'feed not available: skipping it, the other feeds go on');
      assert.equal(unavailable.length, 1);
      assert.equal(unavailable[0]!.feed, 'dlp');
      assert.match(unavailable[0]!.action, /license/);
      assert.ok(Object.values(r.sim.injectedFaults).reduce((a, b) => a + b, 0) > 5, 'faults were met');

      // Every time form (offsets, Z) is the record's instant; detections are alerts; the dataset is the feed's.
      const docs = query<{ doc: string; original: string; log_type: string }>(db, 'SELECT doc, original, log_type FROM stored_events');
      const alertWhen: Record<string, (o: Record<string, unknown>) => boolean> = {
        audit: () => false,
        'ttp-url': (o) => o.scanResult === 'malicious',
        'ttp-attachment': (o) => o.result === 'malicious',
        'ttp-impersonation': (o) => o.taggedMalicious === true || o.action === 'hold',
        'held-release': (o) => (o.spamScore as number) >= 10,
        'archive-search': () => false,
        'archive-view': () => false,
        rejections: (o) => o.action === 'reject',
      };
      for (const { doc, original, log_type: type } of docs) {
        const d = JSON.parse(doc) as { '@timestamp': string; event: { kind: string; dataset: string } };
        const o = JSON.parse(original) as Record<string, unknown>;
        const time = o[FEEDS.find((f) => f.name === type)!.timeField] as string;
        assert.equal(d['@timestamp'], new Date(Date.parse(time.replace(/([+-]\d{2})(\d{2})$/, '$1:$2'))).toISOString(), `${type} ${time}`);
        assert.equal(d.event.kind, alertWhen[type]!(o) ? 'alert' : 'event', `${type}: ${original}`);
        assert.equal(d.event.dataset, FEEDS.find((f) => f.name === type)!.dataset);
        // The audit text names the same instant in a short zone (BST, EDT, AEST…): read as that instant.
        if (type === 'audit') assert.equal((d.event as { start?: string }).start, d['@timestamp'], o.eventInfo as string);
      }

      // trace joins the feeds by message id, like every other log type.
      const click = query<{ message_id: string }>(db, "SELECT message_id FROM stored_events WHERE log_type = 'ttp-url' LIMIT 1")[0]!;
      const trace = JSON.parse((await runCli(['trace', '--db', db, '--json', click.message_id])).stdout) as { matched_by: string; steps: { log_type: string }[] };
      assert.equal(trace.matched_by, 'message_id');
      assert.deepEqual(trace.steps.map((s) => s.log_type), ['ttp-url']);

      const second = await runCli(args(r, db), { env: v2Env(r) });
      assert.equal(second.code, 0, second.stderr.slice(-1500));
      assert.deepEqual(storedIds(db), expected, 'a second run adds nothing');
    } finally {
      await r.sim.stop();
    }
  });

  it('ends with exactly the expected set after 20 kill -9 during a multi-feed collection', { timeout: 180_000 }, async () => {
    const r = await startSimulator({ seed: 702, events: 10, v2: { feeds: { records: 1000 } } });
    try {
      const db = join(r.dir, 'feeds.db');
      const kills = await killWhileDelivering(args(r, db, ['--page-size', '15']), { kills: 20, db, total: FEEDS.length * 1000, seed: 9, env: v2Env(r) });
      assert.ok(kills >= 20, `kills landed: ${kills}`);
      const last = await runCli(args(r, db, ['--page-size', '15']), { env: v2Env(r) });
      assert.equal(last.code, 0, last.stderr.slice(-1500));
      assert.deepEqual(storedIds(db), await expectedFeedIds(r));
    } finally {
      await r.sim.stop();
    }
  });

  it('a record nested 200 deep is a dead letter on its own, with its bytes: the rest of its page and window is collected, no gap', { timeout: 180_000 }, async () => {
    const r = await startSimulator({ seed: 704, events: 10, v2: { feeds: { records: 300, deepRecordIn: ['audit'] } } });
    try {
      const db = join(r.dir, 'feeds.db');
      const res = await runCli(args(r, db, ['--page-size', '50']), { env: v2Env(r) });
      assert.equal(res.code, 2, `a dead letter makes the exit 2: ${res.stderr.slice(-1500)}`);
      const dead = query<{ reason: string; raw: Buffer; source: string }>(db, 'SELECT reason, raw, source FROM dead_letters');
      assert.equal(dead.length, 1);
      assert.match(dead[0]!.reason, /JSON nested deeper than 64 levels/);
      const kept = JSON.parse(dead[0]!.raw.toString()) as { nested?: unknown; auditType?: string };
      assert.ok(kept.nested !== undefined && kept.auditType !== undefined, 'the record is kept with its own bytes, not its page');
      assert.match(dead[0]!.source, / audit window /);
      assert.equal(query<{ n: number }>(db, 'SELECT count(*) AS n FROM gaps')[0]!.n, 0, 'nothing of the window is given up');
      // Every other record is stored: the expected set (ingest of the records, which dead-letters the deep one as well).
      assert.deepEqual(storedIds(db), await expectedFeedIds(r, 2));
    } finally {
      await r.sim.stop();
    }
  });

  it('late-indexed records, faults on: windows ending the safety lag before now miss none of them; without the lag, late records are lost for good', { timeout: 180_000 }, async (t) => {
    const now = Date.now();
    const late = { fraction: 0.3, maxDelayMs: 10 * 60_000 };
    // Records up to now; 30 % of them appear in answers only up to 10 min after their own time.
    const r = await startSimulator({
      seed: 705, events: 10, faults: { enabled: ['429', '5xx', 'fail200'], rate: 0.1, seed: 5 },
      v2: { feeds: { records: 300, startMs: now - 3 * 3_600_000, spanMs: 3 * 3_600_000 - 60_000, late } },
    });
    try {
      const expectedDb = join(r.dir, 'expected-feeds.db');
      await expectedFeedIds(r);
      const idOf = new Map(query<{ id: string; original: string }>(expectedDb, 'SELECT id, original FROM stored_events').map((e) => [e.original, e.id]));
      const cursorOf = (db: string, feed: string) => Number(query<{ cursor: string }>(db, "SELECT cursor FROM checkpoints WHERE source LIKE 'mimecast-v2-feed % ' || ?", feed)[0]!.cursor);
      const storedOf = (db: string, feed: string) => query<{ id: string }>(db, 'SELECT id FROM stored_events WHERE log_type = ? ORDER BY id', feed).map((e) => e.id);

      const safe = join(r.dir, 'lag.db');
      const startedSafe = Date.now();
      const res = await runCli(args(r, safe, ['--page-size', '50']), { env: v2Env(r) });
      assert.equal(res.code, 0, res.stderr.slice(-1500));
      const finishedSafe = Date.now();
      const unsafe = join(r.dir, 'no-lag.db');
      const startedUnsafe = Date.now();
      const noLag = await runCli(args(r, unsafe, ['--page-size', '50', '--safety-lag', '0']), { env: v2Env(r) });
      assert.equal(noLag.code, 0, noLag.stderr.slice(-1500));

      let lateCollected = 0;
      let lost = 0;
      for (const feed of FEEDS) {
        const records = r.sim.v2.feeds.expectedRecords(feed.name);
        // With the lag: exactly the records older than the feed's cursor, late ones included.
        const cursor = cursorOf(safe, feed.name);
        // Window ends are whole seconds, rounded down: up to a second before (the start) - lag.
        assert.ok(cursor > startedSafe - 900_000 - 1000 && cursor <= finishedSafe - 900_000, `${feed.name}: the window ends the lag before now (${cursor} vs ${startedSafe - 900_000}..${finishedSafe - 900_000})`);
        const wanted = records.filter((x) => x.ms < cursor);
        assert.deepEqual(storedOf(safe, feed.name), wanted.map((x) => idOf.get(x.line)!).sort(), feed.name);
        lateCollected += wanted.filter((x) => x.visibleAt > x.ms + 60_000).length;
        // Without it: the cursor moved past records that were not visible yet; they never come back.
        const cursorNoLag = cursorOf(unsafe, feed.name);
        const stored = new Set(storedOf(unsafe, feed.name));
        const missing = records.filter((x) => x.ms < cursorNoLag && !stored.has(idOf.get(x.line)!));
        for (const x of missing) assert.ok(x.visibleAt > startedUnsafe, `${feed.name}: only records not yet visible are missed`);
        lost += missing.length;
      }
      t.diagnostic(`late records collected with the lag: ${lateCollected}; records lost without it: ${lost}`);
      assert.ok(lateCollected > 0, 'records that were indexed late were collected');
      assert.ok(lost > 0, 'the simulator indexes late: a collector without the lag loses records');
    } finally {
      await r.sim.stop();
    }
  });

  it('a cursor older than the feed look-back starts at the oldest instant held and records the gap', { timeout: 180_000 }, async () => {
    const r = await startSimulator({ seed: 703, events: 10, v2: { feeds: { records: 50 } } });
    try {
      const db = join(r.dir, 'feeds.db');
      assert.equal((await runCli(args(r, db), { env: v2Env(r) })).code, 0);
      const audit = FEEDS.find((f) => f.name === 'audit')!;
      const stale = Date.now() - audit.lookBackMs - 5 * 86_400_000;
      const store = new Database(db);
      store.prepare("UPDATE checkpoints SET cursor = ? WHERE source LIKE 'mimecast-v2-feed % audit'").run(String(stale));
      store.close();
      const res = await runCli(args(r, db), { env: v2Env(r) });
      assert.equal(res.code, 4, res.stderr.slice(-1500));
      const gaps = query<{ log_type: string; from_ms: number; to_ms: number }>(db, 'SELECT log_type, from_ms, to_ms FROM gaps');
      assert.equal(gaps.length, 1);
      assert.equal(gaps[0]!.log_type, 'audit');
      assert.equal(gaps[0]!.from_ms, stale);
      assert.ok(Math.abs(gaps[0]!.to_ms - (Date.now() - audit.lookBackMs)) < 120_000, 'to the oldest instant still held');
    } finally {
      await r.sim.stop();
    }
  });
});
