/**
 * The syslog destination against a real rsyslog (its own instance, loopback): plain TCP, TLS
 * (trusted, untrusted, with a client certificate) and RELP. What rsyslog's RFC 5424 parser,
 * structured-data parser and CEF parser stored is compared with what was sent; LEEF is read back
 * from rsyslog's `msg` with the strict parser.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { EcsDocument } from '../../../src/normalize/ecs.js';
import { type Received, Rsyslog } from '../../support/receivers/rsyslog.js';
import { HOSTILE_SUBJECT, receipt, unitOf } from './events.js';
import { capturedLog, openSyslog } from './open.js';
import { parseLeef, replaced } from './strict-parsers.js';

let rx: Rsyslog;
before(async () => {
  rx = await Rsyslog.start();
});
after(async () => {
  await rx?.stop();
});

const subjectOf = (doc: EcsDocument) => (doc.email as EcsDocument).subject as string;

describe('syslog destination against rsyslog', () => {
  it('plain TCP: every event arrives once, header fields and structured data as rsyslog parses them; the warning says there is no acknowledgement', async () => {
    const before = rx.received().length;
    const { log, lines } = capturedLog();
    const d = await openSyslog({ host: '127.0.0.1', port: rx.ports.tcp, transport: 'tcp', hostname: 'mx-test' }, log);
    const unit = await unitOf(Array.from({ length: 200 }, (_, i) => receipt(i)));
    const report = await d.deliver(unit);
    await d.close();
    assert.deepEqual({ ...report, collisions: report.collisions.length, rejected: report.rejected.length }, { indexed: 200, duplicates: 0, resent: 0, collisions: 0, rejected: 0 });
    assert.match(lines(), /transport tcp has no acknowledgement from the receiver: an event counts as delivered once its message bytes were written to the TCP socket/);
    const got = (await rx.waitFor(before + 200)).slice(before);
    assert.equal(got.length, 200);
    const byId = new Map(got.map((r) => [r.parsed['rfc5424-sd']!['mimelog@32473']!.id!, r]));
    for (const e of unit.events) {
      const r = byId.get(e.id);
      assert.ok(r, `event ${e.id} arrived`);
      assert.deepEqual([r.input, r.pri, r.hostname, r.app, r.procid, r.msgid], ['tcp-plain', '134', 'mx-test', 'mimelog', String(process.pid), 'receipt']);
      assert.equal(r.parsed['rfc5424-sd']!['mimelog@32473']!.type, 'receipt');
      assert.deepEqual(JSON.parse(r.msg), e.doc, 'the body is the ECS document');
    }
  });

  it('TLS: a receiver whose certificate the CA file vouches for gets every event', async () => {
    const before = rx.received().length;
    const d = await openSyslog({ host: 'localhost', port: rx.ports.tls, transport: 'tls', ca_file: rx.tls.ca });
    const unit = await unitOf(Array.from({ length: 50 }, (_, i) => receipt(i)));
    assert.equal((await d.deliver(unit)).indexed, 50);
    await d.close();
    const got = (await rx.waitFor(before + 50)).slice(before);
    assert.deepEqual(new Set(got.map((r) => r.input)), new Set(['tcp-tls']));
    assert.deepEqual(got.map((r) => JSON.parse(r.msg).event.id).sort(), unit.events.map((e) => e.id).sort());
  });

  it('TLS with a client certificate to a receiver that requires one: delivered; without one the receiver drops the session after the bytes were written (the TCP/TLS limit RELP has not), and the loss is logged', async () => {
    const before = rx.received().length;
    const withCert = await openSyslog({ host: 'localhost', port: rx.ports.mtls, transport: 'tls', ca_file: rx.tls.ca, cert_file: rx.tls.clientCert, key_file: rx.tls.clientKey });
    const unit = await unitOf([receipt(1), receipt(2)]);
    assert.equal((await withCert.deliver(await unitOf([receipt(1)]))).indexed, 1);
    await withCert.close();
    const { log, lines } = capturedLog();
    const without = await openSyslog({ host: 'localhost', port: rx.ports.mtls, transport: 'tls', ca_file: rx.tls.ca }, log);
    assert.equal((await without.deliver(await unitOf([receipt(2)]))).indexed, 1, 'written, so counted: no application acknowledgement over TLS');
    // rsyslogd drops the session once it has checked the handshake: on a loaded machine that may take seconds.
    for (const deadline = Date.now() + 15_000; Date.now() < deadline && !/connection to tls .* lost/.test(lines());) await new Promise((r) => setTimeout(r, 20));
    await without.close();
    assert.match(lines(), /connection to tls localhost:\d+ lost/);
    const got = (await rx.waitFor(before + 1)).slice(before);
    assert.deepEqual(got.map((r) => [r.input, JSON.parse(r.msg).event.id]), [['tcp-mtls', unit.events[0]!.id]], 'only the event sent with the certificate arrived');
    assert.match(rx.internalLog(), /peer did not provide a certificate/);
  });

  it('TLS: a CA that does not vouch for the receiver, or a name its certificate does not carry, is refused at open with the reason', async () => {
    await assert.rejects(openSyslog({ host: '127.0.0.1', port: rx.ports.tls, transport: 'tls', ca_file: rx.tls.otherCa }), (err: Error) => {
      assert.match(err.message, new RegExp(`^syslog destination: tls 127\\.0\\.0\\.1:${rx.ports.tls}: the receiver's TLS certificate is not trusted \\((SELF_SIGNED_CERT_IN_CHAIN|UNABLE_TO_VERIFY_LEAF_SIGNATURE|UNABLE_TO_GET_ISSUER_CERT_LOCALLY)`));
      assert.match(err.message, /check ca_file and server_name/);
      return true;
    });
    await assert.rejects(openSyslog({ host: '127.0.0.1', port: rx.ports.tls, transport: 'tls', ca_file: rx.tls.ca, server_name: 'siem.example.com' }), /certificate is not trusted \(ERR_TLS_CERT_ALTNAME_INVALID/);
  });

  it('RELP: every event acknowledged by rsp 200 is in rsyslog, once', async () => {
    const before = rx.received().length;
    const d = await openSyslog({ host: '127.0.0.1', port: rx.ports.relp, transport: 'relp', max_in_flight: 64 });
    const unit = await unitOf(Array.from({ length: 2000 }, (_, i) => receipt(i)));
    const report = await d.deliver(unit);
    await d.close();
    assert.equal(report.indexed, 2000);
    assert.equal(report.resent, 0);
    const got = (await rx.waitFor(before + 2000)).slice(before);
    assert.deepEqual(got.map((r) => r.input), Array(2000).fill('relp'));
    assert.deepEqual(got.map((r) => r.parsed['rfc5424-sd']!['mimelog@32473']!.id).sort(), unit.events.map((e) => e.id).sort());
  });

  it("CEF: rsyslog's own CEF parser (mmnormalize) reads the hostile subject, the id and the header back intact", async () => {
    const before = rx.received().length;
    const d = await openSyslog({ host: '127.0.0.1', port: rx.ports.relp, transport: 'relp', format: 'cef' });
    const unit = await unitOf([receipt(1, HOSTILE_SUBJECT), receipt(2, 'plain')]);
    assert.equal((await d.deliver(unit)).indexed, 2);
    await d.close();
    const got = (await rx.waitFor(before + 2)).slice(before);
    for (const [i, e] of unit.events.entries()) {
      const cef = got[i]!.parsed.cef;
      assert.ok(cef, `rsyslog parsed event ${i} as CEF: ${got[i]!.msg.slice(0, 200)}`);
      assert.deepEqual([cef.DeviceVendor, cef.DeviceProduct, cef.SignatureID, cef.Name, cef.Severity], ['Mimecast', 'mimelog', 'receipt', 'Acc', '3']);
      const ext = cef.Extensions;
      // liblognorm 2.0.6 drops the first character of the first extension key (`externalId` → `xternalId`).
      assert.equal(ext.externalId ?? ext.xternalId, e.id);
      assert.equal(ext.cs1, replaced(subjectOf(e.doc), { kept: '\n\r' }), 'the subject, line breaks included; characters CEF cannot escape as U+FFFD');
      assert.equal(ext.cs1Label, 'subject');
      assert.equal(ext.suser, 'from@example.com');
      assert.deepEqual(Object.keys(ext).filter((k) => /^cs\d$/.test(k)), ['cs1', 'cs2', 'cs3', 'cs4', 'cs6'], 'no forged cs key');
    }
    assert.match(got[0]!.parsed.cef!.Extensions.cs1!, /paid=yes .* cs1=forged cs1Label=subject externalId=0000 /s, "the fake keys are text inside cs1");
  });

  it('LEEF: rsyslog stores the line whole; the strict parser reads the hostile subject and the id back from it', async () => {
    const before = rx.received().length;
    const d = await openSyslog({ host: '127.0.0.1', port: rx.ports.tcp, transport: 'tcp', format: 'leef' });
    const unit = await unitOf([receipt(1, HOSTILE_SUBJECT)]);
    await d.deliver(unit);
    await d.close();
    const [r] = (await rx.waitFor(before + 1)).slice(before);
    assert.ok(!r!.msg.includes('#0'), 'no control character reached rsyslog (it would write #0nn)');
    const leef = parseLeef(r!.msg);
    assert.equal(leef.attrs.get('subject'), replaced(subjectOf(unit.events[0]!.doc), { also: '^' }));
    assert.equal(leef.attrs.get('externalId'), unit.events[0]!.id);
    assert.equal(r!.msgid, 'receipt');
  });

  it('a message over max_message_bytes is a dead letter with the reason and the record; the others are delivered', async () => {
    const before = rx.received().length;
    const d = await openSyslog({ host: '127.0.0.1', port: rx.ports.relp, transport: 'relp', max_message_bytes: 8192 });
    const unit = await unitOf([receipt(1), receipt(2, HOSTILE_SUBJECT), receipt(3)]);
    const report = await d.deliver(unit);
    await d.close();
    assert.equal(report.indexed, 2);
    assert.equal(report.rejected.length, 1);
    assert.match(report.rejected[0]!.reason, /^syslog: the json message of \d+ bytes is over max_message_bytes \(8192\); not sent$/);
    assert.equal(Buffer.from(report.rejected[0]!.raw).toString(), unit.events[1]!.raw);
    const got = (await rx.waitFor(before + 2)).slice(before);
    assert.deepEqual(got.map((r) => JSON.parse(r.msg).event.id), [unit.events[0]!.id, unit.events[2]!.id]);
  });

  it('RELP: rsyslog stopped and started again mid-delivery: nothing lost, the unanswered messages re-sent (counted) with their ids', async () => {
    const before = rx.received().length;
    const { log, lines } = capturedLog();
    const d = await openSyslog({ host: '127.0.0.1', port: rx.ports.relp, transport: 'relp', max_in_flight: 100 }, log);
    const unit = await unitOf(Array.from({ length: 3000 }, (_, i) => receipt(i)));
    const delivering = d.deliver(unit);
    while (rx.received().length < before + 300) await new Promise((r) => setTimeout(r, 5));
    await rx.stop();
    await new Promise((r) => setTimeout(r, 500));
    await rx.run();
    const report = await delivering;
    await d.close();
    assert.equal(report.indexed, 3000);
    assert.ok(report.resent <= 100, `re-sent ${report.resent}: at most the window`);
    const idsFrom = (all: Received[]) => all.slice(before).map((r) => r.parsed['rfc5424-sd']?.['mimelog@32473']?.id);
    const ids = idsFrom(await rx.waitUntil((all) => new Set(idsFrom(all)).size >= 3000));
    assert.deepEqual([...new Set(ids)].sort(), unit.events.map((e) => e.id).sort(), 'every event arrived');
    assert.ok(ids.length - 3000 <= report.resent, `duplicates (${ids.length - 3000}) only among the re-sent (${report.resent})`);
    assert.match(lines(), /connection to relp 127\.0\.0\.1:\d+ lost/);
  });
});
