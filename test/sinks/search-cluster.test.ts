/** Delivery to a real 3-node OpenSearch cluster while one node is killed and brought back. */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { BIN } from '../support/helpers.js';
import { EngineCluster, testNodeBuilt } from '../support/search-engine.js';
import { FAST, expectedIds, query, startSimulator } from '../support/simulator.js';

describe('search-engine sink on a 3-node OpenSearch cluster', () => {
  let os: EngineCluster;
  before(async () => {
    assert.ok(testNodeBuilt(), 'the OpenSearch test node is not built: run npm test (scripts/build-test-node.sh needs Java 17 and Maven)');
    os = await EngineCluster.start('opensearch', 3);
  });
  after(() => os?.stop());

  it('loses nothing and doubles nothing when a node is killed mid-delivery and comes back', { timeout: 900_000 }, async () => {
    const r = await startSimulator({ seed: 313, events: 30_000, eventsPerFile: 250 });
    const db = join(r.dir, 'cluster.db');
    const args = [
      'collect', '--url', r.info.url, '--db', db, ...FAST, '--sink', 'opensearch', '--search-url', os.urls.join(','),
      '--replicas', '1', '--bulk-docs', '200', '--search-give-up', '300', '--log-level', 'warn',
    ];
    const child = spawn(process.execPath, [BIN, ...args], { env: { ...process.env, ...r.env }, stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
    const exited = new Promise<number>((resolve) => child.on('exit', (code) => resolve(code ?? -1)));
    // Kill a node once delivery is under way: at least one index exists and holds documents.
    const deadline = Date.now() + 300_000;
    while (Date.now() < deadline && child.exitCode === null) {
      const count = await os.request('GET', '/mimecast-siem-*/_count').catch(() => ({ count: 0 }));
      if ((count.count ?? 0) > 3000) break;
      await new Promise((res) => setTimeout(res, 200));
    }
    assert.equal(child.exitCode, null, 'the collection ended before a node could be killed; make it larger');
    const victim = os.nodes[1]!.name;
    await os.killNode(victim);
    await new Promise((res) => setTimeout(res, 5000));
    await os.startNode(victim);
    const code = await exited;
    assert.equal(code, 0, stderr.slice(-3000));
    await os.waitHealthy('green', 3);
    const expected = await expectedIds(r);
    assert.equal(expected.length, 30_000);
    const ids = await os.ids();
    assert.equal(ids.length, expected.length, 'documents doubled or lost');
    assert.deepEqual(ids, expected);
    assert.deepEqual(query(db, 'SELECT count(*) AS n FROM dead_letters'), [{ n: 0 }]);
    await r.sim.stop();
  });
});
