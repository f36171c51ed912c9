/**
 * The message body of one event, by `format`: the ECS document as JSON, an ArcSight CEF line or a
 * QRadar LEEF 2.0 line. CEF and LEEF take their fields from the table in fields.ts and escape by
 * the tables here, so no value can end a field, start a key or break the line.
 */
import { type ProcessedEvent, documentJson } from '../../core/unit.js';
import { REPLACEMENT, escapeWith, jsonWithoutUnsafe } from './escape.js';
import { eventSeverity, logTypeOf, mappedFields } from './fields.js';

export const BODY_FORMATS = ['json', 'cef', 'leef'] as const;
export type BodyFormat = (typeof BODY_FORMATS)[number];

const VENDOR = 'Mimecast';
const PRODUCT = 'mimelog';
const PRODUCT_VERSION = '0.1.0';

/** CEF header fields: `\` and `|` (a header holds no line break: those become U+FFFD, see escape.ts). */
export const CEF_HEADER_ESCAPES = { '\\': '\\\\', '|': '\\|' } as const;
/** CEF extension values: `\`, `=` and line breaks, the only escapes CEF parsers know. */
export const CEF_VALUE_ESCAPES = { '\\': '\\\\', '=': '\\=', '\n': '\\n', '\r': '\\r' } as const;

/**
 * The LEEF attribute delimiter. Not the tab LEEF defaults to: syslog receivers rewrite control
 * characters (rsyslog writes a tab as `#011`), which would merge the attributes. LEEF has no
 * escapes (QRadar reads values as written), so a value's `^` and line breaks become U+FFFD, as
 * does a `|` in a header field; a backslash stays as it is.
 */
export const LEEF_DELIMITER = '^';
export const LEEF_HEADER_ESCAPES = { '|': REPLACEMENT, [LEEF_DELIMITER]: REPLACEMENT } as const;
export const LEEF_VALUE_ESCAPES = { [LEEF_DELIMITER]: REPLACEMENT } as const;
/** How LEEF's devTime is written (an ISO 8601 time in UTC), in Java's SimpleDateFormat, as QRadar reads it. */
export const LEEF_TIME_FORMAT = "yyyy-MM-dd'T'HH:mm:ss.SSSX";

const cefHeader = (s: string) => escapeWith(CEF_HEADER_ESCAPES, s);
const leefHeader = (s: string) => escapeWith(LEEF_HEADER_ESCAPES, s);

/** `CEF:0|Mimecast|mimelog|0.1.0|<log type>|<action or log type>|<severity>|<k=v ...>` */
export function cefLine(e: ProcessedEvent): string {
  const fields = mappedFields(e.doc);
  const logType = logTypeOf(e.doc);
  const action = fields.find((f) => f.mapping.cef === 'act')?.text ?? logType;
  const pairs: string[] = [];
  for (const { mapping, text } of fields) {
    pairs.push(`${mapping.cef}=${escapeWith(CEF_VALUE_ESCAPES, text)}`);
    if (mapping.cefLabel) pairs.push(`${mapping.cef}Label=${mapping.cefLabel}`);
  }
  const header = [VENDOR, PRODUCT, PRODUCT_VERSION, logType, action, String(eventSeverity(e.doc))].map(cefHeader);
  return `CEF:0|${header.join('|')}|${pairs.join(' ')}`;
}

/** `LEEF:2.0|Mimecast|mimelog|0.1.0|<log type>|^|k=v^k=v...` */
export function leefLine(e: ProcessedEvent): string {
  const pairs = [`sev=${eventSeverity(e.doc)}`];
  for (const { mapping, text } of mappedFields(e.doc)) {
    // devTime is the event's ISO time; devTimeFormat says how to read it.
    const value = mapping.leef === 'devTime' ? new Date(Number(text)).toISOString() : text;
    pairs.push(`${mapping.leef}=${escapeWith(LEEF_VALUE_ESCAPES, value)}`);
    if (mapping.leef === 'devTime') pairs.push(`devTimeFormat=${LEEF_TIME_FORMAT}`);
  }
  const header = [VENDOR, PRODUCT, PRODUCT_VERSION, logTypeOf(e.doc)].map(leefHeader);
  return `LEEF:2.0|${header.join('|')}|${LEEF_DELIMITER}|${pairs.join(LEEF_DELIMITER)}`;
}

export const BODY: Readonly<Record<BodyFormat, (e: ProcessedEvent) => string>> = {
  json: (e) => jsonWithoutUnsafe(documentJson(e)),
  cef: cefLine,
  leef: leefLine,
};
