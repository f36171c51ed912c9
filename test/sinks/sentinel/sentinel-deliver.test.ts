import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { STREAM_COLUMNS } from '../../../src/sinks/sentinel/rows.js';
import { EntraToken } from '../../../src/sinks/sentinel/entra-token.js';
import { pack } from '../../../src/sinks/sentinel/destination.js';
import { errorText } from '../../../src/util/errors.js';
import { maskSecrets } from '../../../src/util/secrets.js';
import { AZURE_SCOPE } from '../../../src/simulator/azure-logs.js';
import { CLIENT_ID, DECLARED, SECRET, STREAM, TEMPLATE, TENANT, emulator, openDestination, range, receipt, unitOf } from './azure.js';

/** Runs `body` with a started emulator, stopped afterwards whatever happens. */
async function withEmulator(options: Parameters<typeof emulator>[0], body: (emu: ReturnType<typeof emulator>) => Promise<void>): Promise<void> {
  const emu = emulator(options);
  await emu.start();
  try {
    await body(emu);
  } finally {
    await emu.stop();
  }
}

const sorted = (ids: Iterable<string>) => [...ids].sort();

describe('sentinel: rows and the shipped DCR', () => {
  it('the DCR template declares exactly the row columns, in the stream and in the table', () => {
    const expected = STREAM_COLUMNS.map((c) => ({ name: c.name, type: c.type }));
    assert.deepEqual(DECLARED, expected);
    const table = TEMPLATE.resources.find((r) => r.type === 'Microsoft.OperationalInsights/workspaces/tables')!;
    assert.deepEqual(table.properties.schema!.columns.map((c) => ({ name: c.name, type: c.type })), expected);
  });

  it('delivers each event as one row (TimeGenerated, EventId, key fields, the document as dynamic), gzip, and counts 204s as indexed', async () => {
    await withEmulator({}, async (emu) => {
      const { dest } = await openDestination(emu.url);
      const unit = await unitOf(range(25).map((n) => receipt(n)));
      const report = await dest.deliver(unit);
      assert.deepEqual({ indexed: report.indexed, resent: report.resent, rejected: report.rejected.length }, { indexed: 25, resent: 0, rejected: 0 });
      assert.deepEqual(sorted(emu.eventIds()), sorted(unit.events.map((e) => e.id)));
      assert.ok(emu.calls.every((c) => c.gzip && c.status === 204));
      const e = unit.events[3]!;
      const row = emu.rows.find((r) => r.EventId === e.id)!;
      assert.equal(row.TimeGenerated, new Date(e.timeMs).toISOString());
      assert.equal(row.EventTime, row.TimeGenerated);
      assert.equal(row.EventHash, e.hash);
      assert.equal(row.LogType, 'receipt');
      assert.equal(row.SenderAddress, 's3@example.com');
      assert.deepEqual(row.RecipientAddresses, ['r3@example.org']);
      assert.equal(row.Subject, 'hello 3');
      assert.deepEqual(row.Document, e.doc);
      await dest.close();
    });
  });
});

describe('sentinel: size bounds', () => {
  it('keeps every call under max_request_bytes: 3 MB of events at the default bound meet no 413 at Azure\'s 1 MiB limit', async () => {
    await withEmulator({}, async (emu) => {
      const { dest } = await openDestination(emu.url, { gzip: false });
      const unit = await unitOf(range(1200).map((n) => receipt(n, `${n} ${'x'.repeat(2400)}`)));
      const report = await dest.deliver(unit);
      assert.equal(report.indexed, 1200);
      assert.equal(emu.rows.length, 1200);
      const sizes = emu.calls.map((c) => c.bytes);
      assert.ok(emu.calls.every((c) => c.status === 204), 'no call refused');
      assert.ok(Math.max(...sizes) <= 1_000_000, `largest call ${Math.max(...sizes)} bytes`);
      // Calls run side by side and arrive in any order: every one but the smallest (the remainder) is full.
      const bySize = [...sizes].sort((a, b) => b - a);
      assert.ok(bySize.length >= 4 && Math.min(...bySize.slice(0, -1)) > 900_000, `calls packed full: ${sizes.join(', ')}`);
      await dest.close();
    });
  });

  it('413: a call Azure finds too large is split in halves until each half is accepted (resent counted)', async () => {
    await withEmulator({ maxCallBytes: 8 * 1024 }, async (emu) => {
      const { dest } = await openDestination(emu.url, { gzip: false, max_request_bytes: 64 * 1024 });
      const unit = await unitOf(range(60).map((n) => receipt(n, `${n} ${'y'.repeat(300)}`)));
      const report = await dest.deliver(unit);
      assert.equal(report.indexed, 60);
      assert.deepEqual(sorted(emu.eventIds()), sorted(unit.events.map((e) => e.id)), 'each event stored once');
      assert.ok(emu.calls.some((c) => c.status === 413));
      assert.ok(report.resent > 0);
      await dest.close();
    });
  });

  it('an event whose row alone is over the bound, or that Azure refuses alone with 413, is a dead letter with the reason; the others are delivered', async () => {
    await withEmulator({ maxCallBytes: 6 * 1024 }, async (emu) => {
      const { dest } = await openDestination(emu.url, { gzip: false, max_request_bytes: 8 * 1024 });
      const lines = range(10).map((n) => receipt(n));
      lines[4] = receipt(4, 'z'.repeat(9000)); // over our bound
      lines[7] = receipt(7, 'w'.repeat(1800)); // under ours, over Azure's (the subject is in the row twice: Subject and event.original)
      const unit = await unitOf(lines);
      const report = await dest.deliver(unit);
      assert.equal(report.indexed, 8);
      assert.equal(report.rejected.length, 2);
      const [ours, azure] = [...report.rejected].sort((a, b) => a.position - b.position);
      assert.match(ours!.reason, /row is \d+ bytes: a call to the Logs Ingestion API holds at most 8192 \(max_request_bytes/);
      assert.match(azure!.reason, /too large \(HTTP 413 ContentLengthLimitExceeded: Maximum allowed content length: 6144 bytes/);
      assert.equal(Buffer.from(ours!.raw).toString(), lines[4]);
      assert.equal(Buffer.from(azure!.raw).toString(), lines[7]);
      assert.ok(!emu.eventIds().includes(unit.events[4]!.id) && !emu.eventIds().includes(unit.events[7]!.id));
      await dest.close();
    });
  });

  it('packs rows in order into calls of at most the bound', () => {
    const rows = [5, 5, 5, 20, 1].map((bytes, i) => ({ bytes, i }));
    assert.deepEqual(pack(rows, 14).map((c) => c.map((r) => r.i)), [[0, 1], [2], [3], [4]]);
    assert.deepEqual(pack(rows, 13).map((c) => c.map((r) => r.i)), [[0, 1], [2], [3], [4]]);
    assert.deepEqual(pack(rows, 12).map((c) => c.map((r) => r.i)), [[0], [1], [2], [3], [4]]);
  });
});

describe('sentinel: refused rows (400)', () => {
  it('400 on a call: split until the bad event is alone, which becomes a dead letter with Azure\'s reason; the rest are accepted', async () => {
    await withEmulator({}, async (emu) => {
      const { dest } = await openDestination(emu.url);
      const unit = await unitOf(range(40).map((n) => receipt(n)));
      emu.poison.add(unit.events[29]!.id);
      const report = await dest.deliver(unit);
      assert.equal(report.indexed, 39);
      assert.equal(report.rejected.length, 1);
      assert.equal(report.rejected[0]!.position, unit.events[29]!.position);
      assert.match(report.rejected[0]!.reason, new RegExp(`refused event ${unit.events[29]!.id}: Azure refused its row \\(HTTP 400 InvalidPayload: record 0 could not be processed`));
      assert.equal(emu.rows.length, 39);
      await dest.close();
    });
  });

  it('400 before Azure ever accepted a call stops the run instead of dead-lettering everything (a stream the DCR does not declare)', async () => {
    await withEmulator({ stream: 'Custom-Other' }, async (emu) => {
      const { dest } = await openDestination(emu.url);
      const unit = await unitOf(range(6).map((n) => receipt(n)));
      await assert.rejects(dest.deliver(unit), /Azure refused every call so far \(HTTP 400 InvalidStream: stream Custom-MimecastSIEM is not declared.*check stream Custom-MimecastSIEM/);
      await dest.close();
    });
  });
});

describe('sentinel: busy, throttled, unreachable', () => {
  it('429 and 503 wait Retry-After and send again, counting the re-sent events', async () => {
    await withEmulator({}, async (emu) => {
      const { dest, logged } = await openDestination(emu.url);
      emu.inject({ kind: '429', retryAfter: '1' }, { kind: '503', retryAfter: '1' });
      const unit = await unitOf(range(10).map((n) => receipt(n)));
      const started = Date.now();
      const report = await dest.deliver(unit);
      const took = Date.now() - started;
      assert.ok(took >= 1900, `waited Retry-After twice (${took} ms)`);
      assert.deepEqual({ indexed: report.indexed, resent: report.resent }, { indexed: 10, resent: 20 });
      assert.equal(emu.rows.length, 10);
      assert.match(logged(), /HTTP 429 TooManyRequests/);
      await dest.close();
    });
  });

  it('a lying Retry-After is bounded: huge → max_retry_after_s, negative or not a number → back-off', async () => {
    await withEmulator({}, async (emu) => {
      const { dest, logged } = await openDestination(emu.url, { max_retry_after_s: 1 });
      emu.inject({ kind: '429', retryAfter: '86400000' }, { kind: '429', retryAfter: '-30' }, { kind: '503', retryAfter: 'soon' });
      const unit = await unitOf([receipt(1)]);
      const started = Date.now();
      const report = await dest.deliver(unit);
      const took = Date.now() - started;
      assert.deepEqual({ indexed: report.indexed, resent: report.resent }, { indexed: 1, resent: 3 });
      assert.match(logged(), /Retry-After asked 86400000000 ms: clamped to max_retry_after_s/);
      // Each wait as logged: the huge one clamped to 1 s, the others the back-off (250 ms doubling,
      // at least half of each ceiling). The back-off is random: the time taken is bounded by the
      // waits drawn plus the calls, not by a fixed 3 s that the draws alone could come within 500 ms of.
      const waits = logged().split('\n').filter((l) => l.includes('sending again')).map((l) => (JSON.parse(l) as { delay_ms: number }).delay_ms);
      assert.equal(waits.length, 3);
      assert.equal(waits[0], 1000, 'the huge Retry-After clamped to max_retry_after_s');
      assert.ok(waits[1]! >= 250 && waits[1]! <= 500 && waits[2]! >= 500 && waits[2]! <= 1000, `the others the back-off: ${waits}`);
      const waited = waits[0]! + waits[1]! + waits[2]!;
      assert.ok(took >= 1000 && took < waited + 1000, `waited ${waits.join(' + ')} ms, took ${took} ms`);
      await dest.close();
    });
  });

  it('500, a reset connection and an answer slower than the timeout are sent again; a lost acknowledgement leaves a second copy, counted as resent', async () => {
    await withEmulator({}, async (emu) => {
      const { dest } = await openDestination(emu.url, { timeout_s: 1 });
      emu.inject({ kind: '500' }, { kind: 'reset' }, { kind: 'slow', ms: 1500 }, { kind: 'lost-ack' });
      const unit = await unitOf(range(5).map((n) => receipt(n)));
      const report = await dest.deliver(unit);
      assert.equal(report.indexed, 5);
      assert.equal(report.resent, 20);
      // The slow call stores its rows once its answer is due (after the client gave up on it).
      while (emu.calls.length < 5) await new Promise((r) => setTimeout(r, 50));
      // The slow answer and the lost acknowledgement each stored the rows once more.
      assert.equal(emu.rows.length, 15);
      assert.deepEqual(sorted(new Set(emu.eventIds())), sorted(unit.events.map((e) => e.id)));
      assert.deepEqual(emu.calls.map((c) => String(c.fault ?? c.status)).sort(), ['204', '500', 'lost-ack', 'reset', 'slow']);
      await dest.close();
    });
  });

  it('stops with the reason when events stay unaccepted for give_up_s; close() ends a wait at once', async () => {
    await withEmulator({}, async (emu) => {
      const { dest } = await openDestination(emu.url, { give_up_s: 1 });
      emu.inject(...range(50).map(() => ({ kind: '503' as const })));
      await assert.rejects(dest.deliver(await unitOf([receipt(1)])), /1 events unaccepted for \d+ s \(give_up_s; last: HTTP 503 ServiceUnavailable/);
      const { dest: other } = await openDestination(emu.url, { max_retry_after_s: 600 });
      emu.inject({ kind: '429', retryAfter: '600' });
      const started = Date.now();
      const delivering = other.deliver(await unitOf([receipt(2)]));
      setTimeout(() => void other.close(), 200);
      await assert.rejects(delivering, /closed with 1 events unacknowledged/);
      assert.ok(Date.now() - started < 2000);
    });
  });
});

describe('sentinel: credentials', () => {
  it('one token serves many calls, is renewed before it expires, and again after a 401 (expired token)', async () => {
    await withEmulator({}, async (emu) => {
      let now = Date.now();
      const token = new EntraToken({ authority: emu.url, tenantId: TENANT, clientId: CLIENT_ID, clientSecret: SECRET, scope: AZURE_SCOPE }, 5000, () => now);
      const first = await token.get();
      assert.equal(await token.get(), first);
      now += 54 * 60_000; // 6 minutes before the hour's end: still good
      assert.equal(await token.get(), first);
      now += 2 * 60_000; // 4 minutes before: renewed early
      const second = await token.get();
      assert.notEqual(second, first);
      assert.equal(emu.tokensIssued.length, 2);

      const { dest } = await openDestination(emu.url);
      emu.inject({ kind: 'expire-tokens' });
      const report = await dest.deliver(await unitOf(range(3).map((n) => receipt(n))));
      assert.deepEqual({ indexed: report.indexed, resent: report.resent }, { indexed: 3, resent: 3 });
      assert.equal(emu.tokensIssued.length, 4, 'the destination took one at open and one after the 401');
      await dest.close();
    });
  });

  it('a wrong secret stops at open with Entra\'s error code and never the secret', async () => {
    await withEmulator({}, async (emu) => {
      const err = await openDestination(emu.url, { client_secret: 'not-the-Secret-value' }).then(() => undefined, (e: unknown) => e);
      const text = errorText(err);
      assert.match(text, /Entra ID refused the client credentials of application 0f1e2d3c-.* \(invalid_client, AADSTS7000215\): check tenant_id, client_id and client_secret/);
      assert.ok(!text.includes('not-the-Secret-value'));
      const noSecret = await openDestination(emu.url, { client_secret: undefined }).then(() => undefined, (e: unknown) => e);
      assert.match(errorText(noSecret), /no client secret: give client_secret, client_secret_file or MIMELOG_SENTINEL_CLIENT_SECRET/);
      const fromEnv = await openDestination(emu.url, { client_secret: undefined }, { MIMELOG_SENTINEL_CLIENT_SECRET: SECRET });
      await fromEnv.dest.close();
    });
  });

  it('403 (no role on the DCR) and a 401 that a new token does not cure stop with a clear error, the secret and tokens masked', async () => {
    await withEmulator({ withoutRole: true }, async (emu) => {
      const { dest, logged } = await openDestination(emu.url);
      const err = await dest.deliver(await unitOf([receipt(1)])).then(() => undefined, (e: unknown) => e);
      const text = errorText(err);
      assert.match(text, /HTTP 403 OperationFailed.*the application needs the role "Monitoring Metrics Publisher" on the data collection rule/);
      for (const secret of [SECRET, ...emu.tokensIssued]) assert.ok(!maskSecrets(`${text}\n${logged()}`).includes(secret));
      assert.equal(emu.rows.length, 0);
    });
    await withEmulator({}, async (emu) => {
      const { dest } = await openDestination(emu.url);
      emu.inject({ kind: 'expire-tokens' }, { kind: 'expire-tokens' });
      await assert.rejects(dest.deliver(await unitOf([receipt(1)])), /HTTP 401 InvalidToken: the access token has expired\): a new access token was refused too/);
    });
  });

  it('the keys refuse a bearer token sent in clear off this machine, a malformed DCR id and stream', async () => {
    const { z } = await import('zod');
    const { sentinelKind } = await import('../../../src/sinks/sentinel/index.js');
    const { sinkKeys } = await import('./azure.js');
    const parse = (extra: Record<string, unknown>) => z.object(sentinelKind.keys).safeParse(sinkKeys('http://127.0.0.1:9', extra));
    assert.ok(parse({}).success);
    assert.ok(!parse({ endpoint: 'http://dce.example.com' }).success);
    assert.ok(parse({ endpoint: 'https://dce.eastus-1.ingest.monitor.azure.com' }).success);
    assert.ok(!parse({ dcr_immutable_id: 'dcr-123' }).success);
    assert.ok(!parse({ stream: 'Microsoft-Syslog' }).success);
    assert.ok(!parse({ max_request_bytes: 2_000_000 }).success, 'over Azure\'s 1 MiB');
    assert.equal(STREAM, 'Custom-MimecastSIEM');
  });
});
