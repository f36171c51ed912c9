/**
 * A processed event that holds its document as JSON text, made once where the record was
 * processed: most sinks write that text as it is (NDJSON, search, Kafka, HEC), and a unit in
 * flight then holds one string per event instead of a tree of small objects that every young
 * collection would copy. The document object is parsed back only when a sink asks for it. (An
 * event for a sink that reads objects, such as the embedded store, is a plain object with both:
 * pipeline/transform.ts. A spread copy of this one has no `doc`: name it, `{...e, doc: e.doc}`.)
 */
import type { ProcessedEvent } from '../core/unit.js';
import type { EcsDocument } from '../normalize/ecs.js';

/** The fields an event carries besides its document. */
export type EventFields = Omit<ProcessedEvent, 'doc' | 'docJson'>;

export class TextDocumentEvent implements ProcessedEvent {
  // Own fields in the order the events have always listed them (what a digest of an event's
  // fields, as the golden test takes, sees); the parsed document is private (not an own field).
  readonly id: string;
  readonly hash: string;
  readonly timeMs: number;
  readonly classification: EventFields['classification'];
  readonly raw: string;
  readonly format: EventFields['format'];
  readonly position: number;
  readonly cross: EventFields['cross'];
  readonly docJson: string;
  #parsed: EcsDocument | undefined;

  constructor(
    id: string, hash: string, timeMs: number, classification: EventFields['classification'], raw: string, format: EventFields['format'], position: number, cross: EventFields['cross'],
    docJson: string,
  ) {
    this.id = id;
    this.hash = hash;
    this.timeMs = timeMs;
    this.classification = classification;
    this.raw = raw;
    this.format = format;
    this.position = position;
    this.cross = cross;
    this.docJson = docJson;
  }

  get doc(): EcsDocument {
    return (this.#parsed ??= JSON.parse(this.docJson) as EcsDocument);
  }
}
