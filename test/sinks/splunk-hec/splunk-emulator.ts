/**
 * A loopback HEC server that answers as Splunk documents it, where the OpenTelemetry receiver is
 * laxer: it checks the token (401 code 2, 403 code 4, 403 code 1 when disabled), requires a channel
 * from an ack-enabled token (400 code 10) and that it is a UUID (400 code 11), refuses a request
 * whose events are not valid (400 code 6 or 12 with `invalid-event-number`, indexing none of them),
 * keeps acks false for a while (or for ever), answers the ack endpoint 400 code 14 for a token
 * without acknowledgement, and plays faults it is told to (503 code 9, 429, a 4xx from the ack
 * endpoint) in order.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { gunzipSync } from 'node:zlib';

export const TOKEN = 'a1b2c3d4-0000-4000-8000-hec-test-token';
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

export interface Answer {
  readonly status: number;
  readonly body: Record<string, unknown>;
}

export const ANSWERS = {
  busy: { status: 503, body: { text: 'Server is busy', code: 9 } },
  tooMany: { status: 429, body: { text: 'Too many requests' } },
  invalidToken: { status: 403, body: { text: 'Invalid token', code: 4 } },
  disabled: { status: 403, body: { text: 'Token disabled', code: 1 } },
  ackDisabled: { status: 400, body: { text: 'ACK is disabled', code: 14 } },
} satisfies Record<string, Answer>;

/** One event as the emulator indexed it. */
export interface Indexed {
  readonly id: string;
  readonly line: Record<string, any>;
  readonly ackId: number | undefined;
}

export interface EmulatorOptions {
  /** The token has indexer acknowledgement (default true). */
  useAck?: boolean;
  /** Ack queries that answer false before an id turns true; Infinity: never. */
  ackAfterPolls?: number;
  /** The first this many acks given out never turn true (lost, as when an indexer restarts). */
  loseAcks?: number;
  /** Accept events and answer 200 without an ackId although the token has ack (a misbehaving proxy). */
  dropAckId?: boolean;
  /** Events with these ids are refused as invalid data (code 6). */
  poison?: Set<string>;
  /** Say which event of a refused batch was bad (Splunk's `invalid-event-number`). */
  sayInvalidEvent?: boolean;
}

export class SplunkEmulator {
  readonly indexed: Indexed[] = [];
  /** Every event request: the ids it carried, its channel, and whether it was gzipped. */
  readonly eventRequests: { ids: string[]; channel?: string; gzip: boolean; authorization?: string }[] = [];
  readonly ackQueries: number[][] = [];
  /** Answers the next event requests get, in order, instead of their own. */
  readonly eventFaults: Answer[] = [];
  /** Answers the next ack queries get, in order. */
  readonly ackFaults: Answer[] = [];
  token = TOKEN;
  disabled = false;
  private readonly pending = new Map<string, { polls: number }>();
  private readonly nextAck = new Map<string, number>();
  private given = 0;
  private server!: Server;
  url = '';

  constructor(readonly o: EmulatorOptions = {}) {}

  static async start(o: EmulatorOptions = {}): Promise<SplunkEmulator> {
    const e = new SplunkEmulator(o);
    e.server = createServer((req, res) => void e.handle(req, res));
    await new Promise<void>((resolve) => e.server.listen(0, '127.0.0.1', resolve));
    e.url = `http://127.0.0.1:${(e.server.address() as { port: number }).port}`;
    return e;
  }

  async stop(): Promise<void> {
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  private get useAck(): boolean {
    return this.o.useAck ?? true;
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    const gzip = req.headers['content-encoding'] === 'gzip';
    const body = (gzip ? gunzipSync(Buffer.concat(chunks)) : Buffer.concat(chunks)).toString('utf8');
    const send = (a: Answer) => {
      res.writeHead(a.status, { 'content-type': 'application/json' });
      res.end(JSON.stringify(a.body));
    };
    const auth = req.headers.authorization;
    if (auth === undefined) return send({ status: 401, body: { text: 'Token is required', code: 2 } });
    if (auth !== `Splunk ${this.token}`) return send(ANSWERS.invalidToken);
    if (this.disabled) return send(ANSWERS.disabled);
    const url = new URL(req.url ?? '/', 'http://x');
    const channel = (req.headers['x-splunk-request-channel'] as string | undefined) ?? url.searchParams.get('channel') ?? undefined;
    if (channel !== undefined && !UUID.test(channel)) return send({ status: 400, body: { text: 'Invalid data channel', code: 11 } });
    if (url.pathname === '/services/collector/ack') return send(this.ack(channel, body));
    if (url.pathname !== '/services/collector/event') return send({ status: 404, body: { text: 'The requested URL was not found on this server.', code: 404 } });
    if (this.useAck && channel === undefined) return send({ status: 400, body: { text: 'Data channel is missing', code: 10 } });
    if (body.trim() === '') return send({ status: 400, body: { text: 'No data', code: 5 } });
    const lines = body.split('\n').filter((l) => l.trim() !== '').map((l) => JSON.parse(l) as Record<string, any>);
    const ids = lines.map((l) => String(l.fields?.['event.id']));
    this.eventRequests.push({ ids, channel, gzip, authorization: auth });
    const fault = this.eventFaults.shift();
    if (fault) return send(fault);
    const bad = lines.findIndex((l, i) => l.event === undefined || this.o.poison?.has(ids[i]!));
    if (bad >= 0) {
      const which = this.o.sayInvalidEvent ? { 'invalid-event-number': bad } : {};
      return send({ status: 400, body: lines[bad]!.event === undefined ? { text: 'Event field is required', code: 12, ...which } : { text: 'Invalid data format', code: 6, ...which } });
    }
    let ackId: number | undefined;
    if (this.useAck && channel !== undefined) {
      ackId = this.nextAck.get(channel) ?? 0;
      this.nextAck.set(channel, ackId + 1);
      if (this.given++ >= (this.o.loseAcks ?? 0)) this.pending.set(`${channel}/${ackId}`, { polls: 0 });
    }
    for (const [i, line] of lines.entries()) this.indexed.push({ id: ids[i]!, line, ackId });
    send({ status: 200, body: ackId === undefined || this.o.dropAckId ? { text: 'Success', code: 0 } : { text: 'Success', code: 0, ackId } });
  }

  private ack(channel: string | undefined, body: string): Answer {
    if (channel === undefined) return { status: 400, body: { text: 'Data channel is missing', code: 10 } };
    const fault = this.ackFaults.shift();
    if (fault) return fault;
    if (!this.useAck) return ANSWERS.ackDisabled;
    let ids: number[];
    try {
      ids = (JSON.parse(body) as { acks: number[] }).acks;
    } catch {
      return { status: 400, body: { text: 'Invalid data format', code: 6 } };
    }
    this.ackQueries.push(ids);
    const acks: Record<string, boolean> = {};
    for (const id of ids) {
      const key = `${channel}/${id}`;
      const p = this.pending.get(key);
      if (!p) {
        acks[id] = false;
        continue;
      }
      p.polls++;
      const done = p.polls > (this.o.ackAfterPolls ?? 0);
      acks[id] = done;
      if (done) this.pending.delete(key); // reported true once, then forgotten (as Splunk does)
    }
    return { status: 200, body: { acks } };
  }
}
