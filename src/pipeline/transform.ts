/**
 * decode → classify → fingerprint → normalize for one batch of one input. Pure: no I/O.
 */
import type { Classification, Classifier } from '../classify/classify.js';
import type { DecodedBatch } from '../decode/input.js';
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

  process(batch: DecodedBatch): Unit {
    const events: ProcessedEvent[] = [];
    const deadLetters: DeadLetter[] = [];
    let position = 0;
    for (const item of batch.items) {
      position = Math.max(position, item.position);
      if (!item.result.ok) {
        deadLetters.push({ source: batch.source, position: item.position, reason: item.result.reason, raw: item.raw });
        continue;
      }
      const record = item.result.record;
      const classification = this.classifier.classify(record, { fileName: batch.fileName, declared: this.declaredType });
      if (classification.logType === UNKNOWN_LOG_TYPE && this.unknownTypes === 'dead-letter') {
        const keys = [...record.fields.keys()].sort().join(',');
        deadLetters.push({ source: batch.source, position: item.position, reason: `unknown log type (keys: ${keys})`, raw: item.raw });
        continue;
      }
      const fp: Fingerprint = fingerprint(record);
      const doc = this.normalizer.normalize(record, classification, fp);
      events.push({ id: fp.id, hash: fp.hash, timeMs: record.timeMs, classification, doc, raw: record.raw, position: item.position });
    }
    return { source: batch.source, events, deadLetters, position, last: batch.last };
  }
}
