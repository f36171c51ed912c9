/**
 * The RELP client against a RELP server written in the test (loopback): how it opens, numbers
 * and frames its commands, keeps the window, and what it does with a `500`, a `serverclose`, a
 * server that never answers, and one that does not offer `syslog`.
 */
import assert from 'node:assert/strict';
import { type Server, type Socket, createServer } from 'node:net';
import { after, describe, it } from 'node:test';
import { MimelogError } from '../../../src/util/errors.js';
import { RelpReader, relpFrame } from '../../../src/sinks/syslog/relp.js';
import { receipt, unitOf } from './events.js';
import { capturedLog, openSyslog } from './open.js';

interface Seen {
  readonly session: number;
  readonly txnr: number;
  readonly command: string;
  readonly data: string;
}

/** A RELP server whose answers the test decides; it records every command it reads. */
class FakeRelp {
  readonly seen: Seen[] = [];
  private sessions = 0;
  readonly sockets = new Set<Socket>();
  readonly server: Server;
  port = 0;

  constructor(private readonly answer: (s: Seen, socket: Socket, fake: FakeRelp) => void) {
    this.server = createServer((socket) => {
      const session = ++this.sessions;
      this.sockets.add(socket);
      socket.on('close', () => this.sockets.delete(socket));
      socket.on('error', () => {});
      const reader = new RelpReader();
      socket.on('data', (chunk: Buffer) => {
        for (const f of reader.push(chunk)) {
          const s = { session, txnr: f.txnr, command: f.command, data: f.data.toString('utf8') };
          this.seen.push(s);
          this.answer(s, socket, this);
        }
      });
    });
  }

  async listen(): Promise<this> {
    await new Promise<void>((resolve) => this.server.listen(0, '127.0.0.1', resolve));
    this.port = (this.server.address() as { port: number }).port;
    return this;
  }

  static rsp(socket: Socket, txnr: number, text: string): void {
    socket.write(relpFrame(txnr, 'rsp', Buffer.from(text)));
  }

  /** The usual answers: open offers syslog, close is answered and followed by serverclose. */
  static standard(s: Seen, socket: Socket): boolean {
    if (s.command === 'open') FakeRelp.rsp(socket, s.txnr, '200 OK\nrelp_version=0\nrelp_software=fake\ncommands=syslog');
    else if (s.command === 'close') {
      FakeRelp.rsp(socket, s.txnr, '');
      socket.end(relpFrame(0, 'serverclose'));
    } else return false;
    return true;
  }

  async stop(): Promise<void> {
    for (const s of this.sockets) s.destroy();
    await new Promise((resolve) => this.server.close(resolve));
  }
}

const fakes: FakeRelp[] = [];
after(async () => {
  for (const f of fakes) await f.stop();
});
async function fake(answer: (s: Seen, socket: Socket, fake: FakeRelp) => void): Promise<FakeRelp> {
  const f = await new FakeRelp(answer).listen();
  fakes.push(f);
  return f;
}

const idOf = (data: string) => /id="([0-9a-f]+)"/.exec(data)?.[1];

describe('syslog: the RELP client', () => {
  it('opens with relp_version=0 and commands=syslog, numbers each command 1, 2, 3..., frames it by its byte length, and closes', async () => {
    const f = await fake((s, socket) => FakeRelp.standard(s, socket) || FakeRelp.rsp(socket, s.txnr, '200 OK'));
    const d = await openSyslog({ host: '127.0.0.1', port: f.port, transport: 'relp' });
    const unit = await unitOf([receipt(1, 'é ✓'), receipt(2)]);
    const report = await d.deliver(unit);
    await d.close();
    assert.equal(report.indexed, 2);
    assert.deepEqual(f.seen.map((s) => [s.txnr, s.command]), [[1, 'open'], [2, 'syslog'], [3, 'syslog'], [4, 'close']]);
    assert.deepEqual(f.seen[0]!.data.split('\n'), ['relp_version=0', 'relp_software=mimelog,0.1.0', 'commands=syslog']);
    assert.deepEqual(f.seen.slice(1, 3).map((s) => idOf(s.data)), unit.events.map((e) => e.id));
  });

  it('a 500 answer: the session is given up and every unacknowledged message sent again on a new one, counted as re-sent', async () => {
    let refused = false;
    const f = await fake((s, socket) => {
      if (FakeRelp.standard(s, socket)) return;
      // The third message of the first session is refused; the others are answered in order.
      if (s.session === 1 && !refused && f.seen.filter((x) => x.command === 'syslog').length === 3) {
        refused = true;
        return FakeRelp.rsp(socket, s.txnr, '500 error: disk full');
      }
      if (s.session === 1 && refused) return; // the rest of that session goes unanswered
      FakeRelp.rsp(socket, s.txnr, '200 OK');
    });
    const { log, lines } = capturedLog();
    const d = await openSyslog({ host: '127.0.0.1', port: f.port, transport: 'relp', max_in_flight: 5 }, log);
    const unit = await unitOf(Array.from({ length: 10 }, (_, i) => receipt(i)));
    const report = await d.deliver(unit);
    await d.close();
    assert.equal(report.indexed, 10);
    const first = f.seen.filter((s) => s.session === 1 && s.command === 'syslog').map((s) => idOf(s.data));
    const second = f.seen.filter((s) => s.session === 2 && s.command === 'syslog').map((s) => idOf(s.data));
    // Acknowledged in session 1: the first two. Sent again: the refused one and those after it that were in flight.
    const acked = unit.events.slice(0, 2).map((e) => e.id);
    assert.deepEqual(second, unit.events.slice(2).map((e) => e.id), 'session 2: every unacknowledged message, in order, then the rest');
    assert.equal(report.resent, first.length - 2, 're-sent: the messages session 1 did not acknowledge');
    assert.ok(first.slice(0, 2).every((id, i) => id === acked[i]));
    assert.equal(f.seen.find((s) => s.session === 2)!.command, 'open', 'a new session opens first');
    assert.match(lines(), /lost \(the receiver answered \\"500 error: disk full\\" to transaction 4\); 5 unacknowledged message\(s\) will be sent again/);
  });

  it('never more than max_in_flight messages unanswered', async () => {
    const pending: [Socket, number][] = [];
    let most = 0;
    const f = await fake((s, socket) => {
      if (FakeRelp.standard(s, socket)) return;
      pending.push([socket, s.txnr]);
      most = Math.max(most, pending.length);
      // Answer in bursts, a while after the client has sent all it may (time for it to send more, if it would).
      if (pending.length === 7) setTimeout(() => { for (const [sock, txnr] of pending.splice(0)) FakeRelp.rsp(sock, txnr, '200 OK'); }, 30);
    });
    const d = await openSyslog({ host: '127.0.0.1', port: f.port, transport: 'relp', max_in_flight: 7 });
    const unit = await unitOf(Array.from({ length: 70 }, (_, i) => receipt(i)));
    assert.equal((await d.deliver(unit)).indexed, 70);
    await d.close();
    assert.equal(most, 7);
  });

  it('a serverclose while messages wait: they go again on a new session', async () => {
    const f = await fake((s, socket, fk) => {
      if (FakeRelp.standard(s, socket)) return;
      if (s.session === 1 && fk.seen.filter((x) => x.command === 'syslog').length === 2) return void socket.end(relpFrame(0, 'serverclose'));
      FakeRelp.rsp(socket, s.txnr, '200 OK');
    });
    const d = await openSyslog({ host: '127.0.0.1', port: f.port, transport: 'relp' });
    const unit = await unitOf(Array.from({ length: 5 }, (_, i) => receipt(i)));
    const report = await d.deliver(unit);
    await d.close();
    assert.equal(report.indexed, 5);
    assert.ok(report.resent >= 1);
    const delivered = new Set(f.seen.filter((s) => s.command === 'syslog').map((s) => idOf(s.data)));
    assert.deepEqual([...delivered].sort(), unit.events.map((e) => e.id).sort());
  });

  it('a receiver that never answers: no acknowledgement for give_up_s (through reconnects): the delivery fails (a person must act), naming the bound', async () => {
    const f = await fake((s, socket) => void FakeRelp.standard(s, socket));
    const d = await openSyslog({ host: '127.0.0.1', port: f.port, transport: 'relp', timeout_s: 1, give_up_s: 2 });
    const started = Date.now();
    await assert.rejects(d.deliver(await unitOf([receipt(1)])), (err: Error) => {
      assert.ok(err instanceof MimelogError);
      assert.match(err.message, /^syslog destination: relp 127\.0\.0\.1:\d+: no message acknowledged for \d+ s while 1 wait \(give_up_s 2\); the checkpoint stays where it was$/);
      return true;
    });
    assert.ok(Date.now() - started < 6000);
    await d.close();
  });

  it('at open: nobody listening, or a server that does not offer syslog, is an error naming the address and the reason', async () => {
    const f = await fake((s, socket) => s.command === 'open' && FakeRelp.rsp(socket, s.txnr, '200 OK\nrelp_version=0\ncommands=other'));
    await assert.rejects(openSyslog({ host: '127.0.0.1', port: f.port, transport: 'relp' }), /^MimelogError: syslog destination: relp 127\.0\.0\.1:\d+: the receiver does not offer the syslog command/);
    const closed = await fake(() => {});
    const port = closed.port;
    await closed.stop();
    fakes.splice(fakes.indexOf(closed), 1);
    await assert.rejects(openSyslog({ host: '127.0.0.1', port, transport: 'relp' }), new RegExp(`^MimelogError: syslog destination: cannot reach relp 127\\.0\\.0\\.1:${port}: connect ECONNREFUSED`));
  });
});
