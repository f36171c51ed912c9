/**
 * Parse → classify → fingerprint → normalize for one batch of one input. Pure: no I/O. Lines come
 * framed from where the input was read and are parsed here (decode/input.ts `decodeItem`), so
 * this whole stage can run on worker threads.
 */
import { Classifier } from '../classify/classify.js';
import { DEFAULT_TABLES, type TypeTables, loadTypesFile } from '../classify/type-tables.js';
import type { DeadLetter, ProcessedEvent, Unit } from '../core/unit.js';
import { type DecodedBatch, decodeItem } from '../decode/item.js';
import type { DecodedRecord } from '../decode/record.js';
import { crossIdentity } from '../fingerprint/cross-version.js';
import { type Fingerprint, fingerprint, keyShape } from '../fingerprint/fingerprint.js';
import { UNKNOWN_LOG_TYPE } from '../mimecast/log-types.js';
import { EcsNormalizer } from '../normalize/ecs.js';
import { NdjsonBytes, TextDocumentEvent } from './processed-event.js';

/** How an unknown-type dead letter's reason begins (replay can store it once a types file knows the type). */
export const UNKNOWN_TYPE_REASON = 'unknown log type';

/** What happens to a record whose log type is `unknown`: stored as such, or kept aside for replay. */
export type UnknownTypePolicy = 'store' | 'dead-letter';

/**
 * Everything a transformer is made from, as plain data: a worker thread builds the same
 * transformer from it (pipeline/transform-pool.ts).
 */
export interface TransformSpec {
  /** A JSON file extending or replacing the log-type tables; default: the built-in tables. */
  readonly typesFile?: string;
  /** Keep the record's own text as event.original. */
  readonly keepOriginal: boolean;
  /** `--type`: the log type of inputs that cannot carry one. */
  readonly declaredType?: string;
  readonly unknownTypes: UnknownTypePolicy;
}

/** The most a unit's document buffer starts with (a json document can be one batch of many records, some of them dead letters): beyond it, it grows as documents come. */
const MAX_INITIAL_DOC_BYTES = 8 * 1024 * 1024;

export class Transformer {
  /** The same pipeline per API feed (see forFeed). */
  private readonly feeds = new Map<string, Transformer>();
  /** Bytes of document text per record in the last unit: the next unit's buffer starts that large (it grows by copying). */
  private docBytesPerRecord = 2048;

  constructor(
    private readonly classifier: Classifier,
    private readonly normalizer: EcsNormalizer,
    private readonly declaredType?: string,
    private readonly unknownTypes: UnknownTypePolicy = 'store',
    private readonly feed?: string,
    /** What it was built from, when it was built from plain data (only such a transformer runs on worker threads). */
    readonly spec?: TransformSpec,
  ) {}

  /**
   * Builds a transformer from plain data; the same spec always builds the same transformer.
   * `tables`: the spec's type tables when the caller has loaded them already.
   */
  static fromSpec(spec: TransformSpec, tables: TypeTables = spec.typesFile ? loadTypesFile(spec.typesFile) : DEFAULT_TABLES): Transformer {
    return new Transformer(new Classifier(tables), new EcsNormalizer({ keepOriginal: spec.keepOriginal }), spec.declaredType, spec.unknownTypes, undefined, spec);
  }

  /** The same pipeline for records of one API feed, whose log type the feed says (itself without a feed). */
  forFeed(feed: string | undefined): Transformer {
    if (feed === undefined) return this;
    let t = this.feeds.get(feed);
    if (!t) this.feeds.set(feed, (t = new Transformer(this.classifier, this.normalizer, this.declaredType, this.unknownTypes, feed, this.spec)));
    return t;
  }

  /** `docs`: where the document's text goes when the event does not keep its object. */
  private processRecord(record: DecodedRecord, fileName: string, position: number, docs: NdjsonBytes | undefined, withCross: boolean): ProcessedEvent | { reason: string } {
    const shape = keyShape(record);
    const classification = this.classifier.classify(record, { fileName, declared: this.declaredType, feed: this.feed }, shape);
    if (classification.logType === UNKNOWN_LOG_TYPE && this.unknownTypes === 'dead-letter') {
      return { reason: `${UNKNOWN_TYPE_REASON} (keys: ${[...record.fields.keys()].sort().join(',')})` };
    }
    const fp: Fingerprint = fingerprint(record, shape);
    const doc = this.normalizer.normalize(record, classification, fp, shape);
    const cross = withCross ? crossIdentity(record, classification.logType) : undefined;
    // A plain object when it keeps its document, as before: a spread copy (replay, tests) keeps
    // `doc`, and its text is made only if a sink asks (documentJson; the store never does).
    if (!docs) return { id: fp.id, hash: fp.hash, timeMs: record.timeMs, classification, doc, raw: record.raw, format: record.format, position, cross };
    const start = docs.bytes().length;
    const end = docs.add(JSON.stringify(doc));
    return new TextDocumentEvent(fp.id, fp.hash, record.timeMs, classification, record.raw, record.format, position, cross, docs, start, end);
  }

  /**
   * `keepDocuments`: events keep their document object (the text is made from it if a sink asks).
   * Off for a sink that only writes text (NDJSON; and on a worker thread, where only the text
   * crosses): the documents' text is then made at once into one buffer of NDJSON bytes for the
   * unit, which its events point into (TextDocumentEvent), so a unit in flight holds neither a
   * tree of small objects nor a string per event for each young collection to copy.
   * `withCross`: events carry their cross-version identity. Only the embedded store reads it (it
   * pairs API 1.0 and 2.0 copies); for a sink that writes only text it is not made (a second
   * SHA-256 and a field walk per record that nothing would read).
   * Each dead letter carries this transformer's feed: replay reads its bytes as that feed's again.
   */
  process(batch: DecodedBatch, keepDocuments = true, withCross = true): Unit {
    const events: ProcessedEvent[] = [];
    const deadLetters: DeadLetter[] = [];
    let position = 0;
    const docs = keepDocuments ? undefined : new NdjsonBytes(Math.min(batch.items.length * this.docBytesPerRecord, MAX_INITIAL_DOC_BYTES));
    for (const item of batch.items) {
      position = Math.max(position, item.position);
      const result = decodeItem(item);
      if (!result.ok) {
        deadLetters.push({ source: batch.source, position: item.position, reason: result.reason, raw: item.raw, truncatedFrom: item.truncatedFrom, cutShort: item.cutShort, feed: this.feed });
        continue;
      }
      // The one guard of the per-record path: whatever one record does to classify, fingerprint
      // or normalize, it becomes that record's dead letter and the rest of the unit goes on.
      try {
        const outcome = this.processRecord(result.record, batch.fileName, item.position, docs, withCross);
        if ('reason' in outcome) deadLetters.push({ source: batch.source, position: item.position, reason: outcome.reason, raw: item.raw, feed: this.feed });
        else events.push(outcome);
      } catch (err) {
        const reason = `cannot process record: ${err instanceof Error ? `${err.name}: ${err.message}` : String(err)}`;
        deadLetters.push({ source: batch.source, position: item.position, reason, raw: item.raw, feed: this.feed });
      }
    }
    if (docs && events.length > 0) this.docBytesPerRecord = Math.ceil((docs.bytes().length / events.length) * 1.1);
    return { source: batch.source, events, deadLetters, position, last: batch.last };
  }
}
