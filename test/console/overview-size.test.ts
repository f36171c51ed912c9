/**
 * The console's overview of a store with 130,000 checkpoints (a spool's files) stays small and
 * quick: checkpoints are summarised per source kind, with the few that need a look and the count,
 * instead of all of them (16 MB, 30 s to draw). No browser: the JSON the page is drawn from.
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { startConsole, type RunningConsole } from '../../src/console/server.js';
import { API_STREAMS_SHOWN, CHECKPOINTS_SHOWN, type Overview } from '../../src/store/overview.js';
import { Store } from '../../src/store/store.js';
import { tempDir } from '../support/helpers.js';

const FILES = 130_000;
const INCOMPLETE = new Set([17, 64_000, 129_999]);
const NOW = Date.now();

describe('console overview of a store with 130,000 checkpoints', () => {
  let store: Store;
  let running: RunningConsole;

  before(async () => {
    store = new Store(join(tempDir('overview'), 'o.db'));
    const add = store.db.prepare('INSERT INTO checkpoints (source, kind, position, complete, updated_at) VALUES (?, ?, ?, ?, ?)');
    store.db.transaction(() => {
      for (let i = 0; i < FILES; i++) add.run(`/var/spool/mimelog/2026/file-${String(i).padStart(6, '0')}.log`, 'file', 1000, INCOMPLETE.has(i) ? 0 : 1, NOW - i * 1000);
      add.run('mimecast-v1 https://eu-api.mimecast.com', 'mimecast-v1', 5, 0, NOW - 3_600_000);
    })();
    running = await startConsole({ store, host: '127.0.0.1', port: 0, loopback: true });
  });

  after(async () => {
    await running?.close();
    store?.close();
  });

  it('answers in well under a second with a few KB, and still says how many there are and which need a look', async () => {
    const t0 = performance.now();
    const res = await fetch(`${running.url}api/overview`);
    const body = await res.text();
    const ms = performance.now() - t0;
    assert.equal(res.status, 200);
    assert.ok(body.length < 64 * 1024, `overview is ${body.length} bytes`);
    assert.ok(ms < 3000, `overview took ${ms.toFixed(0)} ms`);
    process.stderr.write(`# overview of ${FILES + 1} checkpoints: ${body.length} bytes in ${ms.toFixed(0)} ms\n`);
    const o = JSON.parse(body) as Overview;
    assert.equal(o.checkpoints.total, FILES + 1);
    assert.deepEqual(o.checkpoints.by_kind.map((k) => [k.kind, k.checkpoints, k.complete]), [['file', FILES, FILES - INCOMPLETE.size], ['mimecast-v1', 1, 0]]);
    const shown = o.checkpoints.needing_attention;
    assert.equal(shown.length, CHECKPOINTS_SHOWN);
    // Incomplete first (the oldest of them first), then the complete ones updated longest ago.
    assert.deepEqual(shown.slice(0, 4).map((c) => c.complete), [false, false, false, false]);
    assert.equal(shown[0]!.source, '/var/spool/mimelog/2026/file-129999.log');
    assert.equal(shown[4]!.source, '/var/spool/mimelog/2026/file-129998.log');
    assert.deepEqual(o.headroom.map((h) => h.source), ['mimecast-v1 https://eu-api.mimecast.com']);
    assert.equal(o.headroom_total, 1);
    assert.equal('checkpoints' in o.stats, false);
  });
});

describe('console overview of a store with 5,000 API checkpoints', () => {
  const STREAMS = 5000;
  const BEHIND = new Set([3, 2500, 4999]);
  let store: Store;
  let running: RunningConsole;

  before(async () => {
    store = new Store(join(tempDir('overview-api'), 'o.db'));
    const add = store.db.prepare('INSERT INTO checkpoints (source, kind, position, complete, updated_at) VALUES (?, ?, ?, ?, ?)');
    store.db.transaction(() => {
      for (let i = 0; i < STREAMS; i++) add.run(`mimecast-v1 https://eu-api.mimecast.com/stream-${String(i).padStart(4, '0')}`, 'mimecast-v1', 5, BEHIND.has(i) ? 0 : 1, NOW - i * 1000);
    })();
    running = await startConsole({ store, host: '127.0.0.1', port: 0, loopback: true });
  });

  after(async () => {
    await running?.close();
    store?.close();
  });

  it('shows the API streams needing a look first, at most API_STREAMS_SHOWN, and how many there are', async () => {
    const res = await fetch(`${running.url}api/overview`);
    const body = await res.text();
    assert.equal(res.status, 200);
    process.stderr.write(`# overview of ${STREAMS} API checkpoints: ${body.length} bytes\n`);
    assert.ok(body.length < 64 * 1024, `overview is ${body.length} bytes`);
    const o = JSON.parse(body) as Overview;
    assert.equal(o.api_streams_total, STREAMS);
    assert.equal(o.stats.api_streams.length, API_STREAMS_SHOWN);
    // Not caught up first (updated longest ago first), then the caught-up ones updated longest ago.
    assert.deepEqual(o.stats.api_streams.slice(0, 4).map((a) => [a.stream.slice(-4), a.caught_up]), [['4999', false], ['2500', false], ['0003', false], ['4998', true]]);
  });
});
