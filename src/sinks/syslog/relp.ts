/**
 * A RELP client (rsyslog's Reliable Event Logging Protocol). Every frame is
 * `TXNR SP COMMAND SP DATALEN [SP DATA] LF`. The session opens with `open` (offering
 * relp_version=0 and commands=syslog), then each `syslog` command is answered by an `rsp` with
 * the same transaction number; `200 OK` acknowledges the message. Any other answer, a
 * `serverclose` or a lost connection ends the session: the sender sends every message still
 * unanswered again on a new one. `close` ends a session politely.
 */
import type { Socket } from 'node:net';
import { type Endpoint, endpointLabel, openSocket, watchSocket } from './connect.js';
import { FatalWireError, type Session, type Wire } from './sender.js';

export interface RelpFrame {
  readonly txnr: number;
  readonly command: string;
  readonly data: Buffer;
}

/** Transaction numbers run from 1 to 999 999 999, then start again at 1 (librelp's rule). */
const MAX_TXNR = 999_999_999;
/** The longest answer read: a server's `rsp` is a status line and a few offers. */
const MAX_ANSWER_BYTES = 64 * 1024;
const OFFERS = 'relp_version=0\nrelp_software=mimelog,0.1.0\ncommands=syslog';

export function relpFrame(txnr: number, command: string, data?: Buffer): Buffer {
  const head = `${txnr} ${command} ${data?.length ?? 0}`;
  return data && data.length > 0 ? Buffer.concat([Buffer.from(`${head} `, 'ascii'), data, Buffer.from('\n')]) : Buffer.from(`${head}\n`, 'ascii');
}

/** Reads frames from a byte stream; throws on a malformed or over-long frame. */
export class RelpReader {
  private buffered: Buffer = Buffer.alloc(0);

  push(chunk: Buffer): RelpFrame[] {
    this.buffered = this.buffered.length === 0 ? chunk : Buffer.concat([this.buffered, chunk]);
    const frames: RelpFrame[] = [];
    for (let frame = this.next(); frame; frame = this.next()) frames.push(frame);
    if (this.buffered.length > MAX_ANSWER_BYTES + 64) throw new Error(`an answer longer than ${MAX_ANSWER_BYTES} bytes`);
    return frames;
  }

  private next(): RelpFrame | undefined {
    const b = this.buffered;
    // Header: up to the third field's end (a space before DATA, or the LF when DATALEN is 0).
    const head = /^(\d{1,9}) ([a-z]{1,32}) (\d{1,9})([ \n])/.exec(b.subarray(0, 64).toString('latin1'));
    if (!head) {
      if (b.length >= 64 || /[^0-9a-z \n]/.test(b.toString('latin1'))) throw new Error(`a malformed frame: ${JSON.stringify(b.subarray(0, 40).toString('latin1'))}`);
      return undefined;
    }
    const [whole, txnr, command, lengthText, after] = head as unknown as [string, string, string, string, string];
    const length = Number(lengthText);
    if (length > MAX_ANSWER_BYTES) throw new Error(`an answer of ${length} bytes`);
    if (length === 0 && after === '\n') {
      this.buffered = b.subarray(whole.length);
      return { txnr: Number(txnr), command, data: Buffer.alloc(0) };
    }
    if (after !== ' ') throw new Error('a frame whose length is not followed by its data');
    const end = whole.length + length;
    if (b.length < end + 1) return undefined;
    if (b[end] !== 0x0a) throw new Error('a frame not ended by LF after its data');
    this.buffered = b.subarray(end + 1);
    return { txnr: Number(txnr), command, data: b.subarray(whole.length, end) };
  }
}

/** The status code at the start of an `rsp`'s data (`200 OK` → 200). */
export const statusOf = (data: Buffer): number => Number(/^(\d{3})/.exec(data.toString('latin1'))?.[1] ?? NaN);

class RelpSession implements Session {
  private txnr = 0;
  private readonly waiting = new Map<number, () => void>();
  private readonly reader = new RelpReader();
  private opened: ((offers: string) => void) | undefined;
  private closed: (() => void) | undefined;

  constructor(
    private readonly socket: Socket,
    private readonly broken: (reason: string) => void,
  ) {
    socket.on('data', (chunk: Buffer) => {
      try {
        for (const frame of this.reader.push(chunk)) this.answer(frame);
      } catch (err) {
        this.broken(`the receiver sent ${(err as Error).message}`);
      }
    });
  }

  private nextTxnr(): number {
    this.txnr = this.txnr >= MAX_TXNR ? 1 : this.txnr + 1;
    return this.txnr;
  }

  /** Sends `open` and waits for its `200`; the receiver must offer the `syslog` command. */
  async open(timeoutMs: number): Promise<void> {
    const offers = await new Promise<string>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no answer to open within ${timeoutMs / 1000} s`)), timeoutMs);
      this.opened = (text) => {
        clearTimeout(timer);
        resolve(text);
      };
      this.socket.once('close', () => reject(new Error('the receiver closed the connection during open')));
      this.socket.write(relpFrame(this.nextTxnr(), 'open', Buffer.from(OFFERS)));
    });
    if (statusOf(Buffer.from(offers)) !== 200) throw new FatalWireError(`the receiver refused the RELP session: ${JSON.stringify(offers.slice(0, 200))}`);
    if (!/^commands=.*\bsyslog\b/m.test(offers)) throw new FatalWireError(`the receiver does not offer the syslog command: ${JSON.stringify(offers.slice(0, 200))}`);
  }

  private answer(frame: RelpFrame): void {
    if (frame.command === 'serverclose') return this.broken('the receiver ended the session (serverclose)');
    if (frame.command !== 'rsp') return this.broken(`the receiver sent an unexpected command ${JSON.stringify(frame.command)}`);
    if (this.opened) {
      const opened = this.opened;
      this.opened = undefined;
      return opened(frame.data.toString('utf8'));
    }
    if (this.closed) return this.closed();
    const ack = this.waiting.get(frame.txnr);
    if (!ack) return this.broken(`the receiver answered transaction ${frame.txnr}, which is not waiting`);
    this.waiting.delete(frame.txnr);
    const status = statusOf(frame.data);
    if (status !== 200) return this.broken(`the receiver answered ${JSON.stringify(frame.data.toString('utf8').slice(0, 200))} to transaction ${frame.txnr}`);
    ack();
  }

  send(message: Buffer, ack: () => void): void {
    const txnr = this.nextTxnr();
    this.waiting.set(txnr, ack);
    this.socket.write(relpFrame(txnr, 'syslog', message));
  }

  /** `close`, then the answer (or a second), then the socket ends. */
  close(): Promise<void> {
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(timer);
        this.socket.destroy();
        resolve();
      };
      const timer = setTimeout(done, 2000).unref();
      this.closed = done;
      this.socket.once('close', done);
      this.socket.write(relpFrame(this.nextTxnr(), 'close'));
    });
  }

  destroy(): void {
    this.socket.destroy();
  }
}

export function relpWire(e: Endpoint): Wire {
  return {
    label: endpointLabel(e, 'relp'),
    async connect(broken) {
      const socket = await openSocket(e);
      const session = new RelpSession(socket, broken);
      // Watched from the start: an error during open must not go unheard (the sender ignores
      // `broken` until connect() has resolved; open then fails on the socket's close).
      watchSocket(socket, broken);
      try {
        await session.open(e.timeoutMs);
      } catch (err) {
        socket.destroy();
        throw err;
      }
      return session;
    },
  };
}
