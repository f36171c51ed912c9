/**
 * The Splunk HEC destination against collectors that misbehave (loopback servers written here):
 * an answer that never ends or is 2 GB long, and an ackId given to two requests at once (a load
 * balancer that does not keep a channel on one HEC instance). deliver() must end, with the
 * events' fate decided, not wait for ever.
 */
import assert from 'node:assert/strict';
import { type IncomingMessage, type ServerResponse, createServer } from 'node:http';
import { PassThrough } from 'node:stream';
import { after, describe, it } from 'node:test';
import { z } from 'zod';
import { Logger } from '../../../src/log/logger.js';
import { takeEvents, toKeyValueLine } from '../../../src/simulator/generate.js';
import type { DestinationReport } from '../../../src/sinks/destination.js';
import { splunkHecKind } from '../../../src/sinks/splunk-hec/index.js';
import { processInput } from '../../support/helpers.js';

const SCHEMA = z.strictObject(splunkHecKind.keys);
const TOKEN = 'hostile-hec-test-token-0001';
const closers: (() => Promise<void>)[] = [];
after(async () => {
  for (const c of closers) await c();
});

type Handler = (req: IncomingMessage, body: string, res: ServerResponse) => void;

async function collector(handle: Handler): Promise<string> {
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => handle(req, Buffer.concat(chunks).toString('latin1'), res));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  closers.push(async () => {
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  });
  return `http://127.0.0.1:${(server.address() as { port: number }).port}`;
}

const json = (res: ServerResponse, status: number, body: unknown) => {
  res.writeHead(status, { 'content-type': 'application/json' });
  res.end(JSON.stringify(body));
};

/** Writes `bytes` of spaces (Infinity: for ever) as fast as the client reads them. */
function flood(res: ServerResponse, bytes: number): void {
  const chunk = Buffer.alloc(64 * 1024, 0x20);
  let sent = 0;
  const more = () => {
    while (sent < bytes && !res.destroyed) {
      sent += chunk.length;
      if (!res.write(chunk)) return void res.once('drain', more);
    }
    if (!res.destroyed) res.end();
  };
  res.on('error', () => {});
  more();
}

/** deliver() of 25 events to `url`, or a failure if it has not ended within `ms`. */
async function deliverWithin(url: string, keys: Record<string, unknown>, ms: number): Promise<{ report: DestinationReport; logs: string }> {
  const lines = takeEvents({ seed: 7, startMs: Date.UTC(2026, 10, 1) }, 25).map((e) => toKeyValueLine(e));
  const unit = await processInput('mimecast-test', lines.join('\n'));
  const out = new PassThrough();
  let logs = '';
  out.on('data', (d: Buffer) => (logs += d.toString()));
  const config = SCHEMA.parse({ url, token: TOKEN, ack_poll_ms: 20, timeout_s: 5, give_up_s: 30, ...keys });
  const dest = await splunkHecKind.open(config, 'splunk', { log: new Logger(out, 'debug'), env: {} });
  let timer: NodeJS.Timeout | undefined;
  try {
    const report = await Promise.race([
      dest.deliver(unit),
      new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(`deliver() still running after ${ms} ms`)), ms))),
    ]);
    return { report, logs };
  } finally {
    clearTimeout(timer);
    await dest.close();
  }
}

describe('splunk-hec destination against hostile collectors', () => {
  for (const [what, bytes] of [['an endless answer', Infinity], ['a 2 GB answer', 2 * 1024 ** 3]] as const) {
    it(`${what} to an event request: read to 64 KiB, then the connection is dropped (ack: false: HTTP 200 is the delivery)`, async () => {
      const url = await collector((_req, body, res) => {
        if (body === '') return json(res, 400, { text: 'No data', code: 5 }); // the check at open
        res.writeHead(200, { 'content-type': 'application/json', ...(Number.isFinite(bytes) ? { 'content-length': String(bytes) } : {}) });
        flood(res, bytes);
      });
      const { report } = await deliverWithin(url, { ack: false }, 5000);
      assert.equal(report.indexed, 25);
    });
  }

  it('HTTP 200 whose body is not HEC\'s JSON (a proxy\'s page): stops, and the error shows what came back', async () => {
    const url = await collector((req, _body, res) => {
      if (req.url!.startsWith('/services/collector/ack')) return json(res, 200, { acks: { 0: false } }); // the check at open
      res.writeHead(200, { 'content-type': 'text/html' });
      res.end('<html>Welcome to the corporate proxy</html>');
    });
    await assert.rejects(deliverWithin(url, {}, 5000), /gave no ackId \(HTTP 200: "<html>Welcome to the corporate proxy<\/html>"\): the token has no indexer acknowledgement, or a proxy answered instead of HEC/);
  });

  it('one ackId given to two requests in flight: the earlier is sent again (said in the log) instead of waiting for ever', async () => {
    let requests = 0;
    const url = await collector((req, _body, res) => {
      if (req.url!.startsWith('/services/collector/ack')) return json(res, 200, { acks: { 0: true } });
      requests++;
      json(res, 200, { text: 'Success', code: 0, ackId: 0 }); // every request gets ackId 0
    });
    const { report, logs } = await deliverWithin(url, { batch_events: 10, ack_poll_ms: 200 }, 8000);
    assert.equal(report.indexed, 25);
    assert.ok(report.resent > 0, 'the displaced requests went again');
    assert.ok(requests > 3);
    assert.match(logs, /ackId 0 was given to a second request while the first still waited/);
  });
});
