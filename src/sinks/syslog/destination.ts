/**
 * The syslog destination: each event becomes one RFC 5424 message (APP-NAME `mimelog`, MSGID the
 * log type, the event id in structured data) whose body is the ECS document as JSON, a CEF line or
 * a LEEF 2.0 line, sent over TCP, TLS or RELP. A message over `max_message_bytes` is
 * dead-lettered with the reason, never cut.
 */
import { hostname as osHostname } from 'node:os';
import type { Unit } from '../../core/unit.js';
import type { Logger } from '../../log/logger.js';
import type { PreparedDeadLetter } from '../../store/prepared.js';
import { type Destination, type DestinationReport, refusedEvent } from '../destination.js';
import { BODY, type BodyFormat } from './bodies.js';
import { valueAt, logTypeOf } from './fields.js';
import { type Facility, type Severity, type SyslogHeader, messageBytes } from './rfc5424.js';
import type { WindowedSender } from './sender.js';

/** `severity: event`: the syslog severity by the event's ECS `event.kind`, else `info`. */
export const SEVERITY_BY_EVENT_KIND: Readonly<Record<string, Severity>> = { alert: 'warning', event: 'info' };

/** The SD-ID of mimelog's structured data (32473 is the enterprise number RFC 5612 sets aside for examples). */
export const SD_ID = 'mimelog@32473';

export interface MessageOptions {
  readonly format: BodyFormat;
  readonly facility: Facility;
  readonly severity: Severity | 'event';
  readonly hostname?: string;
  readonly maxMessageBytes: number;
}

/** Makes one event's message bytes, and says why not when it is over the bound. */
export class MessageMaker {
  private readonly hostname: string;
  private readonly procId = String(process.pid);

  constructor(private readonly o: MessageOptions) {
    this.hostname = o.hostname ?? osHostname();
  }

  make(e: Unit['events'][number]): { message: Buffer } | { reason: string } {
    const kind = valueAt(e.doc, 'event.kind');
    const header: SyslogHeader = {
      facility: this.o.facility,
      severity: this.o.severity === 'event' ? ((typeof kind === 'string' && SEVERITY_BY_EVENT_KIND[kind]) || 'info') : this.o.severity,
      timestamp: String(valueAt(e.doc, '@timestamp') ?? ''),
      hostname: this.hostname,
      appName: 'mimelog',
      procId: this.procId,
      msgId: logTypeOf(e.doc),
      sd: { id: SD_ID, params: [['id', e.id], ['type', logTypeOf(e.doc)]] },
    };
    const message = messageBytes(header, BODY[this.o.format](e));
    if (message.length > this.o.maxMessageBytes) {
      return { reason: `syslog: the ${this.o.format} message of ${message.length} bytes is over max_message_bytes (${this.o.maxMessageBytes}); not sent` };
    }
    return { message };
  }
}

export class SyslogDestination implements Destination {
  constructor(
    readonly name: string,
    private readonly maker: MessageMaker,
    private readonly sender: WindowedSender,
    private readonly log: Logger,
  ) {}

  async deliver(unit: Unit): Promise<DestinationReport> {
    const rejected: PreparedDeadLetter[] = [];
    const sent: Promise<number>[] = [];
    for (const e of unit.events) {
      const made = this.maker.make(e);
      if ('reason' in made) rejected.push(refusedEvent(unit, e, made.reason));
      else sent.push(this.sender.send(made.message));
    }
    const resends = await Promise.all(sent);
    return { indexed: sent.length, duplicates: 0, resent: resends.reduce((a, b) => a + b, 0), collisions: [], rejected };
  }

  async close(): Promise<void> {
    await this.sender.close();
    const t = this.sender.totals;
    this.log.info(`syslog ${this.name}: ${t.acknowledged} message(s) acknowledged, ${t.bytes} bytes, ${t.resent} re-sent, ${t.reconnects} reconnect(s)`);
  }
}
