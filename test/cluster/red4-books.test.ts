/**
 * Red-team round 4: the books' documents against a loopback stand-in for the engine's HTTP API
 * (its `_bulk` refuses a body past http.max_content_length with 413, as the engine does; its
 * `_search` answers what the test put there).
 */
import assert from 'node:assert/strict';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { describe, it } from 'node:test';
import { EngineBooks, engineDeadLetter } from '../../src/cluster/books.js';
import { clusterDeadLetters, clusterStats } from '../../src/cluster/books-report.js';
import { LoopbackStandIn, clientOfStandIn, wholeDeadLetter } from './stand-in-engine.js';

/** The engine's http.max_content_length, set low here (a deployment's choice; 100 MiB by default). */
const MAX_CONTENT = 10 * 1024 * 1024;

class FakeEngine extends LoopbackStandIn {
  readonly docs = new Map<string, unknown>();
  bulkBodies: number[] = [];
  /** The length of each `_search` answer sent. */
  searchAnswers: number[] = [];
  /** What `_search` answers (the test's hostile documents). */
  hits: { _id: string; _source: unknown }[] = [];

  protected async answer(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const chunks: Buffer[] = [];
    let size = 0;
    for await (const c of req) {
      size += (c as Buffer).length;
      if (size <= MAX_CONTENT) chunks.push(c as Buffer);
    }
    const reply = (status: number, body: unknown): void => {
      res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(body));
    };
    if (req.url === '/_bulk') {
      this.bulkBodies.push(size);
      if (size > MAX_CONTENT) return reply(413, { error: { reason: 'request entity too large' } });
      const lines = Buffer.concat(chunks).toString('utf8').split('\n').filter((l) => l !== '');
      const items = [];
      for (let i = 0; i < lines.length; i += 2) {
        const id = (JSON.parse(lines[i]!) as { create: { _id: string } }).create._id;
        const exists = this.docs.has(id);
        if (!exists) this.docs.set(id, JSON.parse(lines[i + 1]!));
        items.push({ create: exists ? { _id: id, status: 409 } : { _id: id, status: 201, result: 'created' } });
      }
      return reply(200, { errors: false, items });
    }
    if (req.url?.endsWith('/_search')) {
      const q = JSON.parse(Buffer.concat(chunks).toString('utf8')) as { from?: number; size: number };
      const body = JSON.stringify({ hits: { hits: this.hits.slice(q.from ?? 0, (q.from ?? 0) + q.size) } });
      this.searchAnswers.push(body.length);
      res.writeHead(200, { 'content-type': 'application/json' }).end(body);
      return;
    }
    reply(404, {});
  }
}

describe('the books against a stand-in engine', () => {
  const engine = new FakeEngine();
  const client = clientOfStandIn(engine, 30_000);

  it("a unit's dead letters larger together than one request the engine takes are all written (in several requests)", async () => {
    const books = new EngineBooks(client(), 'state');
    const letters = Array.from({ length: 12 }, (_, i) => {
      const raw = Buffer.alloc(1024 * 1024, 0x41 + i);
      return wholeDeadLetter('s', { from: 'k', position: i + 1, reason: 'not a record', raw });
    });
    engine.bulkBodies = [];
    await books.putAll(letters);
    for (const l of letters) assert.ok(engine.docs.has(l.id), `dead letter ${l.id} written`);
    assert.ok(engine.bulkBodies.every((n) => n <= MAX_CONTENT), `every request within the engine's limit (${engine.bulkBodies.join(', ')} bytes)`);
  });

  it('dead-letters --config --limit 40 of 1 MiB dead letters reads them a page at a time (no answer of every one at once)', async () => {
    const bytes = (i: number) => Buffer.alloc(1024 * 1024, 0x41 + (i % 26));
    engine.hits = Array.from({ length: 40 }, (_, i) => {
      const { id, doc } = engineDeadLetter('s', { source: 'k', position: i + 1, reason: 'not a record', raw: bytes(i), isText: true, digest: String(i), truncatedFrom: null, cutShort: false }, undefined, 'a', 1);
      return { _id: id, _source: doc };
    });
    engine.searchAnswers = [];
    const { rows, problems } = await clusterDeadLetters(new EngineBooks(client(), 'state'), { limit: 40, previewBytes: 4096, withBytes: true });
    assert.deepEqual(problems, []);
    assert.equal(new Set(rows.map((r) => r.id)).size, 40);
    assert.equal(Buffer.from(rows[39]!.raw_b64!, 'base64').equals(bytes(39)), true, 'every kept byte');
    const largest = Math.max(...engine.searchAnswers);
    assert.ok(largest <= 32 * 1024 * 1024, `the largest answer ${largest} bytes (${engine.searchAnswers.length} answers)`);
    engine.hits = [];
  });

  it('stats reads a lease document with 300,000 books (hostile) without failing, the values it can believe summed', async () => {
    const names = Array.from({ length: 300_000 }, (_, i) => [`x${i}`, { counts: { units: 1 }, destinations: { engine: { units: 1 } }, updated_at: '2026-12-06T10:00:00.000Z' }]);
    engine.hits = [{ _id: 'source:s', _source: { kind: 'source', source: 's', owner: 'a', epoch: 1, checkpoints: {}, books: Object.fromEntries(names) } }];
    const s = await clusterStats(new EngineBooks(client(), 'state'));
    assert.equal(s.sources.length, 300_000);
    assert.equal(s.destinations[0]?.units, 300_000);
    engine.hits = [];
  });
});
