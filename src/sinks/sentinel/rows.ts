/**
 * What one event becomes in the Sentinel table: a row of the DCR's stream. The columns are
 * declared here once, as data: the row builder, the shipped DCR and table definition
 * (`dcr-template.json`, checked against this list by the tests) and the emulator's schema check
 * all follow them.
 *
 * The Logs Ingestion API stores every row it is given (it removes no duplicates), so a row
 * carries `EventId` (mimelog's content fingerprint): KQL `arg_max(TimeGenerated, *) by EventId`
 * keeps one row per event, and `EventHash` shows a fingerprint collision (one id, two hashes).
 */
import { type ProcessedEvent, documentJson } from '../../core/unit.js';
import type { JsonValue } from '../../decode/record.js';

/** The Log Analytics column types the rows use. */
export type ColumnType = 'datetime' | 'string' | 'dynamic';

export interface Column {
  readonly name: string;
  readonly type: ColumnType;
  readonly description: string;
  /** Where the value comes from: the event itself, or a dotted path in its ECS document. */
  readonly from: ((e: ProcessedEvent) => JsonValue | undefined) | string;
}

const isoTime = (e: ProcessedEvent) => new Date(e.timeMs).toISOString();

/**
 * The row's columns besides `Document` (the whole ECS document, a `dynamic` column written last).
 * A `string` column whose document value is a list takes its first item (the whole list stays in
 * `Document`).
 */
export const ROW_COLUMNS: readonly Column[] = [
  { name: 'TimeGenerated', type: 'datetime', from: isoTime, description: "the event's own time (Log Analytics may store the ingestion time instead when the time is far in the past or the future; EventTime keeps it)" },
  { name: 'EventTime', type: 'datetime', from: isoTime, description: "the event's own time, as Mimecast gave it" },
  { name: 'EventId', type: 'string', from: (e) => e.id, description: "mimelog's fingerprint of the event (event.id): the same event always has the same id; dedupe with arg_max(TimeGenerated, *) by EventId" },
  { name: 'EventHash', type: 'string', from: (e) => e.hash, description: 'hash of the full content (event.hash): two hashes under one EventId are a fingerprint collision' },
  { name: 'LogType', type: 'string', from: (e) => e.classification.logType, description: 'the Mimecast log type (mimecast.log_type)' },
  { name: 'EventAction', type: 'string', from: 'event.action', description: 'event.action' },
  { name: 'EventOutcome', type: 'string', from: 'event.outcome', description: 'event.outcome' },
  { name: 'SenderAddress', type: 'string', from: 'email.from.address', description: 'email.from.address (the first)' },
  { name: 'RecipientAddresses', type: 'dynamic', from: 'email.to.address', description: 'email.to.address (all)' },
  { name: 'Subject', type: 'string', from: 'email.subject', description: 'email.subject' },
  { name: 'MessageId', type: 'string', from: 'email.message_id', description: 'email.message_id' },
  { name: 'SourceIp', type: 'string', from: 'source.ip', description: 'source.ip' },
];

/** The last column: the whole ECS document (event.original included when the pipeline keeps it). */
export const DOCUMENT_COLUMN: Column = { name: 'Document', type: 'dynamic', from: () => undefined, description: 'the whole ECS document mimelog made of the record (as written to NDJSON)' };

/** Every column of the stream, in row order. */
export const STREAM_COLUMNS: readonly Column[] = [...ROW_COLUMNS, DOCUMENT_COLUMN];

function at(doc: JsonValue, path: string): JsonValue | undefined {
  let v: JsonValue | undefined = doc;
  for (const key of path.split('.')) {
    if (v === null || typeof v !== 'object' || Array.isArray(v) || !Object.hasOwn(v, key)) return undefined;
    v = v[key];
  }
  return v;
}

/** A column's value as its type wants it; undefined leaves the column empty. */
function valueOf(c: Column, e: ProcessedEvent): JsonValue | undefined {
  const v = typeof c.from === 'string' ? at(e.doc, c.from) : c.from(e);
  if (c.type !== 'string' || v === undefined || v === null || typeof v === 'string') return v ?? undefined;
  const first = Array.isArray(v) ? v[0] : v;
  if (first === undefined || first === null) return undefined;
  return typeof first === 'string' ? first : JSON.stringify(first);
}

/**
 * The event's row as JSON text. The document's JSON is spliced in as it was made (by the worker
 * thread that processed the record), not parsed and written again.
 */
export function rowJson(e: ProcessedEvent): string {
  const row: Record<string, JsonValue> = {};
  for (const c of ROW_COLUMNS) {
    const v = valueOf(c, e);
    if (v !== undefined) row[c.name] = v;
  }
  return `${JSON.stringify(row).slice(0, -1)},${JSON.stringify(DOCUMENT_COLUMN.name)}:${documentJson(e)}}`;
}
