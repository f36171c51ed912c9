/**
 * API 2.0 pages whose envelope is odd where a record would be harmless: a next-page token that is
 * not a string (a number, an object, one nested 100,000 deep), error texts nested deep. Each is a
 * clear outcome for the real collector (`bin/mimelog collect`) against a loopback server started
 * here, never an exception thrown past the page.
 */
import assert from 'node:assert/strict';
import { type ServerResponse, createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { runCli, tempDir } from '../support/helpers.js';
import { logLines, query } from '../support/simulator.js';
import { takeEvents, toV1JsonRecord, toV2Record } from '../../src/simulator/generate.js';

type Answer = (n: number, res: ServerResponse) => void;

const servers: { close(): void }[] = [];
after(() => {
  for (const s of servers) s.close();
});

/** A loopback server: a good OAuth token, and `path` answered by `answer` with the request's number (1-based); its hits counted. */
async function server(path: string, answer: Answer): Promise<{ url: string; hits: () => number }> {
  let hits = 0;
  const s = createServer((req, res) => {
    req.resume();
    req.on('end', () => {
      const at = new URL(req.url ?? '/', 'http://x').pathname;
      if (at === '/oauth/token') return send(res, JSON.stringify({ access_token: 'good-token', expires_in: 1800 }));
      if (at !== path) return send(res, '{}', 404);
      answer(++hits, res);
    });
  });
  await new Promise<void>((resolve) => s.listen(0, '127.0.0.1', resolve));
  servers.push({ close: () => (s.closeAllConnections(), s.close()) });
  return { url: `http://127.0.0.1:${(s.address() as AddressInfo).port}`, hits: () => hits };
}

function send(res: ServerResponse, body: string, status = 200): void {
  res.writeHead(status, { 'content-type': 'application/json' });
  res.end(body);
}

const V1_ENV = { MIMECAST_APP_ID: 'app-id', MIMECAST_APP_KEY: 'app-key-1234', MIMECAST_ACCESS_KEY: 'access-key-1234', MIMECAST_SECRET_KEY: Buffer.from('secret-key-1234').toString('base64') };
const V2_ENV = { MIMECAST_CLIENT_ID: 'hostile-client', MIMECAST_CLIENT_SECRET: 'not-so-secret' };
const FAST = ['--retry-base-ms', '20', '--retry-max-ms', '300', '--timeout', '10', '--once'];
const STREAM = '/siem/v1/events/cg';
const FEED = '/api/audit/get-audit-events';
const DEPTH = 100_000;
const deepObject = `${'{"a":'.repeat(DEPTH)}1${'}'.repeat(DEPTH)}`;
const deepArray = `${'['.repeat(DEPTH)}${']'.repeat(DEPTH)}`;
const cursor = (db: string, like: string) => query<{ cursor: string }>(db, 'SELECT cursor FROM checkpoints WHERE source LIKE ?', like)[0]?.cursor;
const count = (db: string, table: string) => query<{ n: number }>(db, `SELECT count(*) AS n FROM ${table}`)[0]!.n;

const streamRecords = takeEvents({ seed: 7, startMs: Date.now() - 86_400_000 }, 4).map((e) => JSON.stringify(toV2Record(e, { shape: 'stream' })));

function auditRecord(i: number): string {
  return JSON.stringify({ id: `audit-${i}`, auditType: 'Logon', user: 'admin@example.com', eventTime: new Date(Date.now() - 300_000).toISOString(), eventInfo: `event ${i}`, category: 'authentication_logs' });
}

function streamArgs(url: string, db: string): string[] {
  return ['collect', '--api', 'v2', '--mode', 'stream', '--url', url, '--db', db, ...FAST];
}

function feedArgs(url: string, db: string): string[] {
  return ['collect', '--api', 'v2', '--feeds', 'audit', '--url', url, '--db', db, ...FAST, '--first-look-back-days', '1', '--safety-lag', '0', '--overlap', '0'];
}

describe('API 2.0 pages: a next-page token that is not a string', () => {
  const tokens = [['a number', '7', 'a number'], ['an object', '{"offset":7}', 'an object'], ['an object nested 100,000 deep', deepObject, 'an object'], ['an array', '["x"]', 'an array']] as const;
  for (const [name, token, kind] of tokens) {
    it(`stream: @nextPage as ${name} ends the pass with the page's events stored and the token where it was, said once`, { timeout: 60_000 }, async () => {
      // Caught up after 30 requests, so that a collector that follows the odd token still ends (and fails the count).
      const s = await server(STREAM, (n, res) => send(res, `{"value":[${streamRecords[n % 4]}],"@nextPage":${n === 1 ? '"good"' : token},"isCaughtUp":${n > 30}}`));
      const db = join(tempDir('hostile-pages'), 'stream.db');
      const res = await runCli(streamArgs(s.url, db), { env: V2_ENV });
      assert.equal(res.code, 0, res.stderr.slice(-1500));
      assert.equal(s.hits(), 2);
      assert.equal(count(db, 'events'), 2, 'the events of the page with the odd token are stored');
      assert.equal(cursor(db, 'mimecast-v2-stream%'), 'good', 'the token stays at the last one that could be followed');
      const said = logLines(res.stderr).filter((l) => l.msg.startsWith(`stream paging ended for this pass: the next-page token is not a string but ${kind}`));
      assert.equal(said.length, 1, res.stderr.slice(-1500));
    });

    it(`feed: meta.pagination.next as ${name} ends the window: the page's records stored, the token's JSON (its head) a dead letter, the rest a gap`, { timeout: 60_000 }, async () => {
      const s = await server(FEED, (n, res) => send(res, `{"meta":{"status":200,"pagination":{"next":${n === 1 ? '"good"' : token}}},"data":[${auditRecord(n)}],"fail":[]}`));
      const db = join(tempDir('hostile-pages'), 'feed.db');
      const res = await runCli(feedArgs(s.url, db), { env: V2_ENV });
      assert.equal(res.code, 4, `a gap: ${res.stderr.slice(-1500)}`);
      assert.equal(s.hits(), 2);
      assert.equal(count(db, 'events'), 2);
      const dead = query<{ reason: string; raw: string }>(db, 'SELECT reason, CAST(raw AS TEXT) AS raw FROM dead_letters');
      assert.equal(dead.length, 1);
      assert.equal(dead[0]!.reason, `audit: the next-page token is not a string but ${kind}`);
      assert.deepEqual(JSON.parse(dead[0]!.raw), { nextPageTokenJson: token.slice(0, 1024), pagesRead: 2 });
      assert.equal(count(db, 'gaps'), 1);
    });
  }
});

describe('API 2.0 error answers whose code or message is nested deep or huge', () => {
  const failPage = (error: string) => `{"meta":{"status":200},"data":[],"fail":[{"errors":[${error}]}]}`;
  const cases = [
    ['stream: a 400 whose message is an array nested 100,000 deep is refused at once, its JSON head in the error', STREAM, 400, `{"error":{"code":"err_x","message":${deepArray}}}`, /API 2\.0 rejected the stream page: \[{1024}… \(200000 characters\)/],
    ['feed: a fail[] whose message is an array nested 100,000 deep fails the feed at once, its JSON head in the error', FEED, 200, failPage(`{"code":"err_x","message":${deepArray}}`), /audit: HTTP 200 err_x: \[{1024}… \(200000 characters\)/],
    ['feed: a fail[] whose code is an object nested 100,000 deep', FEED, 200, failPage(`{"code":${deepObject},"message":"no"}`), /audit: HTTP 200 (\{"a":){204}\{"a"… \(600001 characters\): no/],
    ['feed: a fail[] message of 5 MB is said by its head, not printed whole', FEED, 200, failPage(`{"code":"err_x","message":"${'m'.repeat(5_000_000)}"}`), /audit: HTTP 200 err_x: m{1024}… \(5000000 characters\)/],
    // fail of another shape: an error said with its head, never "no error" (the window would be passed as empty), never a TypeError retried as a network failure.
    ['feed: a fail that is an object, not a list, fails the feed at once, said', FEED, 200, '{"meta":{"status":200},"data":[],"fail":{"errors":"busy"}}', /audit: HTTP 200: the answer's fail is not a list of errors: \{"errors":"busy"\}/],
    ['feed: a fail[] holding no error object (null, a string) fails the feed at once, said', FEED, 200, '{"meta":{"status":200},"data":[],"fail":[null,{"errors":["x"]}]}', /audit: HTTP 200: the answer's fail is not a list of errors: \[null,\{"errors":\["x"\]\}\]/],
  ] as const;
  for (const [name, path, status, body, said] of cases) {
    it(name, { timeout: 60_000 }, async () => {
      const s = await server(path, (_n, res) => send(res, body, status));
      const db = join(tempDir('hostile-pages'), 'error.db');
      const res = await runCli(path === STREAM ? streamArgs(s.url, db) : feedArgs(s.url, db), { env: V2_ENV });
      assert.equal(res.code, 1, res.stderr.slice(-1500));
      assert.equal(s.hits(), 1, `not retried as if the network had failed: ${res.stderr.slice(-1500)}`);
      assert.match(res.stderr, said);
      assert.ok(res.stderr.length < 20_000, `stderr of ${res.stderr.length} characters`);
    });
  }
});

describe('API 1.0: error codes are data, not keys of an object', () => {
  for (const code of ['constructor', 'toString', '__proto__']) {
    it(`a fail[] code "${code}" is refused with the answer's own words, not advice read from the prototype`, { timeout: 60_000 }, async () => {
      const s = await server('/api/audit/get-siem-logs', (_n, res) => send(res, JSON.stringify({ meta: { status: 400 }, data: [], fail: [{ errors: [{ code, message: 'not today', retryable: false }] }] }), 400));
      const db = join(tempDir('hostile-pages'), 'v1-code.db');
      const res = await runCli(['collect', '--api', 'v1', '--url', s.url, '--db', db, ...FAST], { env: V1_ENV });
      assert.equal(res.code, 1, res.stderr.slice(-1500));
      assert.match(res.stderr, new RegExp(`${code}: not today \\(HTTP 400\\)`));
      assert.doesNotMatch(res.stderr, /native code|function Object/);
    });
  }
});

describe('API 1.0: a json document with a record nested deep', () => {
  it('a pretty-printed file with a record nested 1,000,000 levels deep: that record is a dead letter alone, on one line; the others stored and the token moves on', { timeout: 60_000 }, async () => {
    const records = takeEvents({ seed: 11, startMs: Date.now() - 86_400_000 }, 2).map((e) => JSON.stringify(toV1JsonRecord(e)));
    const depth = 1_000_000;
    const deep = `{"a":\n${'[\n'.repeat(depth)}${']\n'.repeat(depth)}}`;
    const s = await server('/api/audit/get-siem-logs', (n, res) => {
      if (n > 1) return send(res, JSON.stringify({ meta: { isLastToken: true }, data: [] }));
      res.writeHead(200, { 'content-type': 'application/octet-stream', 'mc-siem-token': 'after-deep', 'content-disposition': 'attachment; filename="receipt_1.json"' });
      res.end(`{"type": "MTA",\n "data": [\n  ${records[0]},\n  ${deep},\n  ${records[1]}\n ]\n}\n`);
    });
    const db = join(tempDir('hostile-pages'), 'v1-deep.db');
    const res = await runCli(['collect', '--api', 'v1', '--url', s.url, '--db', db, ...FAST], { env: V1_ENV });
    assert.equal(res.code, 2, res.stderr.slice(-1500));
    assert.equal(count(db, 'events'), 2);
    const dead = query<{ position: number; reason: string; raw: string }>(db, 'SELECT position, reason, CAST(raw AS TEXT) AS raw FROM dead_letters');
    assert.equal(dead.length, 1);
    assert.equal(dead[0]!.position, 2);
    assert.match(dead[0]!.reason, /^JSON nested deeper than 64 levels/);
    assert.equal(dead[0]!.raw, `{"a":${'['.repeat(depth)}${']'.repeat(depth)}}`);
    assert.equal(cursor(db, 'mimecast-v1 %'), 'after-deep');
  });
});

describe('API 2.0 pages: a record nested millions of levels deep, within a small heap', () => {
  // 12 MiB of brackets in one record: parsed, that was 6 million arrays (some 340 MB of heap) only for
  // the record to be refused; cut out of the text unparsed, the page fits a 192 MiB heap.
  const depth = 6 * 1024 * 1024;
  const nested = `${'['.repeat(depth)}${']'.repeat(depth)}`;
  const SMALL_HEAP = { ...V2_ENV, NODE_OPTIONS: '--max-old-space-size=192' };

  it('stream: the deep event is a dead letter with its text, the page\'s other events stored, the token moved on', { timeout: 60_000 }, async () => {
    const deep = `{"timestamp":"${Date.now() - 60_000}","type":"receipt","n":${nested}}`;
    const s = await server(STREAM, (_n, res) => send(res, `{"value":[${streamRecords[0]},${deep},${streamRecords[1]}],"@nextPage":"after-deep","isCaughtUp":true}`));
    const db = join(tempDir('hostile-pages'), 'stream-huge-deep.db');
    const res = await runCli(streamArgs(s.url, db), { env: SMALL_HEAP });
    assert.equal(res.code, 2, res.stderr.slice(-1500));
    assert.equal(count(db, 'events'), 2);
    const dead = query<{ reason: string; bytes: number; truncated_from: number | null }>(db, 'SELECT reason, length(raw) AS bytes, truncated_from FROM dead_letters');
    assert.equal(dead.length, 1);
    assert.match(dead[0]!.reason, /^JSON nested deeper than 64 levels/);
    assert.deepEqual([dead[0]!.bytes, dead[0]!.truncated_from], [deep.length, null], 'its text whole (under --max-record-bytes)');
    assert.equal(cursor(db, 'mimecast-v2-stream%'), 'after-deep');
  });

  it('feed: the deep record is a dead letter, the page\'s other records stored, no gap', { timeout: 60_000 }, async () => {
    const deep = `{"id":"deep","auditType":"Logon","eventTime":"${new Date(Date.now() - 300_000).toISOString()}","n":${nested}}`;
    const s = await server(FEED, (n, res) => send(res, `{"meta":{"status":200,"pagination":{}},"data":[${auditRecord(n)},${deep},${auditRecord(n + 100)}],"fail":[]}`));
    const db = join(tempDir('hostile-pages'), 'feed-huge-deep.db');
    const res = await runCli(feedArgs(s.url, db), { env: SMALL_HEAP });
    assert.equal(res.code, 2, res.stderr.slice(-1500));
    assert.equal(count(db, 'events'), 2);
    const dead = query<{ reason: string }>(db, 'SELECT reason FROM dead_letters');
    assert.equal(dead.length, 1);
    assert.match(dead[0]!.reason, /^JSON nested deeper than 64 levels/);
    assert.equal(count(db, 'gaps'), 0);
  });
});

describe('API 2.0 stream: a page whose scan for deep events and JSON.parse read a key differently', () => {
  it('a deep event in a first "value" and a second "valu\\u0065" (the same key, escaped): the events JSON.parse keeps are stored, none replaced by the deep one', { timeout: 60_000 }, async () => {
    const deep = `{"timestamp":"${Date.now() - 60_000}","type":"receipt","n":${'['.repeat(1000)}${']'.repeat(1000)}}`;
    // JSON.parse keeps the last of a repeated key: the page's events are streamRecords 1 and 2.
    const page = `{"value":[${deep},${streamRecords[0]}],"valu\\u0065":[${streamRecords[1]},${streamRecords[2]}],"@nextPage":"after-dup","isCaughtUp":true}`;
    assert.equal((JSON.parse(page) as { value: unknown[] }).value.length, 2);
    const s = await server(STREAM, (_n, res) => send(res, page));
    const db = join(tempDir('hostile-pages'), 'stream-escaped-key.db');
    const res = await runCli(streamArgs(s.url, db), { env: V2_ENV });
    assert.equal(res.code, 0, res.stderr.slice(-1500));
    assert.equal(count(db, 'events'), 2, 'both events of the value JSON.parse keeps');
    assert.equal(count(db, 'dead_letters'), 0, 'no event of the kept value was replaced by the deep event of the other');
    assert.equal(cursor(db, 'mimecast-v2-stream%'), 'after-dup');
  });
});

describe('API 2.0 batch listing nested millions of levels deep, within a small heap', () => {
  for (const [what, entry] of [['no url', '{"size":5,"expiry":"2099-01-01T00:00:00Z"}'], ['a url that is not a URL', '{"url":"not a url"}'], ['a file: url', '{"url":"file:///etc/passwd"}'], ['null', 'null']] as const) {
    it(`a listing entry with ${what} stops the type, said with the entry, never a TypeError; nothing fetched`, { timeout: 60_000 }, async () => {
      const s = await server('/siem/v1/batch/events/cg', (_n, res) => send(res, `{"value":[${entry}],"@nextPage":"next","isCaughtUp":true}`));
      const db = join(tempDir('hostile-pages'), 'listing-url.db');
      const res = await runCli(['collect', '--api', 'v2', '--types', 'receipt', '--url', s.url, '--db', db, ...FAST], { env: V2_ENV });
      assert.equal(res.code, 1, res.stderr.slice(-1500));
      assert.match(res.stderr, /receipt listing: entry 1 is not a file with an http\(s\) url: /);
      assert.doesNotMatch(res.stderr, /TypeError/);
      assert.equal(count(db, 'events'), 0);
    });
  }

  it('a listing whose file entry holds 12 MiB of brackets is refused unparsed, said, never killed out of memory', { timeout: 60_000 }, async () => {
    const depth = 6 * 1024 * 1024;
    const listing = `{"value":[{"url":"http://127.0.0.1:9/f.json.gz","expiry":"2099-01-01T00:00:00Z","size":1,"n":${'['.repeat(depth)}${']'.repeat(depth)}}],"@nextPage":"next","isCaughtUp":true}`;
    const s = await server('/siem/v1/batch/events/cg', (_n, res) => send(res, listing));
    const db = join(tempDir('hostile-pages'), 'listing-deep.db');
    const res = await runCli(['collect', '--api', 'v2', '--types', 'receipt', '--url', s.url, '--db', db, ...FAST], { env: { ...V2_ENV, NODE_OPTIONS: '--max-old-space-size=192' } });
    assert.equal(res.code, 1, res.stderr.slice(-1500));
    assert.match(res.stderr, /receipt listing: the answer nests deeper than 66 levels/);
    assert.equal(s.hits(), 1, 'not asked again: the same listing would come back');
  });
});
