/** The `syslog` destination kind: its keys under `sink:` and how it opens. */
import type { ConnectionOptions } from 'node:tls';
import { z } from 'zod';
import { UnreadableFile, readCaFile, readSmallFile, readableByOthers } from '../../config/read-file.js';
import { caFile, numberKeys, oneOf } from '../../config/zod-keys.js';
import type { DestinationKind } from '../destination.js';
import { BODY_FORMATS } from './bodies.js';
import type { Endpoint } from './connect.js';
import { MessageMaker, SyslogDestination } from './destination.js';
import { syslogError } from './errors.js';
import { relpWire } from './relp.js';
import { FACILITIES, type Facility, SEVERITIES, type Severity } from './rfc5424.js';
import { FatalWireError, type Wire, WindowedSender } from './sender.js';
import { streamWire } from './stream-wire.js';

export const TRANSPORTS = ['tcp', 'tls', 'relp'] as const;
export type Transport = (typeof TRANSPORTS)[number];

/** The usual port of each transport (RFC 6587 practice, RFC 5425, rsyslog's RELP). */
export const DEFAULT_PORT: Readonly<Record<Transport, number>> = { tcp: 514, tls: 6514, relp: 2514 };

/** What an acknowledgement means, by transport (said at open, in the README and by `stats`). */
export const ACKNOWLEDGEMENT: Readonly<Record<Transport, string>> = {
  relp: "the receiver's RELP `rsp 200 OK` for the event's message",
  tcp: 'its bytes were written to the TCP socket (no application acknowledgement: bytes in flight when the connection drops are lost)',
  tls: 'its bytes were written to the TLS socket (no application acknowledgement: bytes in flight when the connection drops are lost)',
};

const RETRY = { retryBaseMs: 250, retryMaxMs: 15_000 } as const;
const MAX_KEY_BYTES = 1024 * 1024;

const names = <T extends string>(o: Readonly<Record<T, number>>) => Object.keys(o) as [T, ...T[]];

const keys = {
  /** Letters, digits and `.-_:%` only: a space or a line break would be a typo, and would break the lines that name the receiver. */
  host: z.string().regex(/^[A-Za-z0-9._:%-]{1,253}$/, 'a host name or address (letters, digits, ".", "-", "_", ":"; no brackets, spaces or line breaks)'),
  transport: oneOf(TRANSPORTS, 'transport'),
  format: oneOf(BODY_FORMATS, 'format').default('json'),
  facility: oneOf(names<Facility>(FACILITIES), 'facility').default('local0'),
  severity: oneOf<Severity | 'event'>([...names<Severity>(SEVERITIES), 'event'], 'severity').default('info'),
  /** HOSTNAME in the header (default: this machine's name). */
  hostname: z.string().optional(),
  ca_file: caFile.optional(),
  cert_file: z.string().optional(),
  key_file: z.string().optional(),
  /** The name the receiver's certificate must carry (default: host). */
  server_name: z.string().optional(),
  /** Accept any certificate: for tests only, said loudly at open. */
  insecure: z.boolean().default(false),
  ...numberKeys(['syslogPort', 'syslogMaxMessageBytes', 'syslogMaxInFlight', 'searchTimeout', 'searchGiveUp']),
};
type SyslogConfig = z.infer<z.ZodObject<typeof keys>>;

function readFile(what: string, path: string, read: () => string): string {
  try {
    return read();
  } catch (err) {
    if (err instanceof UnreadableFile) throw syslogError(`${what} ${path} ${err.message}`);
    throw err;
  }
}

function tlsOptions(c: SyslogConfig): ConnectionOptions {
  const key = c.key_file && readFile('key_file', c.key_file, () => {
    const f = readSmallFile(c.key_file!, MAX_KEY_BYTES);
    if (readableByOthers(f.mode)) throw new UnreadableFile('may be read by other users (chmod 600 it)');
    return f.text;
  });
  return {
    ca: c.ca_file && readFile('ca_file', c.ca_file, () => readCaFile(c.ca_file!)),
    cert: c.cert_file && readFile('cert_file', c.cert_file, () => readCaFile(c.cert_file!)),
    key,
    servername: c.server_name ?? c.host,
    rejectUnauthorized: !c.insecure,
    minVersion: 'TLSv1.2',
  };
}

const WIRES: Readonly<Record<Transport, (e: Endpoint) => Wire>> = { tcp: streamWire, tls: streamWire, relp: relpWire };

export const syslogKind: DestinationKind<typeof keys> = {
  kind: 'syslog',
  summary: 'RFC 5424 syslog over TCP, TLS or RELP; the body is the ECS document as JSON, CEF or LEEF 2.0',
  acknowledgement: `relp: ${ACKNOWLEDGEMENT.relp}; tcp/tls: ${ACKNOWLEDGEMENT.tcp}`,
  keys,
  example: { host: '127.0.0.1', transport: 'relp' },
  check(c) {
    if ((c.cert_file === undefined) !== (c.key_file === undefined)) return 'cert_file and key_file go together (a client certificate and its key)';
    const tlsKeys = (['ca_file', 'cert_file', 'key_file', 'server_name'] as const).filter((k) => c[k] !== undefined);
    if (c.transport !== 'tls' && (tlsKeys.length > 0 || c.insecure)) return `${[...tlsKeys, ...(c.insecure ? ['insecure'] : [])].join(', ')}: only with transport: tls`;
    return undefined;
  },
  async open(c, name, ctx) {
    const log = ctx.log;
    const endpoint: Endpoint = {
      host: c.host,
      port: c.port ?? DEFAULT_PORT[c.transport],
      tls: c.transport === 'tls' ? tlsOptions(c) : undefined,
      timeoutMs: c.timeout_s * 1000,
    };
    const wire = WIRES[c.transport](endpoint);
    if (c.transport !== 'relp') {
      log.warn(`syslog ${name}: transport ${c.transport} has no acknowledgement from the receiver: an event counts as delivered once ${ACKNOWLEDGEMENT[c.transport].replace(/^its/, 'its message')}; use transport relp to lose nothing`);
    }
    if (c.insecure) log.warn(`syslog ${name}: insecure: true, the receiver's certificate is not checked (for tests only)`);
    const sender = new WindowedSender(wire, { window: c.max_in_flight, ackTimeoutMs: c.timeout_s * 1000, giveUpMs: c.give_up_s * 1000, ...RETRY }, log);
    try {
      await sender.start();
    } catch (err) {
      await sender.close();
      if (err instanceof FatalWireError) throw syslogError(`${wire.label}: ${err.message}`);
      throw syslogError(`cannot reach ${wire.label}: ${(err as Error).message}`, { cause: err });
    }
    log.info(`syslog ${name}: connected to ${wire.label}, format ${c.format}`);
    const maker = new MessageMaker({ format: c.format, facility: c.facility, severity: c.severity, hostname: c.hostname, maxMessageBytes: c.max_message_bytes });
    return new SyslogDestination(name, maker, sender, log);
  },
};
