/**
 * The shared contract of the journey: what the middle (transform) hands to sinks and what sinks
 * acknowledge. Plain types; every stage may import them, they import only what they describe.
 */
import type { Classification } from '../classify/classify.js';
import type { RecordFormat } from '../decode/record.js';
import type { EcsDocument } from '../normalize/ecs.js';

export interface ProcessedEvent {
  readonly id: string;
  readonly hash: string;
  readonly timeMs: number;
  readonly classification: Classification;
  readonly doc: EcsDocument;
  /** `doc` as JSON text, when it was made where the record was processed (a worker thread): sinks that send text use it as is. */
  readonly docJson?: string;
  readonly raw: string;
  /** How `raw` is written (the store keeps only `raw` and rebuilds the document from it). */
  readonly format: RecordFormat;
  readonly position: number;
  /** Which email event it is across API 1.0 and 2.0 (fingerprint/cross-version.ts); undefined for types without one. */
  readonly cross?: { readonly api: 'v1' | 'v2'; readonly key: string };
}

export interface DeadLetter {
  readonly source: string;
  /** Line or record number; 0 for the whole input. */
  readonly position: number;
  readonly reason: string;
  readonly raw: string | Buffer;
  /** Set when `raw` is only the head of the record's bytes (it was over the bound): their full length. Not replayable. */
  readonly truncatedFrom?: number;
  /** Set when `raw` may be cut short (the line in hand when its input broke). Not replayable. */
  readonly cutShort?: boolean;
  /** The API feed its unit came from (Publication.feed): replay classifies its bytes as that feed's. */
  readonly feed?: string;
}

/** One unit of work: events and dead letters of a stretch of one input, plus where it ends. */
export interface Unit {
  readonly source: string;
  readonly events: ProcessedEvent[];
  readonly deadLetters: DeadLetter[];
  /** Position of the last item in the unit; the input's checkpoint once the unit is stored. */
  readonly position: number;
  readonly last: boolean;
}

/** An event's document as JSON text. */
export function documentJson(e: ProcessedEvent): string {
  return e.docJson ?? JSON.stringify(e.doc);
}
