/**
 * How an ECS document becomes the key=value pairs of a CEF extension or a LEEF 2.0 event: one
 * table, ECS field → CEF key and LEEF key. The event id travels in every line (CEF `externalId`,
 * LEEF `externalId`), so a line re-sent after a lost connection is recognisable as the same event.
 */
import type { JsonValue } from '../../decode/record.js';
import type { EcsDocument } from '../../normalize/ecs.js';
import { stableJson } from '../../util/stable-json.js';

/** How a value is written: as text (a list joined with ","), or a time as milliseconds since 1970. */
export type Conversion = 'text' | 'epochMs';

export interface FieldMapping {
  /** Dotted ECS path. */
  readonly ecs: string;
  /** CEF extension key; a custom string key (`cs1`...) carries its label. */
  readonly cef: string;
  readonly cefLabel?: string;
  /** LEEF attribute: predefined where LEEF has one, else a custom key. */
  readonly leef: string;
  readonly as?: Conversion;
}

export const FIELD_MAPPINGS: readonly FieldMapping[] = [
  { ecs: 'event.id', cef: 'externalId', leef: 'externalId' },
  { ecs: '@timestamp', cef: 'rt', leef: 'devTime', as: 'epochMs' },
  { ecs: 'event.action', cef: 'act', leef: 'action' },
  { ecs: 'event.outcome', cef: 'outcome', leef: 'outcome' },
  { ecs: 'event.reason', cef: 'reason', leef: 'reason' },
  { ecs: 'source.ip', cef: 'src', leef: 'src' },
  { ecs: 'source.domain', cef: 'shost', leef: 'srcHost' },
  { ecs: 'destination.ip', cef: 'dst', leef: 'dst' },
  { ecs: 'email.from.address', cef: 'suser', leef: 'usrName' },
  { ecs: 'email.to.address', cef: 'duser', leef: 'recipient' },
  { ecs: 'user.email', cef: 'duid', leef: 'userEmail' },
  { ecs: 'url.full', cef: 'request', leef: 'url' },
  { ecs: 'attachment.name', cef: 'fname', leef: 'fileName' },
  { ecs: 'attachment.size', cef: 'fsize', leef: 'fileSize' },
  { ecs: 'message', cef: 'msg', leef: 'msg' },
  { ecs: 'email.subject', cef: 'cs1', cefLabel: 'subject', leef: 'subject' },
  { ecs: 'email.message_id', cef: 'cs2', cefLabel: 'messageId', leef: 'messageId' },
  { ecs: 'mimecast.log_type', cef: 'cs3', cefLabel: 'logType', leef: 'logType' },
  { ecs: 'email.direction', cef: 'cs4', cefLabel: 'direction', leef: 'direction' },
  { ecs: 'rule.name', cef: 'cs5', cefLabel: 'rule', leef: 'rule' },
  { ecs: 'event.hash', cef: 'cs6', cefLabel: 'eventHash', leef: 'eventHash' },
];

/** The CEF/LEEF severity (0-10) of an event, by its ECS `event.kind`. */
export const SEVERITY_BY_KIND: Readonly<Record<string, number>> = { alert: 7, event: 3 };
export const DEFAULT_SEVERITY = 3;

/** The value at a dotted path, or undefined. */
export function valueAt(doc: EcsDocument, path: string): JsonValue | undefined {
  let at: JsonValue | undefined = doc;
  // '@timestamp' has no dot; 'email.from.address' walks objects.
  for (const part of path.split('.')) {
    if (at === null || typeof at !== 'object' || Array.isArray(at) || !Object.hasOwn(at, part)) return undefined;
    at = (at as Record<string, JsonValue>)[part];
  }
  return at;
}

function asText(v: JsonValue): string {
  if (typeof v === 'string') return v;
  if (Array.isArray(v)) return v.map((x) => (typeof x === 'string' ? x : stableJson(x))).join(',');
  return stableJson(v);
}

const CONVERT: Readonly<Record<Conversion, (v: JsonValue) => string | undefined>> = {
  text: asText,
  epochMs: (v) => {
    const ms = typeof v === 'string' ? Date.parse(v) : Number.NaN;
    return Number.isFinite(ms) ? String(ms) : undefined;
  },
};

/** The mapped fields present in `doc`, in table order, as text. */
export function mappedFields(doc: EcsDocument): { mapping: FieldMapping; text: string }[] {
  const out: { mapping: FieldMapping; text: string }[] = [];
  for (const mapping of FIELD_MAPPINGS) {
    const v = valueAt(doc, mapping.ecs);
    if (v === undefined || v === null) continue;
    const text = CONVERT[mapping.as ?? 'text'](v);
    if (text !== undefined && text !== '') out.push({ mapping, text });
  }
  return out;
}

/** The event's severity on the CEF/LEEF 0-10 scale. */
export function eventSeverity(doc: EcsDocument): number {
  const kind = valueAt(doc, 'event.kind');
  return (typeof kind === 'string' ? SEVERITY_BY_KIND[kind] : undefined) ?? DEFAULT_SEVERITY;
}

/** The log type (CEF signature id, LEEF event id, syslog MSGID). */
export function logTypeOf(doc: EcsDocument): string {
  const t = valueAt(doc, 'mimecast.log_type');
  return typeof t === 'string' && t !== '' ? t : 'unknown';
}
