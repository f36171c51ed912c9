/**
 * Large valid API answers under the size bounds (an API 1.0 file, a stream page, a feed page):
 * the real collector (a child `mimelog collect`) stores every event once and its peak resident
 * memory stays well under the 512 MiB the README promises. The server is a plain loopback
 * `node:http` server started here; each answer is built once and sent in 1 MiB slices.
 */
import assert from 'node:assert/strict';
import { type ServerResponse, createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { setTimeout as delay } from 'node:timers/promises';
import { tempDir } from '../support/helpers.js';
import { logLines, query } from '../support/simulator.js';
import { spawnCli } from '../support/spawn-cli.js';
import { MAX_JSON_ANSWER_BYTES } from '../../src/sources/mimecast-v2/pages.js';

const MiB = 1024 * 1024;
/** Peak RSS allowed: well under the README's 512 MiB (before the fix these answers took 0.7-1.3 GiB). */
const PEAK_MIB = 400;
const FAST = ['--retry-base-ms', '20', '--retry-max-ms', '300', '--timeout', '60', '--once'];
const V1_ENV = { MIMECAST_APP_ID: 'app-id', MIMECAST_APP_KEY: 'app-key-1234', MIMECAST_ACCESS_KEY: 'access-key-1234', MIMECAST_SECRET_KEY: Buffer.from('secret-key-1234').toString('base64') };
const V2_ENV = { MIMECAST_CLIENT_ID: 'large-client', MIMECAST_CLIENT_SECRET: 'not-so-secret' };
/** Pads each record so that the answers reach their size with fewer records (the test stays fast). */
const PAD = 'p'.repeat(120);

/** Answers a request, given its body. */
type Handler = (body: string, res: ServerResponse) => void;

const closers: (() => Promise<void>)[] = [];
after(async () => {
  for (const close of closers) await close();
});

/** A loopback server answering each path with its handler (the OAuth token endpoint with a good token). */
async function server(routes: Record<string, Handler>): Promise<string> {
  const all: Record<string, Handler> = { '/oauth/token': (_b, res) => send(res, JSON.stringify({ access_token: 'good-token', expires_in: 1800 })), ...routes };
  const s = createServer((req, res) => {
    const parts: Buffer[] = [];
    req.on('data', (c: Buffer) => parts.push(c));
    req.on('end', () => (all[new URL(req.url ?? '/', 'http://x').pathname] ?? ((_b, r) => send(r, '{}', 404)))(Buffer.concat(parts).toString(), res));
  });
  await new Promise<void>((resolve) => s.listen(0, '127.0.0.1', resolve));
  closers.push(() => new Promise((resolve) => {
    s.closeAllConnections();
    s.close(() => resolve());
  }));
  return `http://127.0.0.1:${(s.address() as AddressInfo).port}`;
}

/** Sends `body` in 1 MiB slices, minding back-pressure. */
function send(res: ServerResponse, body: string | Buffer, status = 200, headers: Record<string, string> = { 'content-type': 'application/json' }): void {
  const bytes = Buffer.from(body);
  res.writeHead(status, { ...headers, 'content-length': String(bytes.length) });
  let at = 0;
  const write = (): void => {
    while (at < bytes.length) {
      const slice = bytes.subarray(at, at + MiB);
      at += slice.length;
      if (!res.write(slice)) return void res.once('drain', write);
    }
    res.end();
  };
  write();
}

/** Runs the collector, checks that it ended well and stayed under the bound, and that `count` events were stored once each. */
async function collectAll(args: string[], env: NodeJS.ProcessEnv, db: string, count: number, what: string): Promise<void> {
  const res = await spawnCli(args, env).done;
  assert.equal(res.code, 0, res.stderr.slice(-2000));
  const [stored] = query<{ n: number; ids: number }>(db, 'SELECT count(*) AS n, count(DISTINCT id) AS ids FROM events');
  assert.deepEqual(stored, { n: count, ids: count });
  assert.deepEqual(query(db, 'SELECT reason FROM dead_letters'), []);
  console.log(`${what}: peak RSS ${res.peakRssMiB} MiB`);
  assert.ok(res.peakRssMiB < PEAK_MIB, `${what}: peak RSS ${res.peakRssMiB} MiB`);
}

/** `collect` of the audit feed: one window of about a day, no safety lag. */
const feedArgs = (url: string, db: string, extra: string[] = []) => ['collect', '--api', 'v2', '--feeds', 'audit', '--url', url, '--db', db, ...FAST, '--first-look-back-days', '1', '--safety-lag', '0', '--overlap', '0', ...extra];

/** API 1.0 receipt lines (key_value), about `bytes` in all, each its own event. */
function receiptLines(bytes: number): string[] {
  const lines: string[] = [];
  const stamp = new Date(Date.now() - 3_600_000).toISOString().replace(/\.\d+Z$/, '+0000');
  for (let i = 0, size = 0; size < bytes; i++) {
    const line = `datetime=${stamp}|aCode=large-${i}|acc=C0A0|Sender=sender${i}@example.com|Rcpt=rcpt@acme.com|Act=Acc|Subject=${PAD}\n`;
    lines.push(line);
    size += line.length;
  }
  return lines;
}

const minutesAgo = (i: number) => Date.now() - 3_600_000 + (i % 3_000_000);

describe('large valid API answers: every event stored once, memory bounded', () => {
  it('an API 1.0 key_value file of 48 MB', { timeout: 120_000 }, async () => {
    const lines = receiptLines(48 * MiB);
    let file = Buffer.from(lines.join(''));
    const url = await server({
      '/api/audit/get-siem-logs': (_b, res) => {
        if (file.length === 0) return send(res, JSON.stringify({ meta: { isLastToken: true }, data: [] }));
        send(res, file, 200, { 'content-type': 'application/octet-stream', 'mc-siem-token': 'token-1', 'content-disposition': 'attachment; filename="receipt_1.log"' });
        file = Buffer.alloc(0);
      },
    });
    const db = join(tempDir('large'), 'v1.db');
    await collectAll(['collect', '--api', 'v1', '--url', url, '--db', db, ...FAST], V1_ENV, db, lines.length, `API 1.0 file of ${lines.length} events`);
  });

  /** Serves `records` as one page at the first call, then empty pages, each in `envelope`. */
  const onePage = (records: unknown[], envelope: (records: unknown[]) => unknown): Handler => {
    let body: string | undefined = JSON.stringify(envelope(records));
    return (_b, res) => {
      send(res, body ?? JSON.stringify(envelope([])));
      body = undefined;
    };
  };
  /** Records of about `bytes` bytes in all, as JSON. */
  const records = (bytes: number, record: (i: number) => Record<string, unknown>): unknown[] => {
    const all: unknown[] = [];
    for (let i = 0, size = 0; size < bytes; i++) {
      all.push(record(i));
      size += JSON.stringify(all[i]).length + 1;
    }
    return all;
  };

  it('an API 2.0 stream page of 20 MB', { timeout: 120_000 }, async () => {
    const events = records(20 * MiB, (i) => ({ timestamp: String(minutesAgo(i)), eventType: 'receipt', subType: 'allow', aggregateId: `agg-${i}`, processingId: `p-${i}`, accountId: 'C0A0', senderEnvelope: 'a@example.com', recipients: 'b@acme.com', messageId: `<m${i}@example.com>`, subject: PAD }));
    const url = await server({ '/siem/v1/events/cg': onePage(events, (value) => ({ value, '@nextPage': 'page-2', isCaughtUp: true })) });
    const db = join(tempDir('large'), 'stream.db');
    await collectAll(['collect', '--api', 'v2', '--mode', 'stream', '--url', url, '--db', db, ...FAST], V2_ENV, db, events.length, `stream page of ${events.length} events`);
  });

  it('an API 2.0 feed page of 20 MB', { timeout: 120_000 }, async () => {
    const audits = records(20 * MiB, (i) => ({ id: `audit-${i}`, auditType: 'Logon', user: 'admin@example.com', eventTime: new Date(minutesAgo(i)).toISOString(), eventInfo: `event ${i} ${PAD}`, category: 'authentication_logs' }));
    const url = await server({ '/api/audit/get-audit-events': onePage(audits, (data) => ({ meta: { status: 200, pagination: {} }, data, fail: [] })) });
    const db = join(tempDir('large'), 'feed.db');
    await collectAll(feedArgs(url, db), V2_ENV, db, audits.length, `feed page of ${audits.length} records`);
  });

  it('a JSON page over 24 MiB (whatever --max-document-bytes says) is not read whole: a dead letter with its head, the window a gap', { timeout: 120_000 }, async () => {
    const audits = records(40 * MiB, (i) => ({ id: `audit-${i}`, eventInfo: PAD }));
    const url = await server({ '/api/audit/get-audit-events': onePage(audits, (data) => ({ meta: { status: 200, pagination: {} }, data, fail: [] })) });
    const db = join(tempDir('large'), 'feed-over.db');
    const res = await spawnCli(feedArgs(url, db, ['--max-document-bytes', String(256 * MiB)]), V2_ENV).done;
    assert.equal(res.code, 4, res.stderr.slice(-2000)); // a gap was recorded: the loudest status
    const dead = query<{ reason: string }>(db, 'SELECT reason FROM dead_letters');
    assert.equal(dead.length, 1);
    assert.match(dead[0]!.reason, new RegExp(`larger than ${MAX_JSON_ANSWER_BYTES} bytes \\(--max-response-bytes, --max-document-bytes, at most ${MAX_JSON_ANSWER_BYTES} bytes for a JSON answer\\)`));
    assert.equal(query(db, 'SELECT 1 FROM gaps').length, 1);
    assert.ok(logLines(res.stderr).some((l) => l.msg === 'feed window given up: what was received is dead-lettered, the rest of the window is recorded as a gap'), res.stderr.slice(-2000));
    console.log(`feed page of 40 MB: peak RSS ${res.peakRssMiB} MiB`);
    assert.ok(res.peakRssMiB < PEAK_MIB, `peak RSS ${res.peakRssMiB} MiB`);
  });

  it('an API 1.0 file stopped part-way (SIGTERM) keeps its token: the next run reads it again and every event is stored once', { timeout: 120_000 }, async () => {
    const lines = receiptLines(12 * MiB);
    const file = Buffer.from(lines.join(''));
    const url = await server({
      '/api/audit/get-siem-logs': (body, res) => {
        if (body.includes('"token":"token-1"')) return send(res, JSON.stringify({ meta: { isLastToken: true }, data: [] }));
        send(res, file, 200, { 'content-type': 'application/octet-stream', 'mc-siem-token': 'token-1', 'content-disposition': 'attachment; filename="receipt_1.log"' });
      },
    });
    const db = join(tempDir('large'), 'v1-stopped.db');
    const args = ['collect', '--api', 'v1', '--url', url, '--db', db, ...FAST];
    const first = spawnCli(args, V1_ENV);
    const storedNow = (): number => {
      try {
        return query<{ n: number }>(db, 'SELECT count(*) AS n FROM events')[0]!.n;
      } catch {
        return 0; // the store is not made yet
      }
    };
    while (storedNow() === 0) await delay(20);
    first.child.kill('SIGTERM');
    await first.done;
    const cursor = () => query<{ cursor: string | null }>(db, "SELECT cursor FROM checkpoints WHERE kind = 'mimecast-v1'")[0]?.cursor ?? null;
    const part = storedNow();
    assert.ok(part < lines.length, `stopped part-way: ${part} of ${lines.length} stored`);
    assert.equal(cursor(), null, 'the token after the file is not stored before the whole file is');
    await collectAll(args, V1_ENV, db, lines.length, `API 1.0 file read again after a stop at ${part} of ${lines.length} events`);
    assert.equal(cursor(), 'token-1');
  });
});
