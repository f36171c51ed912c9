/**
 * The search sink's `_bulk` bytes and answers without an engine: bodies encoded once into one
 * buffer per unit (any characters), retries that send the same bytes, and the cheap reading of an
 * answer without errors, which must never believe less than a whole answer. A loopback server
 * plays the engine's `_bulk` API.
 */
import assert from 'node:assert/strict';
import { type IncomingMessage, type ServerResponse, createServer } from 'node:http';
import { after, before, describe, it } from 'node:test';
import fc from 'fast-check';
import { Logger } from '../../src/log/logger.js';
import { allCreated, bulkBody, encodeDocs } from '../../src/sinks/search/bulk.js';
import { SearchClient } from '../../src/sinks/search/client.js';
import { SearchDestination } from '../../src/sinks/search/search-destination.js';
import { processInput, transformer } from '../support/helpers.js';

const quiet = new Logger(process.stderr, 'error');

/** The body the sink sent before it encoded bytes itself: one string, one `create` line per document. */
const asText = (docs: readonly { index: string; id: string; json: string }[]) =>
  docs.map((d) => `{"create":{"_index":${JSON.stringify(d.index)},"_id":${JSON.stringify(d.id)}}}\n${d.json}\n`).join('');

describe('search sink: _bulk bodies as bytes', () => {
  it('encodes any documents, non-ASCII included, to exactly the UTF-8 of their action and document lines; a subset or another order is sent as listed (property)', () => {
    const doc = fc.record({ index: fc.constantFrom('logs-2026.01.01', 'logs-2026.01.02'), id: fc.string({ minLength: 1, maxLength: 40 }), json: fc.string({ unit: 'grapheme', maxLength: 3000 }) });
    fc.assert(fc.property(fc.array(doc, { minLength: 1, maxLength: 40 }), fc.array(fc.nat(), { maxLength: 40 }), (list, picks) => {
      const docs = list.map((d, slot) => ({ ...d, json: JSON.stringify(d.json), hash: 'h', slot }));
      const encoded = encodeDocs(docs);
      assert.deepEqual(bulkBody(encoded), Buffer.from(asText(docs)));
      const some = picks.map((p) => p % docs.length);
      if (some.length === 0) return;
      assert.deepEqual(bulkBody(some.map((i) => encoded[i]!)), Buffer.from(asText(some.map((i) => docs[i]!))));
    }), { numRuns: 300 });
  });

  it('a body of consecutive documents is a view of the unit\'s bytes, not a copy', () => {
    const docs = encodeDocs(Array.from({ length: 5 }, (_, slot) => ({ index: 'i', id: `id${slot}`, hash: 'h', json: `{"n":${slot}}`, slot })));
    const body = bulkBody(docs.slice(1, 4));
    assert.equal(body.buffer, docs[0]!.bytes.buffer);
    assert.equal(body.toString(), asText([1, 2, 3].map((n) => ({ index: 'i', id: `id${n}`, json: `{"n":${n}}` }))));
  });
});

describe('search sink: reading a _bulk answer without parsing it', () => {
  const created = (n: number) => Array.from({ length: n }, (_, i) => `{"create":{"_index":"i","_id":"id${i}","_version":1,"result":"created","_shards":{"total":1,"successful":1,"failed":0},"_seq_no":${i},"_primary_term":1,"status":201}}`).join(',');

  it('believes "every document created" only from errors:false at the top, one create item per document, and a whole answer', () => {
    assert.equal(allCreated(`{"took":5,"errors":false,"items":[${created(3)}]}`, 3), true);
    assert.equal(allCreated(`{"errors":false,"took":5,"items":[${created(3)}]}\n`, 3), true, "Elasticsearch's order of fields");
    assert.equal(allCreated(`{"took":5,"errors":false,"items":[${created(2)}]}`, 3), false, 'an item missing');
    assert.equal(allCreated(`{"took":5,"errors":false,"items":[${created(4)}]}`, 3), false, 'an item too many');
    assert.equal(allCreated(`{"took":5,"errors":false,"items":[${created(3)}`, 3), false, 'cut short');
    assert.equal(allCreated(`{"took":5,"errors":true,"items":[${created(2)},{"create":{"status":400,"error":{"reason":"\\"errors\\":false"}}}]}`, 3), false);
    assert.equal(allCreated(`{"took":5,"items":[${created(3)}],"errors":false}`, 3), false, 'errors after the items: read them');
    assert.equal(allCreated('<html>errors":false "items":[</html>', 0), false);
  });
});

/** A loopback stand-in for the engine: `GET /`, the index template, and `_bulk` answered by `answer`. */
class FakeEngine {
  readonly bodies: string[] = [];
  /** The path and query of each `_bulk` request. */
  readonly urls: string[] = [];
  private readonly server = createServer((req, res) => void this.handle(req, res));
  constructor(private readonly answer: (body: string, call: number) => string) {}

  async start(): Promise<string> {
    await new Promise<void>((r) => this.server.listen(0, '127.0.0.1', r));
    return `http://127.0.0.1:${(this.server.address() as { port: number }).port}`;
  }

  stop(): Promise<void> {
    this.server.closeAllConnections();
    return new Promise((r) => this.server.close(() => r()));
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    const body = Buffer.concat(chunks).toString();
    const json = (text: string): void => void res.writeHead(200, { 'content-type': 'application/json' }).end(text);
    if (req.url === '/') return json('{"version":{"number":"2.19.6","distribution":"opensearch"}}');
    if (req.url?.startsWith('/_index_template/')) return json('{"acknowledged":true}');
    this.bodies.push(body);
    this.urls.push(req.url ?? '');
    json(this.answer(body, this.bodies.length));
  }
}

/** The `create` items of a bulk body, in order, each answered with a status. */
function items(body: string, status: (i: number) => number): string {
  const docs = body.split('\n').filter((_, i) => i % 2 === 0 && _ !== '');
  const list = docs.map((_, i) => {
    const s = status(i);
    return s === 201 ? `{"create":{"_index":"x","_id":"${i}","status":201}}` : `{"create":{"_index":"x","_id":"${i}","status":${s},"error":{"type":"es_rejected_execution_exception","reason":"busy"}}}`;
  });
  return `{"took":1,"errors":${docs.some((_, i) => status(i) !== 201)},"items":[${list.join(',')}]}`;
}

describe('search sink against a loopback stand-in for the engine', () => {
  let unit: Awaited<ReturnType<typeof processInput>>;
  before(async () => {
    const lines = Array.from({ length: 6 }, (_, i) => `datetime=2024-03-01T10:00:0${i}+0000|aCode=b${i}|acc=C1|Subject=caf\u00e9 \u{1F4E7} ${i}|Sender=a@x.test|Rcpt=b@y.test|Act=Acc`);
    unit = await processInput('in.log', lines.join('\n'));
  });
  const open = async (engine: FakeEngine) => {
    const client = new SearchClient({ urls: [await engine.start()], auth: { kind: 'none' }, timeoutMs: 10_000 });
    return SearchDestination.open(client, {
      indexPattern: 'b-{yyyy}.{MM}.{dd}', templateName: 'b', maxDocs: 4, maxBytes: 1 << 20, concurrency: 2, retryBaseMs: 1, retryMaxMs: 5, giveUpMs: 10_000,
    }, quiet);
  };
  const engines: FakeEngine[] = [];
  after(() => Promise.all(engines.map((e) => e.stop())));

  it('sends a busy item again as the very bytes it sent the first time, and counts each document once', async () => {
    // The request of 4 documents has its 2nd and 4th items refused as busy (429); every other answer says created.
    let first = '';
    const engine = new FakeEngine((body) => {
      const refuse = first === '' && body.split('\n').length === 9;
      if (refuse) first = body;
      return items(body, (i) => (refuse && (i === 1 || i === 3) ? 429 : 201));
    });
    engines.push(engine);
    const sink = await open(engine);
    const report = await sink.deliver(unit);
    await sink.close();
    assert.deepEqual({ indexed: report.indexed, duplicates: report.duplicates, resent: report.resent, rejected: report.rejected.length }, { indexed: 6, duplicates: 0, resent: 2, rejected: 0 });
    assert.equal(engine.bodies.length, 3);
    const lines = first.split('\n');
    assert.equal(engine.bodies.at(-1), [lines[2], lines[3], lines[6], lines[7], ''].join('\n'));
    assert.match(first, /Subject.*caf\u00e9 \u{1F4E7}/u, 'non-ASCII text sent as UTF-8');
  });

  it('refuses an answer that says errors:false but holds fewer items than documents sent: nothing is counted as indexed', async () => {
    const engine = new FakeEngine((body) => items(body, () => 201).replace(/,\{"create":\{[^}]*\}\}\]\}$/, ']}'));
    engines.push(engine);
    const sink = await open(engine);
    await assert.rejects(sink.deliver(unit), /refused a bulk request: HTTP 200/);
    await sink.close();
  });

  it('an API feed\'s event the engine refuses is a dead letter that keeps its feed (so replay reads it as the feed\'s)', async () => {
    const record = { id: 'audit-1', auditType: 'Logon', user: 'admin@example.com', eventTime: '2026-12-01T10:00:00+0000', eventInfo: 'logon', category: 'authentication_logs' };
    const fromFeed = await processInput('audit page 0', JSON.stringify(record), transformer().forFeed('audit'));
    assert.equal(fromFeed.events[0]!.classification.logType, 'audit');
    const engine = new FakeEngine(() => '{"errors":true,"items":[{"create":{"status":400,"error":{"type":"mapper_parsing_exception","reason":"bad field"}}}]}');
    engines.push(engine);
    const sink = await open(engine);
    const report = await sink.deliver(fromFeed);
    await sink.close();
    assert.equal(report.rejected.length, 1);
    assert.equal(report.rejected[0]!.feed, 'audit');
    assert.equal(report.rejected[0]!.raw.toString(), fromFeed.events[0]!.raw);
  });

  it('asks the engine for only what it reads of a bulk answer (filter_path), and reads such an answer: created items counted, a refused one dead-lettered with the reason', async () => {
    // What an engine answers to filter_path=errors,items.*.status,items.*.error: no index, id, version or shards per item.
    const engine = new FakeEngine((body, call) => {
      const sent = body.split('\n').filter((_, i) => i % 2 === 0 && _ !== '').length;
      const list = Array.from({ length: sent }, (_, i) => (call === 1 && i === 1 ? '{"create":{"status":400,"error":{"type":"mapper_parsing_exception","reason":"bad field"}}}' : '{"create":{"status":201}}'));
      return `{"errors":${call === 1},"items":[${list.join(',')}]}`;
    });
    engines.push(engine);
    const sink = await open(engine);
    const report = await sink.deliver(unit);
    await sink.close();
    assert.deepEqual({ indexed: report.indexed, rejected: report.rejected.length }, { indexed: 5, rejected: 1 });
    assert.match(report.rejected[0]!.reason, /HTTP 400 mapper_parsing_exception: bad field/);
    assert.equal(report.rejected[0]!.feed, undefined, 'a SIEM log line has no feed');
    for (const url of engine.urls) {
      const filter = new URL(url, 'http://x').searchParams.get('filter_path')?.split(',') ?? [];
      assert.ok(['errors', 'items.*.status', 'items.*.error', 'error'].every((f) => filter.includes(f)), `${url} asks for the short answer`);
    }
  });
});
