/**
 * A unit turned into plain rows for the store: everything a transaction needs, computed outside
 * it (and, for ingest, outside the database thread). Plain data, so it crosses to a worker cheaply.
 */
import { createHash } from 'node:crypto';
import type { JsonValue } from '../decode/record.js';
import type { DeadLetter, ProcessedEvent, Unit } from '../core/unit.js';
import { isTrustedTime } from '../core/trusted-time.js';
import { type IndexedFields, bareMessageId, hashDigest, indexedFields, storedId, textKey } from './documents.js';
import type { StoredRecord } from './record-blocks.js';

type Doc = { [k: string]: JsonValue };

export interface PreparedEvent {
  /** event.id (hex; stored as its 16 bytes). */
  readonly id: string;
  /** Its stored form (documents.ts storedId), made once here, off the database thread. */
  readonly idKey: Uint8Array;
  /** event.hash, and its first 64 bits (the collision guard compares those). */
  readonly hash: string;
  readonly digest: bigint;
  readonly ts: number;
  readonly logType: string;
  readonly typeSource: string;
  readonly candidates: readonly string[] | undefined;
  readonly record: StoredRecord;
  readonly fields: IndexedFields;
  readonly acodeKey: bigint | null;
  readonly messageKey: bigint | null;
  readonly subjectKey: bigint | null;
  readonly indicatorKeys: bigint[];
  readonly source: string;
  readonly position: number;
  /** Which email event it is across API 1.0 and 2.0 (store/cross-version.ts). */
  readonly cross?: { readonly api: 'v1' | 'v2'; readonly key: string };
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
  /** The API feed it came from (DeadLetter.feed). */
  readonly feed?: string;
}

export interface PreparedUnit {
  readonly source: string;
  readonly position: number;
  readonly last: boolean;
  readonly events: PreparedEvent[];
  readonly deadLetters: PreparedDeadLetter[];
  readonly drift: [string, number][];
  /** Time of the unit's newest event (ms), for the lag in `stats`; undefined without events. Believable times only (core/trusted-time.ts), like the next. */
  readonly newestEventMs?: number;
  /** Time of the unit's newest event per log type: where a per-type gap would begin. */
  readonly newestByType: [string, number][];
  /** Events whose time is not believed (after now + skew, or before 2000): counted on the checkpoint. */
  readonly untrustedTimes: number;
  /** The unit's events by id, kept even when `events` is not (a unit's name in the engine's books: cluster/books.ts unitCommitId). */
  readonly idSpan: { readonly count: number; readonly first: string | null; readonly last: string | null };
}

/** The ECS document as a search engine stores it: event.original is sent in its own field. */
export function docWithoutOriginal(doc: Doc): Doc {
  const event = doc.event as Doc;
  if (event.original === undefined) return doc;
  const { original: _original, ...rest } = event;
  return { ...doc, event: rest };
}

const keyOf = (kind: Parameters<typeof textKey>[0], text: string | null): bigint | null => (text === null || text === '' ? null : textKey(kind, text));

/** An event's row: the record, its classification and the keys its indexes need. */
export function prepareStoredEvent(e: { id: string; hash: string; timeMs: number; logType: string; typeSource: string; candidates: readonly string[] | undefined; record: StoredRecord; fields: IndexedFields }, source: string, position: number): PreparedEvent {
  const f = e.fields;
  return {
    id: e.id, idKey: storedId(e.id), hash: e.hash, digest: hashDigest(e.hash), ts: e.timeMs,
    logType: e.logType, typeSource: e.typeSource, candidates: e.candidates, record: e.record, fields: f,
    acodeKey: keyOf('acode', f.acode), messageKey: f.messageId === null ? null : keyOf('message-id', bareMessageId(f.messageId)),
    subjectKey: keyOf('subject', f.subject), indicatorKeys: f.indicators.map((i) => textKey('indicator', i)),
    source, position,
  };
}

export function prepareEvent(e: ProcessedEvent, source: string): PreparedEvent {
  const prepared = prepareStoredEvent({
    id: e.id, hash: e.hash, timeMs: e.timeMs, logType: e.classification.logType, typeSource: e.classification.source, candidates: e.classification.candidates,
    record: { raw: e.raw, format: e.format }, fields: indexedFields(e.doc),
  }, source, e.position);
  return e.cross ? { ...prepared, cross: e.cross } : prepared;
}

export function prepareDeadLetter(d: DeadLetter): PreparedDeadLetter {
  const isText = typeof d.raw === 'string';
  const raw = isText ? Buffer.from(d.raw as string) : (d.raw as Buffer);
  return { source: d.source, position: d.position, reason: d.reason, raw, isText, digest: createHash('sha256').update(raw).digest('hex'), truncatedFrom: d.truncatedFrom ?? null, cutShort: d.cutShort === true, feed: d.feed };
}

/**
 * The unit as rows. With `events: false` only its state (dead letters, drift, where it ends) is
 * prepared: a remote sink keeps the events elsewhere and the store only its bookkeeping.
 * `asRead`: the unit as read when `unit` is what is left of it (copies seen through the other API
 * taken out, sinks/delivering-sink.ts): its idSpan names the unit, so a redo finds the same name.
 */
export function prepareUnit(unit: Unit, options: { events: boolean; asRead?: Unit } = { events: true }): PreparedUnit {
  const drift = new Map<string, number>();
  const newestByType = new Map<string, number>();
  const now = Date.now();
  let untrustedTimes = 0;
  for (const e of unit.events) {
    for (const k of e.classification.driftKeys) drift.set(k, (drift.get(k) ?? 0) + 1);
    if (!isTrustedTime(e.timeMs, now)) {
      untrustedTimes++;
      continue;
    }
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
    newestEventMs: newestByType.size > 0 ? Math.max(...newestByType.values()) : undefined,
    newestByType: [...newestByType],
    untrustedTimes,
    idSpan: idSpanOf(options.asRead ?? unit),
  };
}

/** A unit's events by id: its count, first and last (see PreparedUnit.idSpan). */
function idSpanOf(unit: Unit): PreparedUnit['idSpan'] {
  return { count: unit.events.length, first: unit.events[0]?.id ?? null, last: unit.events.at(-1)?.id ?? null };
}
