/**
 * Test support for the state index's tests against a loopback stand-in of the engine (a small HTTP
 * server of the test's own): its client's lifetime, and dead letters as the books write them.
 */
import { createHash } from 'node:crypto';
import { type IncomingMessage, type ServerResponse, createServer } from 'node:http';
import { after, before } from 'node:test';
import { engineDeadLetter } from '../../src/cluster/books.js';
import { SearchClient } from '../../src/sinks/search/client.js';
import { closeNow, listenOnLoopback } from '../support/helpers.js';

/** A stand-in of the engine on a loopback port: a subclass says how it answers. */
export abstract class LoopbackStandIn {
  private readonly server = createServer((req, res) => void this.answer(req, res));
  url = '';

  async start(): Promise<void> {
    this.url = await listenOnLoopback(this.server);
  }
  stop(): void {
    closeNow(this.server);
  }

  protected abstract answer(req: IncomingMessage, res: ServerResponse): Promise<void>;
}

/** A stand-in started before the suite's tests and stopped after them, with a client of it: call the returned function inside a test. */
export function clientOfStandIn(engine: LoopbackStandIn, timeoutMs: number): () => SearchClient {
  let client: SearchClient | undefined;
  before(async () => {
    await engine.start();
    client = new SearchClient({ urls: [engine.url], auth: { kind: 'none' }, timeoutMs });
  });
  after(async () => {
    await client?.close();
    engine.stop();
  });
  return () => client!;
}

/** The books' document of a dead letter kept whole (its digest the bytes' own), read from `from` of source `source`. */
export function wholeDeadLetter(source: string, d: { from: string; position: number; reason: string; raw: Buffer }): ReturnType<typeof engineDeadLetter> {
  const digest = createHash('sha256').update(d.raw).digest('hex');
  return engineDeadLetter(source, { source: d.from, position: d.position, reason: d.reason, raw: d.raw, isText: true, digest, truncatedFrom: null, cutShort: false }, undefined, 'a', 1);
}
