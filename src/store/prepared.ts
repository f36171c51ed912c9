/**
 * A unit turned into plain rows for the store: everything a transaction needs, computed outside
 * it (and, for ingest, outside the database thread). Plain data, so it crosses to a worker cheaply.
 */
import { createHash } from 'node:crypto';
import type { JsonValue } from '../decode/record.js';
import { encodeText, hasEscapedBytes } from '../decode/text.js';
import type { DeadLetter, ProcessedEvent, Unit } from '../core/unit.js';

type Doc = { [k: string]: JsonValue };

/** Column values of `events`, in the insert statement's order. */
export type EventParams = [
  id: string, hash: string, ts: number, logType: string, logTypeSource: string, acode: string | null, messageId: string | null,
  sender: string | null, recipients: string | null, subject: string | null, direction: string | null, action: string | null,
  doc: string, original: string | Buffer, source: string, position: number,
];

export interface PreparedEvent {
  readonly params: EventParams;
  /** [address, role] pairs for event_addresses. */
  readonly addresses: [string, 'from' | 'to'][];
}

export interface PreparedDeadLetter {
  readonly source: string;
  readonly position: number;
  readonly reason: string;
  readonly raw: Uint8Array;
  readonly isText: boolean;
  readonly digest: string;
  readonly truncatedFrom: number | null;
  readonly cutShort: boolean;
}

export interface PreparedUnit {
  readonly source: string;
  readonly position: number;
  readonly last: boolean;
  readonly events: PreparedEvent[];
  readonly deadLetters: PreparedDeadLetter[];
  readonly drift: [string, number][];
  /** Time of the unit's newest event (ms), for the lag in `stats`; undefined without events. */
  readonly newestEventMs?: number;
  /** Time of the unit's newest event per log type: where a per-type gap would begin. */
  readonly newestByType: [string, number][];
}

function str(v: JsonValue | undefined): string | null {
  return typeof v === 'string' ? v : null;
}

function list(v: JsonValue | undefined): string[] {
  return Array.isArray(v) ? v.filter((x): x is string => typeof x === 'string') : [];
}

/** The ECS document as stored: event.original is kept in its own column. */
export function docWithoutOriginal(doc: Doc): Doc {
  const event = doc.event as Doc;
  if (event.original === undefined) return doc;
  const { original: _original, ...rest } = event;
  return { ...doc, event: rest };
}

/** The raw record as stored: text, or its exact bytes when it held invalid UTF-8 (a TEXT column would replace them). */
function storedOriginal(raw: string): string | Buffer {
  return hasEscapedBytes(raw) ? encodeText(raw) : raw;
}

export function prepareEvent(e: ProcessedEvent, source: string): PreparedEvent {
  const doc = e.doc;
  const email = (doc.email ?? {}) as Doc;
  const from = list((email.from as Doc | undefined)?.address);
  const to = list((email.to as Doc | undefined)?.address);
  const params: EventParams = [
    e.id, e.hash, e.timeMs, e.classification.logType, e.classification.source, str(email.local_id), str(email.message_id),
    from[from.length - 1] ?? null, to.length > 0 ? to.join(',') : null, str(email.subject), str(email.direction),
    str((doc.event as Doc).action), JSON.stringify(docWithoutOriginal(doc)), storedOriginal(e.raw), source, e.position,
  ];
  return { params, addresses: [...from.map((a) => [a, 'from'] as [string, 'from']), ...to.map((a) => [a, 'to'] as [string, 'to'])] };
}

export function prepareDeadLetter(d: DeadLetter): PreparedDeadLetter {
  const isText = typeof d.raw === 'string';
  const raw = isText ? Buffer.from(d.raw as string) : (d.raw as Buffer);
  return { source: d.source, position: d.position, reason: d.reason, raw, isText, digest: createHash('sha256').update(raw).digest('hex'), truncatedFrom: d.truncatedFrom ?? null, cutShort: d.cutShort === true };
}

/**
 * The unit as rows. With `events: false` only its state (dead letters, drift, where it ends) is
 * prepared: a remote sink keeps the events elsewhere and the store only its bookkeeping.
 */
export function prepareUnit(unit: Unit, options: { events: boolean } = { events: true }): PreparedUnit {
  const drift = new Map<string, number>();
  const newestByType = new Map<string, number>();
  for (const e of unit.events) {
    for (const k of e.classification.driftKeys) drift.set(k, (drift.get(k) ?? 0) + 1);
    const type = e.classification.logType;
    newestByType.set(type, Math.max(newestByType.get(type) ?? -Infinity, e.timeMs));
  }
  return {
    source: unit.source,
    position: unit.position,
    last: unit.last,
    events: options.events ? unit.events.map((e) => prepareEvent(e, unit.source)) : [],
    deadLetters: unit.deadLetters.map(prepareDeadLetter),
    drift: [...drift],
    newestEventMs: unit.events.length > 0 ? unit.events.reduce((m, e) => Math.max(m, e.timeMs), -Infinity) : undefined,
    newestByType: [...newestByType],
  };
}
