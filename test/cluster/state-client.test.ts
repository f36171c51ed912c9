/**
 * The state index's client: one request, over every node it tries in turn, ends within the time it
 * was given, and a node whose connect hangs leaves the rest of that time to the next.
 */
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import { type Socket, createServer as createNetServer } from 'node:net';
import { it } from 'node:test';
import { stateClient } from '../../src/cluster/state-client.js';
import type { SearchConfig } from '../../src/sinks/search/kind.js';
import { closeNow, listenOnLoopback } from '../support/helpers.js';

it('a state request to nodes that all hang ends within its time, not that time once per node (a renewal must end inside the lease)', async () => {
  const server = createServer(() => undefined); // takes every request, never answers
  const url = await listenOnLoopback(server);
  const client = stateClient({ urls: [url, url, url], timeout_s: 60, insecure: false } as unknown as SearchConfig, {}, 600);
  const started = performance.now();
  await assert.rejects(client.send('GET', '/mimelog-state/_doc/source%3As'));
  const took = performance.now() - started;
  await client.close().catch(() => undefined);
  closeNow(server);
  assert.ok(took < 900, `took ${Math.round(took)} ms over three hanging nodes, given 600 ms`);
});

it("a node whose connect hangs (TLS never answered) is left at the end of its share: the next node answers the same request", async () => {
  // A listener that takes the connection and never says a word: the TLS handshake never ends (as a black-holed address's connect never does).
  const sockets: Socket[] = [];
  const silent = createNetServer((s) => void sockets.push(s));
  const answering = createServer((_req, res) => void res.writeHead(200, { 'content-type': 'application/json' }).end('{"found":false}'));
  const urls = [(await listenOnLoopback(silent)).replace('http:', 'https:'), await listenOnLoopback(answering)];
  const client = stateClient({ urls, timeout_s: 60, insecure: true } as unknown as SearchConfig, {}, 2_000);
  const started = performance.now();
  try {
    const res = await client.send('GET', '/mimelog-state/_doc/replica%3Aa');
    const took = performance.now() - started;
    assert.equal(res.status, 200, 'the second node answered');
    assert.ok(took >= 900 && took < 1_900, `the hung node had its share (1,000 ms), not the request's whole time: ${Math.round(took)} ms`);
  } finally {
    await client.close().catch(() => undefined);
    for (const s of sockets) s.destroy();
    silent.close();
    closeNow(answering);
  }
});

it('a state request to nodes whose connects all hang ends about when its time is up, not after undici\'s 10 s connect timeout (the deadline alone does not cut a connect short)', async () => {
  const sockets: Socket[] = [];
  const silent = createNetServer((s) => void sockets.push(s));
  const url = (await listenOnLoopback(silent)).replace('http:', 'https:');
  const client = stateClient({ urls: [url, url], timeout_s: 60, insecure: true } as unknown as SearchConfig, {}, 1_000);
  const started = performance.now();
  try {
    await assert.rejects(client.send('GET', '/mimelog-state/_doc/source%3As'), /Connect Timeout|no search node answered/);
    const took = performance.now() - started;
    // Each connect ends within its share (500 ms) plus undici's timer resolution (about 1 s); no
    // attempt starts after the deadline: at most the deadline, one share and 1 s (10 s before).
    assert.ok(took < 2_600, `took ${Math.round(took)} ms, given 1,000 ms`);
  } finally {
    await client.close().catch(() => undefined);
    for (const s of sockets) s.destroy();
    silent.close();
  }
});
