/** The state index's client: one request, over every node it tries in turn, ends within the time it was given. */
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { it } from 'node:test';
import { stateClient } from '../../src/cluster/state-client.js';
import type { SearchConfig } from '../../src/sinks/search/kind.js';

it('a state request to nodes that all hang ends within its time, not that time once per node (a renewal must end inside the lease)', async () => {
  const server = createServer(() => undefined); // takes every request, never answers
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const client = stateClient({ urls: [url, url, url], timeout_s: 60, insecure: false } as unknown as SearchConfig, {}, 600);
  const started = performance.now();
  await assert.rejects(client.send('GET', '/mimelog-state/_doc/source%3As'));
  const took = performance.now() - started;
  await client.close().catch(() => undefined);
  server.closeAllConnections();
  server.close();
  assert.ok(took < 900, `took ${Math.round(took)} ms over three hanging nodes, given 600 ms`);
});
