/**
 * RFC 5424 messages and their octet-counting frame (RFC 6587 §3.4.1, RFC 5425 §4.3):
 * `<LEN> <PRI>1 TIMESTAMP HOSTNAME APP-NAME PROCID MSGID [SD] MSG`. Header fields hold printable
 * US-ASCII (33-126) only, each within its length limit; `-` stands for an empty one.
 */
import { escapeWith } from './escape.js';

/** Facility codes (RFC 5424 table 1), by the names syslog.conf uses. */
export const FACILITIES = {
  kern: 0, user: 1, mail: 2, daemon: 3, auth: 4, syslog: 5, lpr: 6, news: 7, uucp: 8, cron: 9, authpriv: 10, ftp: 11,
  ntp: 12, security: 13, console: 14, solaris_cron: 15, local0: 16, local1: 17, local2: 18, local3: 19, local4: 20,
  local5: 21, local6: 22, local7: 23,
} as const;
export type Facility = keyof typeof FACILITIES;

/** Severity codes (RFC 5424 table 2). */
export const SEVERITIES = { emerg: 0, alert: 1, crit: 2, err: 3, warning: 4, notice: 5, info: 6, debug: 7 } as const;
export type Severity = keyof typeof SEVERITIES;

/** Header field limits (RFC 5424 §6). */
export const HEADER_LIMITS = { hostname: 255, appName: 48, procId: 128, msgId: 32, sdName: 32 } as const;

/** A header field: printable US-ASCII only (others dropped), at most `max` characters, `-` when empty. */
export function headerField(text: string, max: number): string {
  const printable = text.replace(/[^\x21-\x7e]/g, '').slice(0, max);
  return printable === '' ? '-' : printable;
}

/** An SD-PARAM value: `"`, `\` and `]` escaped with `\` (RFC 5424 §6.3.3); line breaks and other controls become U+FFFD (escape.ts). */
const SD_VALUE_ESCAPES = { '"': '\\"', '\\': '\\\\', ']': '\\]' } as const;
export function sdValue(text: string): string {
  return escapeWith(SD_VALUE_ESCAPES, text);
}

/** An SD-ID or PARAM-NAME: printable US-ASCII except `=`, space, `]` and `"`, at most 32. */
export function sdName(text: string): string {
  return headerField(text.replace(/[= \]"]/g, ''), HEADER_LIMITS.sdName);
}

/** The timestamp field: the event's time as RFC 3339 in UTC, `-` when it cannot be one. */
export function timestampField(iso: unknown): string {
  return typeof iso === 'string' && /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{1,6})?Z$/.test(iso) ? iso : '-';
}

export interface SyslogHeader {
  readonly facility: Facility;
  readonly severity: Severity;
  readonly timestamp: string;
  readonly hostname: string;
  readonly appName: string;
  readonly procId: string;
  readonly msgId: string;
  /** SD-ID and its params; written as one SD-ELEMENT. */
  readonly sd?: { readonly id: string; readonly params: readonly (readonly [string, string])[] };
}

/** `<PRI>1 TIMESTAMP HOSTNAME APP-NAME PROCID MSGID SD` plus the space before MSG. */
export function headerText(h: SyslogHeader): string {
  const pri = FACILITIES[h.facility] * 8 + SEVERITIES[h.severity];
  const sd = h.sd ? `[${sdName(h.sd.id)}${h.sd.params.map(([k, v]) => ` ${sdName(k)}="${sdValue(v)}"`).join('')}]` : '-';
  return [
    `<${pri}>1`, timestampField(h.timestamp), headerField(h.hostname, HEADER_LIMITS.hostname), headerField(h.appName, HEADER_LIMITS.appName),
    headerField(h.procId, HEADER_LIMITS.procId), headerField(h.msgId, HEADER_LIMITS.msgId), sd,
  ].join(' ') + ' ';
}

/** The message as bytes: header and body (UTF-8, no BOM: SIEM parsers look for `CEF:` or `{` at the start). */
export function messageBytes(h: SyslogHeader, body: string): Buffer {
  return Buffer.from(headerText(h) + body, 'utf8');
}

/** Octet-counting frame: the message's byte length, a space, the message. */
export function octetFrame(message: Buffer): Buffer {
  return Buffer.concat([Buffer.from(`${message.length} `, 'ascii'), message]);
}
