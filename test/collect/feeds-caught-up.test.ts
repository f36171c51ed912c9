/**
 * "caught up" means one thing for every API source: the last pass reached the end of what the API
 * has. A feed whose run read every window up to now (less the safety lag) is caught up in `stats`.
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { runCli } from '../support/helpers.js';
import { startSimulator } from '../support/simulator.js';

describe('API 2.0 feeds: caught up', () => {
  it('after a full --once run every feed row of stats says caught up, with a lag', { timeout: 60_000 }, async () => {
    const r = await startSimulator({ seed: 702, events: 10, v2: { feeds: { records: 30 } } });
    try {
      const db = join(r.dir, 'feeds.db');
      const env = { MIMECAST_CLIENT_ID: r.info.v2Credentials.clientId, MIMECAST_CLIENT_SECRET: r.info.v2Credentials.clientSecret };
      const run = await runCli(['collect', '--api', 'v2', '--feeds', 'all', '--url', r.info.url, '--db', db, '--once', '--retry-base-ms', '20', '--timeout', '5'], { env });
      assert.equal(run.code, 0, run.stderr.slice(-2000));
      const stats = await runCli(['stats', '--db', db, '--json']);
      const streams = (JSON.parse(stats.stdout) as { api_streams: { stream: string; kind: string; caught_up: boolean; lag_seconds: number | null }[] }).api_streams;
      const feeds = streams.filter((s) => s.kind === 'mimecast-v2-feed');
      assert.ok(feeds.length >= 8, `every feed has its row (${feeds.length})`);
      assert.deepEqual(feeds.filter((f) => !f.caught_up).map((f) => f.stream), [], 'every feed caught up after a full run');
    } finally {
      await r.sim.stop();
    }
  });
});
