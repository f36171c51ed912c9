/**
 * decode → classify → fingerprint → normalize for one batch of one input. Pure: no I/O.
 */
import type { Classification, Classifier } from '../classify/classify.js';
import type { DecodedBatch } from '../decode/input.js';
import type { DecodedRecord } from '../decode/record.js';
import { type Fingerprint, fingerprint } from '../fingerprint/fingerprint.js';
import { UNKNOWN_LOG_TYPE } from '../mimecast/log-types.js';
import type { EcsDocument, EcsNormalizer } from '../normalize/ecs.js';

export interface ProcessedEvent {
  readonly id: string;
  readonly hash: string;
  readonly timeMs: number;
  readonly classification: Classification;
  readonly doc: EcsDocument;
  readonly raw: string;
  readonly position: number;
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

/** What happens to a record whose log type is `unknown`: stored as such, or kept aside for replay. */
export type UnknownTypePolicy = 'store' | 'dead-letter';

export class Transformer {
  constructor(
    private readonly classifier: Classifier,
    private readonly normalizer: EcsNormalizer,
    private readonly declaredType?: string,
    private readonly unknownTypes: UnknownTypePolicy = 'store',
  ) {}

  private processRecord(record: DecodedRecord, fileName: string, position: number): ProcessedEvent | { reason: string } {
    const classification = this.classifier.classify(record, { fileName, declared: this.declaredType });
    if (classification.logType === UNKNOWN_LOG_TYPE && this.unknownTypes === 'dead-letter') {
      return { reason: `unknown log type (keys: ${[...record.fields.keys()].sort().join(',')})` };
    }
    const fp: Fingerprint = fingerprint(record);
    const doc = this.normalizer.normalize(record, classification, fp);
    return { id: fp.id, hash: fp.hash, timeMs: record.timeMs, classification, doc, raw: record.raw, position };
  }

  process(batch: DecodedBatch): Unit {
    const events: ProcessedEvent[] = [];
    const deadLetters: DeadLetter[] = [];
    let position = 0;
    for (const item of batch.items) {
      position = Math.max(position, item.position);
      if (!item.result.ok) {
        deadLetters.push({ source: batch.source, position: item.position, reason: item.result.reason, raw: item.raw, truncatedFrom: item.truncatedFrom, cutShort: item.cutShort });
        continue;
      }
      // The one guard of the per-record path: whatever one record does to classify, fingerprint
      // or normalize, it becomes that record's dead letter and the rest of the unit goes on.
      try {
        const outcome = this.processRecord(item.result.record, batch.fileName, item.position);
        if ('reason' in outcome) deadLetters.push({ source: batch.source, position: item.position, reason: outcome.reason, raw: item.raw });
        else events.push(outcome);
      } catch (err) {
        const reason = `cannot process record: ${err instanceof Error ? `${err.name}: ${err.message}` : String(err)}`;
        deadLetters.push({ source: batch.source, position: item.position, reason, raw: item.raw });
      }
    }
    return { source: batch.source, events, deadLetters, position, last: batch.last };
  }
}
