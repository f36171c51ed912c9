/**
 * A hostile or broken Mimecast: a small HTTP server started in the test (loopback, port 0) that
 * serves endless, huge, looping and lying answers to the real collector (`bin/mimelog collect`).
 * Every answer is a clear error or a dead letter with a gap, the run goes on or stops as its
 * policy says, memory stays bounded, SIGTERM works, and no secret is printed.
 */
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { type IncomingMessage, type ServerResponse, createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import { crc32 } from 'node:zlib';
import { after, describe, it } from 'node:test';
import { runCli, tempDir } from '../support/helpers.js';
import { spawnCli } from '../support/spawn-cli.js';
import { logLines, query } from '../support/simulator.js';
import { takeEvents, toKeyValueLine, toV2Record } from '../../src/simulator/generate.js';
import { zipMembers } from '../../src/simulator/zip.js';

type Handler = (req: IncomingMessage, body: string, res: ServerResponse) => void | Promise<void>;

interface Hostile {
  readonly url: string;
  /** Requests seen, by path. */
  readonly hits: Map<string, number>;
  close(): Promise<void>;
}

const servers: Hostile[] = [];
after(async () => {
  for (const s of servers) await s.close();
});

/** A server answering each path with its handler (the OAuth token endpoint answers a good token unless told otherwise). */
async function hostile(routes: Record<string, Handler>): Promise<Hostile> {
  const hits = new Map<string, number>();
  const all: Record<string, Handler> = { '/oauth/token': (_q, _b, res) => json(res, 200, { access_token: 'good-token', expires_in: 1800 }), ...routes };
  const server = createServer((req, res) => {
    const path = new URL(req.url ?? '/', 'http://x').pathname;
    hits.set(path, (hits.get(path) ?? 0) + 1);
    const parts: Buffer[] = [];
    req.on('data', (c: Buffer) => parts.push(c));
    req.on('end', () => {
      const handler = all[path];
      if (!handler) return json(res, 404, {});
      Promise.resolve(handler(req, Buffer.concat(parts).toString(), res)).catch(() => res.destroy());
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const h: Hostile = {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    hits,
    close: () => new Promise((resolve) => {
      server.closeAllConnections();
      server.close(() => resolve());
    }),
  };
  servers.push(h);
  return h;
}

function json(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  res.writeHead(status, { 'content-type': 'application/json', ...headers });
  res.end(JSON.stringify(body));
}

/** Writes `total` bytes of `fill` (in 1 MiB chunks, minding back-pressure), then `tail` and the end; stops when the client goes. */
async function stream(res: ServerResponse, total: number, fill = 'x', tail: Buffer = Buffer.alloc(0)): Promise<void> {
  const chunk = Buffer.alloc(1024 * 1024, fill);
  let closed = false;
  res.on('close', () => (closed = true));
  for (let sent = 0; sent < total && !closed; sent += chunk.length) {
    if (!res.write(chunk.subarray(0, Math.min(chunk.length, total - sent)))) await drained(res);
  }
  res.end(tail);
}

/** Resolves when `res` can take more, or is closed (its listeners removed either way). */
/** Writes `chunk` every 50 ms until the client goes away: a body that never ends. */
async function trickle(res: ServerResponse, chunk: string): Promise<void> {
  let open = true;
  res.on('close', () => (open = false));
  while (open) {
    res.write(chunk);
    await delay(50);
  }
}

function drained(res: ServerResponse): Promise<void> {
  return new Promise((resolve) => {
    const done = () => {
      res.off('drain', done).off('close', done);
      resolve();
    };
    res.on('drain', done).on('close', done);
  });
}

const V2_ENV = { MIMECAST_CLIENT_ID: 'hostile-client', MIMECAST_CLIENT_SECRET: 'not-so-secret' };
const V1_ENV = { MIMECAST_APP_ID: 'app-id', MIMECAST_APP_KEY: 'app-key-1234', MIMECAST_ACCESS_KEY: 'access-key-1234', MIMECAST_SECRET_KEY: Buffer.from('secret-key-1234').toString('base64') };
const FAST = ['--retry-base-ms', '20', '--retry-max-ms', '300', '--timeout', '10', '--once'];
/** One audit window of about 15 minutes (feeds start that far back, no safety lag). */
const ONE_WINDOW = ['--first-look-back-days', '1', '--safety-lag', '0', '--overlap', '0'];

function feedArgs(h: Hostile, db: string, extra: string[] = []): string[] {
  return ['collect', '--api', 'v2', '--feeds', 'audit', '--url', h.url, '--db', db, ...FAST, ...ONE_WINDOW, ...extra];
}

function auditRecord(i: number): Record<string, unknown> {
  return { id: `audit-${i}`, auditType: 'Logon', user: 'admin@example.com', eventTime: new Date(Date.now() - 300_000).toISOString(), eventInfo: `event ${i}`, category: 'authentication_logs' };
}

/** A feed page: records and the next page's token. */
function feedPage(res: ServerResponse, records: unknown[], next?: string): void {
  json(res, 200, { meta: { status: 200, pagination: next === undefined ? {} : { next } }, data: records, fail: [] });
}


const MiB = 1024 * 1024;

describe('hostile server: answers over the bound (item 9)', () => {
  it('a feed page over --max-response-bytes is a dead letter with its location and bytes read, the window a gap, and the run ends', { timeout: 60_000 }, async () => {
    const h = await hostile({ '/api/audit/get-audit-events': (_q, _b, res) => stream(res, 64 * MiB) });
    const db = join(tempDir('hostile'), 'feed.db');
    const res = await runCli(feedArgs(h, db, ['--max-response-bytes', String(MiB)]), { env: V2_ENV });
    assert.equal(res.code, 4, res.stderr.slice(-2000)); // a gap was recorded: the loudest status
    const dead = query<{ reason: string; raw: Buffer }>(db, 'SELECT reason, raw FROM dead_letters');
    assert.equal(dead.length, 1);
    assert.match(dead[0]!.reason, /the answer of http:\/\/127\.0\.0\.1:\d+\/api\/audit\/get-audit-events is larger than 1048576 bytes \(--max-response-bytes/);
    assert.match(dead[0]!.reason, /reading stopped after \d+ bytes/);
    assert.ok(dead[0]!.raw.length <= 64 * 1024, 'only the head is kept');
    const gaps = query<{ reason: string; log_type: string }>(db, 'SELECT reason, log_type FROM gaps');
    assert.equal(gaps.length, 1);
    assert.equal(gaps[0]!.log_type, 'audit');
    assert.equal(h.hits.get('/api/audit/get-audit-events'), 1, 'an answer over the bound is not asked again');
  });

  it('a stream page over the bound stops the source with a clear error naming the path, never the page token', { timeout: 60_000 }, async () => {
    const h = await hostile({ '/siem/v1/events/cg': (_q, _b, res) => stream(res, 64 * MiB, '[') });
    const db = join(tempDir('hostile'), 'stream.db');
    const res = await runCli(['collect', '--api', 'v2', '--mode', 'stream', '--url', h.url, '--db', db, ...FAST, '--max-response-bytes', String(MiB)], { env: V2_ENV });
    assert.equal(res.code, 1);
    assert.match(res.stderr, /stream page: the answer of http:\/\/127\.0\.0\.1:\d+\/siem\/v1\/events\/cg is larger than 1048576 bytes/);
    assert.doesNotMatch(res.stderr, /pageSize=/, 'the query (with its page token) is not printed');
  });

  it('SIGTERM ends a body in progress at once (a server trickling an endless page)', { timeout: 30_000 }, async () => {
    let started!: () => void;
    const trickling = new Promise<void>((r) => (started = r));
    const h = await hostile({
      '/api/audit/get-audit-events': async (_q, _b, res) => {
        res.writeHead(200, { 'content-type': 'application/json' });
        res.write('{"data":[');
        started();
        await trickle(res, ' ');
      },
    });
    const db = join(tempDir('hostile'), 'sigterm.db');
    const run = spawnCli(feedArgs(h, db, ['--timeout', '120']), V2_ENV);
    await trickling;
    await delay(300);
    const sentAt = Date.now();
    run.child.kill('SIGTERM');
    const res = await run.done;
    const tookMs = Date.now() - sentAt;
    assert.ok(tookMs < 5000, `stopped ${tookMs} ms after SIGTERM`);
    assert.equal(res.code, 0, res.stderr.slice(-2000));
  });

  it('an API 1.0 file over the bound is dead-lettered with its head at a peak RSS under 512 MiB; a 200 MiB zip under the bound too', { timeout: 120_000 }, async () => {
    // A 300 MiB file (over the default 256 MiB bound), then a stored zip of one 200 MiB member
    // (a single line over --max-record-bytes: read, checked, dead-lettered with its head), then caught up.
    const zip = storedZip('receipt_1.log', 200 * MiB, 'y');
    let served = 0;
    const h = await hostile({
      '/api/audit/get-siem-logs': async (_q, _b, res) => {
        served++;
        if (served === 1) {
          res.writeHead(200, { 'content-type': 'application/octet-stream', 'mc-siem-token': 'token-1', 'content-disposition': 'attachment; filename="huge.log"' });
          return stream(res, 300 * MiB, 'a');
        }
        if (served === 2) {
          res.writeHead(200, { 'content-type': 'application/octet-stream', 'mc-siem-token': 'token-2', 'content-disposition': 'attachment; filename="big.zip"' });
          res.write(zip.head);
          return stream(res, zip.size, 'y', zip.tail);
        }
        json(res, 200, { meta: { isLastToken: true }, data: [] });
      },
    });
    const db = join(tempDir('hostile'), 'v1.db');
    const res = await spawnCli(['collect', '--api', 'v1', '--url', h.url, '--db', db, ...FAST, '--timeout', '60'], V1_ENV).done;
    assert.equal(res.code, 2, res.stderr.slice(-2000));
    const dead = query<{ source: string; reason: string; n: number }>(db, 'SELECT source, reason, length(raw) AS n FROM dead_letters ORDER BY rowid');
    assert.equal(dead.length, 2, JSON.stringify(dead));
    assert.match(dead[0]!.reason, /file larger than 268435456 bytes \(--max-response-bytes\); its first 65536 bytes are kept \(reading stopped after \d+ bytes/);
    assert.equal(dead[0]!.n, 64 * 1024);
    assert.equal(dead[1]!.source, 'big.zip!receipt_1.log');
    assert.match(dead[1]!.reason, /over the limit/);
    console.log(`peak RSS: ${res.peakRssMiB} MiB`);
    assert.ok(res.peakRssMiB < 512, `peak RSS ${res.peakRssMiB} MiB`);
  });
});

describe('hostile server: API 2.0 batch files', () => {
  /** A listing of one receipt file at `path` (pre-signed: its query is a secret-like signature). */
  const listing = (h: Hostile, path: string): Handler => (_q, _b, res) =>
    json(res, 200, { value: [{ url: `${h.url}${path}?X-Amz-Signature=sig-secret-123`, size: 100, expiry: new Date(Date.now() + 600_000).toISOString() }], '@nextPage': 'n1', isCaughtUp: true });

  it('SIGTERM ends a batch file download that trickles forever', { timeout: 30_000 }, async () => {
    let started!: () => void;
    const trickling = new Promise<void>((r) => (started = r));
    const h: Hostile = await hostile({
      '/siem/v1/batch/events/cg': (q, b, res) => listing(h, '/files/slow.log')(q, b, res),
      '/files/slow.log': async (_q, _b, res) => {
        res.writeHead(200, { 'content-type': 'application/octet-stream' });
        started();
        await trickle(res, 'x');
      },
    });
    const run = spawnCli(['collect', '--api', 'v2', '--types', 'receipt', '--url', h.url, '--db', join(tempDir('hostile'), 'batch-sigterm.db'), ...FAST, '--timeout', '120'], V2_ENV);
    await trickling;
    await delay(300);
    const sentAt = Date.now();
    run.child.kill('SIGTERM');
    const res = await run.done;
    assert.ok(Date.now() - sentAt < 5000, `stopped ${Date.now() - sentAt} ms after SIGTERM`);
    assert.equal(res.code, 0, res.stderr.slice(-2000));
  });

  it('a batch file over --max-response-bytes is never read past the bound; the type stops with the file named, its signature not printed', { timeout: 60_000 }, async () => {
    const h: Hostile = await hostile({
      '/siem/v1/batch/events/cg': (q, b, res) => listing(h, '/files/big.log')(q, b, res),
      '/files/big.log': (_q, _b, res) => {
        res.writeHead(200, { 'content-type': 'application/octet-stream' });
        return stream(res, 64 * MiB, 'x');
      },
    });
    const res = await runCli(['collect', '--api', 'v2', '--types', 'receipt', '--url', h.url, '--db', join(tempDir('hostile'), 'batch-big.db'), ...FAST, '--max-response-bytes', String(MiB), '--max-retries', '1', '--decode-retries', '0'], { env: V2_ENV });
    assert.equal(res.code, 1, res.stderr.slice(-2000));
    assert.match(res.stderr, /still not stored after \d+ attempts/);
    assert.match(res.stderr, /the answer of http:\/\/127\.0\.0\.1:\d+\/files\/big\.log is larger than 1048576 bytes/);
    assert.doesNotMatch(res.stderr, /sig-secret-123/);
  });
});

/** A zip with one stored (uncompressed) member of `size` bytes of `fill`: what precedes and follows them (the test process never holds the member). */
function storedZip(name: string, size: number, fill: string): { head: Buffer; size: number; tail: Buffer } {
  const n = Buffer.from(name);
  const chunk = Buffer.alloc(MiB, fill);
  let crc = 0;
  for (let at = 0; at < size; at += MiB) crc = crc32(chunk.subarray(0, Math.min(MiB, size - at)), crc);
  const data = { length: size };
  const local = Buffer.alloc(30);
  local.writeUInt32LE(0x04034b50, 0);
  local.writeUInt16LE(20, 4);
  local.writeUInt32LE(crc, 14);
  local.writeUInt32LE(data.length, 18);
  local.writeUInt32LE(data.length, 22);
  local.writeUInt16LE(n.length, 26);
  const central = Buffer.alloc(46);
  central.writeUInt32LE(0x02014b50, 0);
  central.writeUInt16LE(20, 4);
  central.writeUInt16LE(20, 6);
  central.writeUInt32LE(crc, 16);
  central.writeUInt32LE(data.length, 20);
  central.writeUInt32LE(data.length, 24);
  central.writeUInt16LE(n.length, 28);
  const centralAt = local.length + n.length + data.length;
  const end = Buffer.alloc(22);
  end.writeUInt32LE(0x06054b50, 0);
  end.writeUInt16LE(1, 8);
  end.writeUInt16LE(1, 10);
  end.writeUInt32LE(central.length + n.length, 12);
  end.writeUInt32LE(centralAt, 16);
  return { head: Buffer.concat([local, n]), size, tail: Buffer.concat([central, n, end]) };
}

describe('hostile server: page tokens that never end (item 10)', () => {
  it('a next-page token that repeats ends the window with a dead letter and a gap; the records read are stored', { timeout: 60_000 }, async () => {
    const h = await hostile({
      // Served until 200 requests, so that a collector without the guard still ends (and fails the count).
      '/api/audit/get-audit-events': (_q, _b, res) => feedPage(res, [auditRecord(h.hits.get('/api/audit/get-audit-events')!)], h.hits.get('/api/audit/get-audit-events')! < 200 ? 'same-token' : undefined),
    });
    const db = join(tempDir('hostile'), 'repeat.db');
    const res = await runCli(feedArgs(h, db), { env: V2_ENV });
    assert.equal(res.code, 4, res.stderr.slice(-2000));
    assert.equal(h.hits.get('/api/audit/get-audit-events'), 2, 'the second page repeats the first token: the window ends there');
    assert.equal(query<{ n: number }>(db, 'SELECT count(*) AS n FROM events')[0]!.n, 2);
    const dead = query<{ reason: string; raw: string }>(db, 'SELECT reason, CAST(raw AS TEXT) AS raw FROM dead_letters');
    assert.equal(dead.length, 1);
    assert.match(dead[0]!.reason, /audit: the next-page token repeats one already followed/);
    assert.deepEqual(JSON.parse(dead[0]!.raw), { nextPageToken: 'same-token', pagesRead: 2 });
    const gaps = query<{ reason: string }>(db, 'SELECT reason FROM gaps');
    assert.equal(gaps.length, 1);
    assert.match(gaps[0]!.reason, /repeats/);
  });

  it('a token that never ends stops at --max-pages-per-window, with a dead letter and a gap', { timeout: 60_000 }, async () => {
    const h = await hostile({
      '/api/audit/get-audit-events': (_q, _b, res) => {
        const n = h.hits.get('/api/audit/get-audit-events')!;
        feedPage(res, [auditRecord(n)], n < 200 ? `token-${n}` : undefined);
      },
    });
    const db = join(tempDir('hostile'), 'endless.db');
    const res = await runCli(feedArgs(h, db, ['--max-pages-per-window', '5']), { env: V2_ENV });
    assert.equal(res.code, 4, res.stderr.slice(-2000));
    assert.equal(h.hits.get('/api/audit/get-audit-events'), 5);
    assert.match(query<{ reason: string }>(db, 'SELECT reason FROM dead_letters')[0]!.reason, /more than 5 pages in one pass \(--max-pages-per-window\)/);
    assert.equal(query<{ n: number }>(db, 'SELECT count(*) AS n FROM gaps')[0]!.n, 1);
  });
});

describe('hostile server: a stream token that never moves (item 10)', () => {
  it('a stream that hands back the same token while saying it is not caught up ends the pass instead of asking 40 times a second forever', { timeout: 60_000 }, async () => {
    const h = await hostile({
      // Caught up after 500 requests, so that a collector without the guard still ends (and fails the count).
      '/siem/v1/events/cg': (_q, _b, res) => json(res, 200, { value: [], '@nextPage': 'stuck', isCaughtUp: h.hits.get('/siem/v1/events/cg')! > 500 }),
    });
    const db = join(tempDir('hostile'), 'stuck.db');
    const res = await runCli(['collect', '--api', 'v2', '--mode', 'stream', '--url', h.url, '--db', db, ...FAST], { env: V2_ENV });
    assert.equal(res.code, 0, res.stderr.slice(-2000));
    assert.equal(h.hits.get('/siem/v1/events/cg'), 21, 'the first page, then 20 that hand back its token');
    assert.equal(logLines(res.stderr).filter((l) => /next-page token did not move/.test(l.msg)).length, 1);
  });
});

describe('hostile server: waits a server asks for (item 11)', () => {
  it('X-RateLimit-Reset of 11.6 days (and past 2^31 ms) is capped at --max-server-wait and said once', { timeout: 60_000 }, async () => {
    const h = await hostile({
      '/api/audit/get-audit-events': (_q, _b, res) => {
        const n = h.hits.get('/api/audit/get-audit-events')!;
        if (n <= 3) return json(res, 429, {}, { 'x-ratelimit-reset': n === 1 ? '999999999' : '4294967296000' });
        // A window used up with an absurd reset: the shared budget must not pause the next page for it either.
        json(res, 200, { meta: { pagination: n === 4 ? { next: 'page-2' } : {} }, data: [auditRecord(n)], fail: [] }, { 'x-ratelimit-remaining': '0', 'x-ratelimit-reset': '999999999' });
      },
    });
    const db = join(tempDir('hostile'), 'reset.db');
    const started = Date.now();
    const res = await runCli(feedArgs(h, db, ['--max-server-wait', '1']), { env: V2_ENV });
    assert.equal(res.code, 0, res.stderr.slice(-2000));
    assert.ok(Date.now() - started < 15_000);
    const capped = logLines(res.stderr).filter((l) => /asked for a wait longer than --max-server-wait/.test(l.msg));
    assert.equal(capped.length, 1, 'said once');
    assert.equal(capped[0]!.asked_ms, 999999999);
    assert.equal(capped[0]!.wait_ms, 1000);
    assert.equal(h.hits.get('/api/audit/get-audit-events'), 5);
    assert.doesNotMatch(res.stderr, /TimeoutOverflowWarning/);
  });

  it('API 1.0: a 429 asking for 11.6 days waits --max-server-wait and says it capped the wait', { timeout: 60_000 }, async () => {
    const h = await hostile({
      '/api/audit/get-siem-logs': (_q, _b, res) => {
        if (h.hits.get('/api/audit/get-siem-logs') === 1) return json(res, 429, {}, { 'x-ratelimit-reset': '999999999' });
        json(res, 200, { meta: { isLastToken: true }, data: [] });
      },
    });
    const db = join(tempDir('hostile'), 'v1-reset.db');
    const res = await runCli(['collect', '--api', 'v1', '--url', h.url, '--db', db, ...FAST, '--max-server-wait', '1'], { env: V1_ENV });
    assert.equal(res.code, 0, res.stderr.slice(-2000));
    const retry = logLines(res.stderr).find((l) => l.msg === 'retrying')!;
    assert.equal(retry.wait_ms, 1000);
    assert.match(retry.reason, /the server asked to wait 999999999 ms; capped at 1000 ms/);
  });
});

describe('hostile server: OAuth answers (item 12)', () => {
  it('expires_in 0 does not turn into a token request per call', { timeout: 60_000 }, async () => {
    const h = await hostile({
      '/oauth/token': (_q, _b, res) => json(res, 200, { access_token: 'short-lived', expires_in: 0 }),
      '/api/audit/get-audit-events': (_q, _b, res) => {
        const n = h.hits.get('/api/audit/get-audit-events')!;
        feedPage(res, [auditRecord(n)], n < 6 ? `token-${n}` : undefined);
      },
    });
    const db = join(tempDir('hostile'), 'expires.db');
    const res = await runCli(feedArgs(h, db), { env: V2_ENV });
    assert.equal(res.code, 0, res.stderr.slice(-2000));
    assert.equal(h.hits.get('/api/audit/get-audit-events'), 6);
    assert.equal(h.hits.get('/oauth/token'), 1);
  });

  it('an access token with CR/LF is refused with a clear error that does not print it', { timeout: 60_000 }, async () => {
    const h = await hostile({
      '/oauth/token': (_q, _b, res) => json(res, 200, { access_token: 'tok\r\nX-Injected: evil-header-value', expires_in: 1800 }),
      '/api/audit/get-audit-events': (_q, _b, res) => feedPage(res, []),
    });
    const res = await runCli(feedArgs(h, join(tempDir('hostile'), 'crlf.db')), { env: V2_ENV });
    assert.equal(res.code, 1);
    assert.match(res.stderr, /access_token is not a string of visible ASCII characters .*\(it is not shown\)/);
    assert.doesNotMatch(res.stderr, /evil-header-value/);
    assert.equal(h.hits.get('/api/audit/get-audit-events'), undefined, 'never sent');
  });

  it('an OAuth error body echoing the request form never prints the client secret, in any encoding', { timeout: 60_000 }, async () => {
    const secret = 'p@ss "w\\rd"+/ =ä';
    const h = await hostile({ '/oauth/token': (_q, body, res) => json(res, 400, { error: `invalid_client ${body}`, error_description: body }) });
    const res = await runCli(feedArgs(h, join(tempDir('hostile'), 'echo.db')), { env: { ...V2_ENV, MIMECAST_CLIENT_SECRET: secret } });
    assert.equal(res.code, 1);
    assert.match(res.stderr, /OAuth token refused \(HTTP 400\)/);
    for (const form of [secret, encodeURIComponent(secret), new URLSearchParams({ s: secret }).toString().slice(2), JSON.stringify(secret).slice(1, -1)]) {
      assert.ok(!res.stderr.includes(form), `printed: ${form}`);
    }
  });
});

/** Recent events (a day ago: inside every horizon), as stream records and API 1.0 key_value lines. */
const recent = takeEvents({ seed: 31, startMs: Date.now() - 86_400_000 }, 60);
const streamRecords = recent.map((e) => toV2Record(e, { shape: 'stream' }));
const kvLines = recent.map((e) => toKeyValueLine(e));

/** Serves `pages[i]` for the i-th request (the last one again after), until `limit` requests: then caught up, so that an unguarded collector still ends (and fails the count). */
function streamPages(h: () => Hostile, limit: number, page: (n: number) => { value: unknown[]; next: string }): Handler {
  return (_q, _b, res) => {
    const n = h().hits.get('/siem/v1/events/cg')!;
    const p = page(n);
    json(res, 200, { value: p.value, '@nextPage': p.next, isCaughtUp: n > limit });
  };
}

function streamArgs(h: Hostile, db: string): string[] {
  return ['collect', '--api', 'v2', '--mode', 'stream', '--url', h.url, '--db', db, ...FAST];
}

const cursor = (db: string, like: string) => query<{ cursor: string }>(db, 'SELECT cursor FROM checkpoints WHERE source LIKE ?', like)[0]?.cursor;

describe('hostile server: page tokens that repeat on the stream, the batch listing and API 1.0 (item 10)', () => {
  it('stream A→B→A, not caught up: the pass ends at the repeat, said once, the events kept and the token not moved back', { timeout: 60_000 }, async () => {
    const tokens = ['A', 'B', 'A'];
    const h: Hostile = await hostile({ '/siem/v1/events/cg': streamPages(() => h, 500, (n) => ({ value: [streamRecords[n % 60]], next: tokens[Math.min(n - 1, 2)]! })) });
    const db = join(tempDir('hostile'), 'stream-aba.db');
    const res = await runCli(streamArgs(h, db), { env: V2_ENV });
    assert.equal(res.code, 0, res.stderr.slice(-2000));
    assert.equal(h.hits.get('/siem/v1/events/cg'), 3, 'first page → A, A → B, B → A: the repeat ends the pass');
    assert.equal(query<{ n: number }>(db, 'SELECT count(*) AS n FROM events')[0]!.n, 3);
    assert.equal(cursor(db, 'mimecast-v2-stream%'), 'B', 'never moved back to A');
    assert.equal(logLines(res.stderr).filter((l) => /stream paging ended for this pass: the next-page token repeats/.test(l.msg)).length, 1);
  });

  it('stream: a fresh token on every empty page ends the pass after a bounded number of pages', { timeout: 60_000 }, async () => {
    const h: Hostile = await hostile({ '/siem/v1/events/cg': streamPages(() => h, 2000, (n) => ({ value: [], next: `empty-${n}` })) });
    const db = join(tempDir('hostile'), 'stream-empty.db');
    const res = await runCli(streamArgs(h, db), { env: V2_ENV });
    assert.equal(res.code, 0, res.stderr.slice(-2000));
    assert.equal(h.hits.get('/siem/v1/events/cg'), 50);
    assert.equal(cursor(db, 'mimecast-v2-stream%'), 'empty-49');
    assert.equal(logLines(res.stderr).filter((l) => /50 pages in this pass brought nothing/.test(l.msg)).length, 1);
  });

  it('stream: a fresh token on every copy of the same page ends the pass after a bounded number of pages (nothing new arrives)', { timeout: 60_000 }, async () => {
    const h: Hostile = await hostile({ '/siem/v1/events/cg': streamPages(() => h, 2000, (n) => ({ value: [streamRecords[0]], next: `copy-${n}` })) });
    const db = join(tempDir('hostile'), 'stream-copies.db');
    const res = await runCli(streamArgs(h, db), { env: V2_ENV });
    assert.equal(res.code, 0, res.stderr.slice(-2000));
    // The first page is new; the 50 copies after it bring nothing.
    assert.equal(h.hits.get('/siem/v1/events/cg'), 51);
    assert.equal(query<{ n: number }>(db, 'SELECT count(*) AS n FROM events')[0]!.n, 1);
    assert.equal(logLines(res.stderr).filter((l) => /50 pages in this pass brought nothing new/.test(l.msg)).length, 1);
  });

  it('stream: a page of items that are not records is one dead letter per page, not one row per item (the disk stays bounded)', { timeout: 60_000 }, async () => {
    const h: Hostile = await hostile({ '/siem/v1/events/cg': streamPages(() => h, 1, (n) => ({ value: n === 1 ? [...Array<number>(20_000).fill(1), streamRecords[1]] : Array<unknown>(5_000).fill(null), next: `n${n}` })) });
    const db = join(tempDir('hostile'), 'stream-not-records.db');
    const res = await runCli(streamArgs(h, db), { env: V2_ENV });
    assert.equal(res.code, 2, res.stderr.slice(-2000)); // dead letters
    const dead = query<{ reason: string; truncated_from: number | null }>(db, 'SELECT reason, truncated_from FROM dead_letters ORDER BY rowid');
    assert.equal(dead.length, 2);
    assert.match(dead[0]!.reason, /20000 items of this page are not JSON objects/);
    assert.match(dead[1]!.reason, /5000 items of this page are not JSON objects/);
    assert.equal(query<{ n: number }>(db, 'SELECT count(*) AS n FROM events')[0]!.n, 1);
    assert.equal(cursor(db, 'mimecast-v2-stream%'), 'n2', 'the pages were read to their end');
  });

  it('stream: an event nested 100,000 levels deep is a dead letter with its bytes; the page\'s other events are stored and the token moves on', { timeout: 60_000 }, async () => {
    const depth = 100_000;
    const deep = `{"timestamp":"${Date.now() - 60_000}","type":"receipt","n":${'{"a":'.repeat(depth)}1${'}'.repeat(depth)}}`;
    // An array that deep is not a record at all: it is set aside with the page's other non-records.
    const deepArray = `${'['.repeat(depth)}${']'.repeat(depth)}`;
    const h: Hostile = await hostile({
      '/siem/v1/events/cg': (_q, _b, res) => {
        res.writeHead(200, { 'content-type': 'application/json' });
        res.end(`{"value":[${JSON.stringify(streamRecords[2])},${deep},${deepArray},${JSON.stringify(streamRecords[3])}],"@nextPage":"after-deep","isCaughtUp":true}`);
      },
    });
    const db = join(tempDir('hostile'), 'stream-deep.db');
    const res = await runCli(streamArgs(h, db), { env: V2_ENV });
    assert.equal(res.code, 2, res.stderr.slice(-2000)); // dead letters, not a failed collection
    assert.equal(query<{ n: number }>(db, 'SELECT count(*) AS n FROM events')[0]!.n, 2);
    const dead = query<{ reason: string; raw: Buffer; truncated_from: number | null }>(db, 'SELECT reason, raw, truncated_from FROM dead_letters ORDER BY position');
    assert.equal(dead.length, 2);
    assert.match(dead[0]!.reason, /1 items of this page are not JSON objects/);
    assert.equal(dead[0]!.truncated_from, deepArray.length, 'its length said; the head kept');
    assert.match(dead[1]!.reason, /nested deeper than 64 levels/);
    assert.equal(dead[1]!.truncated_from, null);
    assert.equal(dead[1]!.raw.toString(), deep, 'the record\'s own text, whole: replayable with a higher --max-json-depth');
    assert.equal(cursor(db, 'mimecast-v2-stream%'), 'after-deep');
  });

  it('batch listing A→B→A: the pass of the type ends at the repeat, its token not moved back', { timeout: 60_000 }, async () => {
    const next = ['A', 'B', 'A'];
    const h: Hostile = await hostile({
      '/siem/v1/batch/events/cg': (_q, _b, res) => {
        const n = h.hits.get('/siem/v1/batch/events/cg')!;
        json(res, 200, { value: [], '@nextPage': next[Math.min(n - 1, 2)]!, isCaughtUp: n > 500 });
      },
    });
    const db = join(tempDir('hostile'), 'batch-aba.db');
    const res = await runCli(['collect', '--api', 'v2', '--mode', 'batch', '--types', 'receipt', '--url', h.url, '--db', db, ...FAST], { env: V2_ENV });
    assert.equal(res.code, 0, res.stderr.slice(-2000));
    assert.equal(h.hits.get('/siem/v1/batch/events/cg'), 3);
    assert.equal(cursor(db, 'mimecast-v2 %'), 'B');
    assert.equal(logLines(res.stderr).filter((l) => /batch listing of receipt ended for this pass: the next-page token repeats/.test(l.msg)).length, 1);
  });

  for (const [name, tokens, requests, last] of [['always T1', ['T1'], 2, 'T1'], ['A/B alternating', ['A', 'B'], 3, 'B']] as const) {
    it(`API 1.0: an mc-siem-token chain that loops (${name}) ends the run with --once, the files stored, the token not moved back`, { timeout: 60_000 }, async () => {
      const h: Hostile = await hostile({
        '/api/audit/get-siem-logs': (_q, _b, res) => {
          const n = h.hits.get('/api/audit/get-siem-logs')!;
          if (n > 500) return json(res, 200, { meta: { isLastToken: true }, data: [] });
          res.writeHead(200, { 'content-type': 'application/octet-stream', 'mc-siem-token': tokens[(n - 1) % tokens.length]!, 'content-disposition': `attachment; filename="file_${n}.log"` });
          res.end(`${kvLines[n % 60]}\n`);
        },
      });
      const db = join(tempDir('hostile'), 'v1-loop.db');
      const res = await runCli(['collect', '--api', 'v1', '--url', h.url, '--db', db, ...FAST], { env: V1_ENV });
      assert.equal(res.code, 0, res.stderr.slice(-2000));
      assert.equal(h.hits.get('/api/audit/get-siem-logs'), requests);
      assert.equal(query<{ n: number }>(db, 'SELECT count(*) AS n FROM events')[0]!.n, requests);
      assert.equal(cursor(db, 'mimecast-v1 %'), last);
      assert.equal(logLines(res.stderr).filter((l) => /file chain ended for this pass: the next-page token repeats/.test(l.msg)).length, 1);
    });
  }
});

describe('hostile server: API 1.0 files that bring nothing new (item 10)', () => {
  it('a fresh mc-siem-token on every copy of the same file ends the run with --once after a bounded number of files', { timeout: 60_000 }, async () => {
    const h: Hostile = await hostile({
      '/api/audit/get-siem-logs': (_q, _b, res) => {
        const n = h.hits.get('/api/audit/get-siem-logs')!;
        if (n > 500) return json(res, 200, { meta: { isLastToken: true }, data: [] });
        res.writeHead(200, { 'content-type': 'application/octet-stream', 'mc-siem-token': `T${n}`, 'content-disposition': `attachment; filename="file_${n}.log"` });
        res.end(`${kvLines[0]}\n`);
      },
    });
    const db = join(tempDir('hostile'), 'v1-copies.db');
    const res = await runCli(['collect', '--api', 'v1', '--url', h.url, '--db', db, ...FAST], { env: V1_ENV });
    assert.equal(res.code, 0, res.stderr.slice(-2000));
    assert.equal(h.hits.get('/api/audit/get-siem-logs'), 51);
    assert.equal(query<{ n: number }>(db, 'SELECT count(*) AS n FROM events')[0]!.n, 1);
    assert.equal(logLines(res.stderr).filter((l) => /file chain ended for this pass: 50 pages in this pass brought nothing new/.test(l.msg)).length, 1);
  });
});

describe('hostile server: a looping token under `run` (item 10)', () => {
  it('/readyz shows the source degraded with the reason while its token chain loops, and the service keeps polling', { timeout: 60_000 }, async () => {
    const h: Hostile = await hostile({
      '/api/audit/get-siem-logs': (_q, _b, res) => {
        const n = h.hits.get('/api/audit/get-siem-logs')!;
        res.writeHead(200, { 'content-type': 'application/octet-stream', 'mc-siem-token': n % 2 === 1 ? 'A' : 'B', 'content-disposition': `attachment; filename="file_${n}.log"` });
        res.end(`${kvLines[n % 60]}\n`);
      },
    });
    const dir = tempDir('hostile');
    const secret = (name: string, value: string) => {
      writeFileSync(join(dir, name), value, { mode: 0o600 });
      return join(dir, name);
    };
    const config = join(dir, 'mimelog.yaml');
    writeFileSync(config, `store: ${join(dir, 'run.db')}\nlisten: 127.0.0.1:0\nsources:\n  - name: looping\n    kind: mimecast-v1\n    url: ${h.url}\n    credentials:\n      app_id: ${V1_ENV.MIMECAST_APP_ID}\n`
      + `      app_key_file: ${secret('app', V1_ENV.MIMECAST_APP_KEY)}\n      access_key_file: ${secret('access', V1_ENV.MIMECAST_ACCESS_KEY)}\n      secret_key_file: ${secret('secret', V1_ENV.MIMECAST_SECRET_KEY)}\n    poll_interval_s: 1\n`, { mode: 0o600 });
    const run = spawnCli(['run', '--config', config], {});
    let stderr = '';
    run.child.stderr!.on('data', (c: Buffer) => (stderr += c.toString()));
    try {
      let ready: { status: string; sources: { state: string; reason?: string }[] } | undefined;
      for (let i = 0; i < 100 && ready?.sources[0]?.state !== 'degraded'; i++) {
        await delay(100);
        const url = /"msg":"service listening","url":"([^"]+)"/.exec(stderr)?.[1];
        if (url) ready = (await (await fetch(new URL('/readyz', url))).json()) as typeof ready;
      }
      assert.equal(ready?.status, 'degraded', stderr.slice(-2000));
      assert.match(ready!.sources[0]!.reason!, /file chain ended for this pass: the next-page token repeats one already followed in this pass/);
      // The next polls come poll_interval_s (1 s) after each pass: waited for (not a fixed 1.5 s a loaded
      // machine can pass) until a call of a pass after the second, so the second has ended (3 calls a pass at most).
      for (const deadline = Date.now() + 15_000; Date.now() < deadline && h.hits.get('/api/audit/get-siem-logs')! < 7;) await delay(50);
      assert.ok(h.hits.get('/api/audit/get-siem-logs')! >= 7, 'the next polls ask again');
      assert.equal(logLines(stderr).filter((l) => /file chain ended for this pass/.test(l.msg)).length, 1, 'said once in the log');
    } finally {
      run.child.kill('SIGTERM');
    }
    assert.equal((await run.done).code, 0);
  });
});

describe('hostile server: what a server echoes and asks (items 11, 12, 13)', () => {
  it('a server echoing the Authorization header never gets the access token printed', { timeout: 60_000 }, async () => {
    const h = await hostile({
      '/oauth/token': (_q, _b, res) => json(res, 200, { access_token: 'tok1-access-token', expires_in: 1800 }),
      '/siem/v1/events/cg': (q, _b, res) => json(res, 400, { error: { code: 'bad', message: `refused: ${q.headers.authorization}` } }),
    });
    const res = await runCli(streamArgs(h, join(tempDir('hostile'), 'echo-bearer.db')), { env: V2_ENV });
    assert.equal(res.code, 1);
    assert.match(res.stderr, /API 2\.0 rejected the stream page: refused: Bearer \[redacted\]/);
    assert.ok(!res.stderr.includes('tok1-access-token'), res.stderr.slice(-1000));
  });

  it('a 200 that uses up the rate window with a huge reset pauses every call, and says so once with the cap', { timeout: 60_000 }, async () => {
    const h = await hostile({
      '/api/audit/get-audit-events': (_q, _b, res) => {
        const n = h.hits.get('/api/audit/get-audit-events')!;
        json(res, 200, { meta: { pagination: n < 3 ? { next: `page-${n}` } : {} }, data: [auditRecord(n)], fail: [] }, { 'x-ratelimit-remaining': '0', 'x-ratelimit-reset': '999999999' });
      },
    });
    const res = await runCli(feedArgs(h, join(tempDir('hostile'), 'used-up.db'), ['--max-server-wait', '1']), { env: V2_ENV });
    assert.equal(res.code, 0, res.stderr.slice(-2000));
    const lines = logLines(res.stderr);
    const paused = lines.filter((l) => /rate window is used up/.test(l.msg));
    assert.equal(paused.length, 1, 'said once');
    assert.equal(paused[0]!.wait_ms, 1000);
    assert.equal(paused[0]!.asked_ms, 999999999);
    assert.equal(lines.filter((l) => /asked for a wait longer than --max-server-wait/.test(l.msg)).length, 1);
  });

  it('API 1.0: a zip with a bad CRC in one member stores the good member and dead-letters the bad one, as ingest does', { timeout: 60_000 }, async () => {
    const zip = await zipMembers({ 'receipt_1.log': kvLines.slice(0, 10).join('\n'), 'receipt_2.log': kvLines.slice(10, 60).join('\n') }, { store: true });
    const at = zip.indexOf(Buffer.from(kvLines[8]!.slice(0, 20)));
    assert.ok(at > 0);
    zip[at + 5] = zip[at + 5]! ^ 0x01; // a bit flipped inside the first member, sizes unchanged
    const h: Hostile = await hostile({
      '/api/audit/get-siem-logs': (_q, _b, res) => {
        if (h.hits.get('/api/audit/get-siem-logs')! > 3) return json(res, 200, { meta: { isLastToken: true }, data: [] });
        res.writeHead(200, { 'content-type': 'application/octet-stream', 'mc-siem-token': 'after-zip', 'content-disposition': 'attachment; filename="logs.zip"' });
        res.end(zip);
      },
    });
    const db = join(tempDir('hostile'), 'v1-crc.db');
    const res = await runCli(['collect', '--api', 'v1', '--url', h.url, '--db', db, ...FAST, '--decode-retries', '0'], { env: V1_ENV });
    assert.equal(res.code, 2, res.stderr.slice(-2000));
    assert.equal(query<{ n: number }>(db, 'SELECT count(*) AS n FROM events')[0]!.n, 50);
    const dead = query<{ source: string; reason: string }>(db, 'SELECT source, reason FROM dead_letters');
    assert.equal(dead.length, 1);
    assert.equal(dead[0]!.source, 'logs.zip!receipt_1.log');
    assert.match(dead[0]!.reason, /CRC-32 mismatch .* \(file logs\.zip, token \(start\)\)/);
  });
});
