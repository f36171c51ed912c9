/**
 * The search-engine sink against a real OpenSearch 2.19 node: kill -9 of the collector (the shared
 * suite), and the node itself down for a minute while the store and the engine are both destinations.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { BIN, committedCount } from '../support/helpers.js';
import { FAST, expectedIds, startSimulator, storedIds } from '../support/simulator.js';
import { describeSearchSink } from './search-engine-suite.js';

describeSearchSink('opensearch', 'kills', (node) => {
  it('with the store and the engine as destinations, the engine down for a minute holds the checkpoint; back, neither misses an event', { timeout: 600_000 }, async () => {
    const r = await startSimulator({ seed: 414, events: 20_000, eventsPerFile: 250 });
    const db = join(r.dir, 'both.db');
    const args = ['collect', '--url', r.info.url, '--db', db, ...FAST, '--sink', 'sqlite,opensearch', '--search-url', node().urls.join(','),
      '--index', 'several-{yyyy}.{MM}.{dd}', '--template', 'several', '--bulk-docs', '200', '--search-give-up', '300', '--log-level', 'warn'];
    const child = spawn(process.execPath, [BIN, ...args], { env: { ...process.env, ...r.env }, stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
    const exited = new Promise<number>((resolve) => child.on('exit', (code) => resolve(code ?? -1)));
    try {
      const deadline = Date.now() + 300_000;
      while (Date.now() < deadline && child.exitCode === null && committedCount(db) < 3000) await sleep(100);
      assert.equal(child.exitCode, null, 'the collection ended before the engine could be stopped; make it larger');
      const victim = node().nodes[0]!.name;
      await node().killNode(victim);
      await sleep(5000); // what was in flight settles: the store's own commits need the engine's acknowledgement too
      const held = committedCount(db);
      await sleep(55_000);
      assert.equal(committedCount(db), held, 'nothing committed (no checkpoint moved) while the engine was down');
      assert.ok(held < 20_000);
      assert.match(stderr, /checkpoint held: waiting for a destination.*"waiting_for":\["opensearch"\]/);
      await node().startNode(victim);
      assert.equal(await exited, 0, stderr.slice(-3000));
      const expected = await expectedIds(r);
      assert.equal(expected.length, 20_000);
      assert.deepEqual(storedIds(db), expected, 'the store holds every event once');
      assert.deepEqual(await node().ids('several-*'), expected, 'the engine holds every event once');
    } finally {
      child.kill('SIGKILL');
      await r.sim.stop();
    }
  });
});
