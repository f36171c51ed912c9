/**
 * Sends messages over one connection at a time, at most `window` of them unacknowledged, and
 * reconnects with back-off when the connection is lost: every message not yet acknowledged is
 * sent again on the new connection, in its first order, and counted as re-sent. What counts as
 * an acknowledgement is the wire's (RELP: the receiver's `rsp 200`; TCP/TLS: the bytes written).
 */
import { backoffDelay, sleep } from '../../util/backoff.js';
import type { Logger } from '../../log/logger.js';
import { syslogError } from './errors.js';

/** One connection, already open and ready for messages. */
export interface Session {
  /** Sends one message; `ack` is called once it counts as acknowledged. */
  send(message: Buffer, ack: () => void): void;
  /** Ends the session politely (RELP `close`), then closes the socket. */
  close(): Promise<void>;
  destroy(): void;
}

/** How to open a session; `broken` is called at most once when it is lost. */
export interface Wire {
  /** `relp 127.0.0.1:2514`, for messages. */
  readonly label: string;
  connect(broken: (reason: string) => void): Promise<Session>;
}

/** A connection failure no retry cures (a certificate not trusted, a receiver that refuses syslog): a person must act. */
export class FatalWireError extends Error {}

export interface SenderOptions {
  readonly window: number;
  /** No acknowledgement for this long while messages wait: the connection is given up and opened again. */
  readonly ackTimeoutMs: number;
  /** No message acknowledged for this long while messages wait (however many reconnects): the run stops. */
  readonly giveUpMs: number;
  readonly retryBaseMs: number;
  readonly retryMaxMs: number;
}

interface Outgoing {
  readonly message: Buffer;
  sent: boolean;
  resends: number;
  readonly resolve: (resends: number) => void;
  readonly reject: (err: Error) => void;
}

export class WindowedSender {
  private queue: Outgoing[] = [];
  /** In the order sent: a reconnect sends them again in that order. */
  private readonly inflight = new Set<Outgoing>();
  private session: Session | undefined;
  private connecting = false;
  private failure: Error | undefined;
  private closing = false;
  /** The last acknowledgement, or when messages began to wait after none did: the give-up clock. */
  private lastAck = Date.now();
  /** The last acknowledgement on this session, or its start: the acknowledgement timeout's clock. */
  private sessionProgress = Date.now();
  private readonly stop = new AbortController();
  private readonly watch: NodeJS.Timeout;
  /** Messages acknowledged, their bytes, and re-sends, for the closing summary. */
  readonly totals = { acknowledged: 0, bytes: 0, resent: 0, reconnects: 0 };

  constructor(
    private readonly wire: Wire,
    private readonly o: SenderOptions,
    private readonly log: Logger,
  ) {
    this.watch = setInterval(() => this.checkProgress(), Math.min(1000, o.ackTimeoutMs)).unref();
  }

  /** Opens the first session: a wrong address, port or certificate fails here, before any event is read. */
  async start(): Promise<void> {
    this.session = await this.open();
  }

  private async open(): Promise<Session> {
    // The wire may call `broken` before connect() resolves: the closure reads the session once it is known.
    let session: Session | undefined;
    session = await this.wire.connect((reason) => this.broken(session, reason));
    return session;
  }

  /** Resolves with how many times the message was re-sent, once it is acknowledged. */
  send(message: Buffer): Promise<number> {
    if (this.failure) return Promise.reject(this.failure);
    return new Promise((resolve, reject) => {
      if (this.queue.length === 0 && this.inflight.size === 0) this.lastAck = this.sessionProgress = Date.now();
      this.queue.push({ message, sent: false, resends: 0, resolve, reject });
      this.pump();
    });
  }

  private pump(): void {
    const s = this.session;
    if (s === undefined) return void this.reconnect();
    while (this.inflight.size < this.o.window && this.queue.length > 0) {
      const out = this.queue.shift()!;
      if (out.sent) {
        out.resends++;
        this.totals.resent++;
      }
      out.sent = true;
      this.inflight.add(out);
      s.send(out.message, () => this.acknowledged(s, out));
    }
  }

  private acknowledged(s: Session, out: Outgoing): void {
    // A late answer on a session already given up: the message is queued again; let it go.
    if (s !== this.session || !this.inflight.delete(out)) return;
    this.lastAck = this.sessionProgress = Date.now();
    this.totals.acknowledged++;
    this.totals.bytes += out.message.length;
    out.resolve(out.resends);
    this.pump();
  }

  private broken(s: Session | undefined, reason: string): void {
    if (s === undefined || s !== this.session) return;
    this.session = undefined;
    s.destroy();
    const waiting = [...this.inflight];
    this.inflight.clear();
    this.queue = waiting.concat(this.queue); // not unshift(...): a window of 100 000 is past the argument limit
    if (this.closing) return;
    this.log.warn(`syslog: connection to ${this.wire.label} lost (${reason}); ${waiting.length} unacknowledged message(s) will be sent again`);
    this.reconnect();
  }

  private async reconnect(): Promise<void> {
    if (this.connecting || this.closing || this.failure || this.session) return;
    this.connecting = true;
    try {
      for (let attempt = 0; !this.closing && !this.failure; attempt++) {
        if (!(await sleep(backoffDelay(attempt, { baseMs: this.o.retryBaseMs, maxMs: this.o.retryMaxMs }), this.stop.signal))) return;
        try {
          const session = await this.open();
          if (this.closing) return session.destroy();
          this.session = session;
          this.sessionProgress = Date.now();
          this.totals.reconnects++;
          this.log.info(`syslog: connected to ${this.wire.label} again; sending ${this.queue.length} waiting message(s)`);
          break;
        } catch (err) {
          if (err instanceof FatalWireError) return this.fail(syslogError(`${this.wire.label}: ${err.message}`));
          this.log.warn(`syslog: cannot connect to ${this.wire.label} (${(err as Error).message}); retrying`, { attempt: attempt + 1 });
          this.checkProgress();
        }
      }
    } finally {
      this.connecting = false;
    }
    this.pump();
  }

  /** Stalled (no acknowledgement while messages wait): reconnect; stalled past the give-up bound: stop. */
  private checkProgress(): void {
    const waiting = this.inflight.size + this.queue.length;
    if (this.failure || this.closing || waiting === 0) return;
    const now = Date.now();
    if (now - this.lastAck > this.o.giveUpMs) {
      return this.fail(syslogError(`${this.wire.label}: no message acknowledged for ${Math.round((now - this.lastAck) / 1000)} s while ${waiting} wait (give_up_s ${this.o.giveUpMs / 1000}); the checkpoint stays where it was`));
    }
    if (this.session && this.inflight.size > 0 && now - this.sessionProgress > this.o.ackTimeoutMs) {
      this.broken(this.session, `no acknowledgement for ${Math.round(this.o.ackTimeoutMs / 1000)} s`);
    }
  }

  private fail(err: Error): void {
    if (this.failure) return;
    this.failure = err;
    for (const out of [...this.inflight, ...this.queue]) out.reject(err);
    this.inflight.clear();
    this.queue.length = 0;
    this.session?.destroy();
    this.session = undefined;
  }

  /** Ends the session politely; messages still waiting are refused (the run is stopping). */
  async close(): Promise<void> {
    this.closing = true;
    clearInterval(this.watch);
    this.stop.abort();
    const s = this.session;
    this.session = undefined;
    if (s) await s.close();
    this.fail(syslogError(`${this.wire.label}: closed with messages unacknowledged`));
  }
}
