/**
 * Decides each record's log type and says how it decided (docs/mimecast.md §1–2):
 * the feed it came from > the record's own type field > file or zip-member name > `--type` > its keys.
 */
import type { DecodedRecord } from '../decode/record.js';
import { UNKNOWN_LOG_TYPE } from '../mimecast/log-types.js';
import { normalizeV2Type } from '../mimecast/log-types.js';
import type { TypeTables } from './type-tables.js';

export type LogTypeSource = 'feed' | 'record' | 'file_name' | 'declared' | 'fields';

export interface Classification {
  readonly logType: string;
  readonly source: LogTypeSource;
  /** Present only when the keys fit several types equally; the first is `logType`. */
  readonly candidates?: readonly string[];
  /** Keys of a v1 record that no table knows (schema drift). */
  readonly driftKeys: readonly string[];
}

/** Field names API 2.0 uses for the record's own type (batch, then stream). */
export const V2_TYPE_FIELDS = ['type', 'eventType'] as const;

export interface TypeSignals {
  /** File or zip-member base name. */
  readonly fileName?: string;
  /** `--type`. */
  readonly declared?: string;
  /** The API feed the record came from, when the feed is one log type (mimecast/feeds.ts). */
  readonly feed?: string;
}

function recordType(record: DecodedRecord): string | undefined {
  if (record.api !== 'v2') return undefined;
  for (const key of V2_TYPE_FIELDS) {
    const v = record.fields.get(key);
    if (typeof v === 'string' && v.trim().length > 0) return v;
  }
  return undefined;
}

/** A record's key shape, as far as the classifier uses it: a place to keep what it worked out per owner. */
export interface KeyShapeMemo {
  readonly memo: WeakMap<object, unknown>;
}

/** What depends only on a record's keys. */
interface ShapeKnowledge {
  driftKeys?: string[];
  fromKeys?: Classification;
}

export class Classifier {
  /** Keys each type explains, for the record being classified (reused: one record at a time). */
  private matched: number[] | undefined;

  constructor(readonly tables: TypeTables) {}

  /**
   * `shape`: the record's key shape (fingerprint/fingerprint.ts keyShape), when the caller has it:
   * what depends only on the keys (drift keys, the type the keys suggest) is then worked out once
   * per shape and kept on it. The classifications of one shape are one shared, read-only object.
   */
  classify(record: DecodedRecord, signals: TypeSignals, shape?: KeyShapeMemo): Classification {
    if (signals.feed) return { logType: signals.feed, source: 'feed', driftKeys: [] }; // the source says what it is
    const own = recordType(record);
    if (own !== undefined) {
      return { logType: this.tables.v2Types.get(normalizeV2Type(own)) ?? UNKNOWN_LOG_TYPE, source: 'record', driftKeys: [] };
    }
    const named = signals.fileName ? this.tables.typeForFileName(signals.fileName) : undefined;
    const known = shape ? this.known(shape, record.api) : undefined;
    const drift = () => (known ? (known.driftKeys ??= this.driftKeys(record)) : this.driftKeys(record));
    if (named) return { logType: named, source: 'file_name', driftKeys: drift() };
    if (signals.declared) return { logType: signals.declared, source: 'declared', driftKeys: drift() };
    return known ? (known.fromKeys ??= this.fromKeys(record)) : this.fromKeys(record);
  }

  /** What this classifier keeps on a key shape, per API (an API 2.0 record has no drift keys: the same keys are two answers). */
  private known(shape: KeyShapeMemo, api: DecodedRecord['api']): ShapeKnowledge {
    let byApi = shape.memo.get(this) as Partial<Record<DecodedRecord['api'], ShapeKnowledge>> | undefined;
    if (byApi === undefined) shape.memo.set(this, (byApi = {}));
    return (byApi[api] ??= {});
  }

  /** Keys of a v1 record that no table knows (v2 key sets are not tabled: their type comes from the record). */
  driftKeys(record: DecodedRecord): string[] {
    if (record.api === 'v2') return [];
    const drift: string[] = [];
    for (const key of record.fields.keys()) {
      if (!this.tables.commonKeys.has(key) && !this.tables.typesByKey.has(key)) drift.push(key);
    }
    return drift.sort();
  }

  /**
   * Key heuristic. A type "explains" a key it carries. Types are ranked by the record's keys
   * they explain (more first: fewer left unexplained), then by how much of the type's own key
   * set the record covers, then table order; types that explain as many keys as the best are
   * equally good fits and are listed as candidates. A record most of whose keys no table
   * knows is `unknown`, never forced into the nearest type.
   */
  fromKeys(record: DecodedRecord): Classification {
    const { typesByKey, commonKeys, keyCounts, specs } = this.tables;
    const matched = (this.matched ??= new Array<number>(specs.length)).fill(0);
    let known = 0;
    let unknown = 0;
    for (const key of record.fields.keys()) {
      if (commonKeys.has(key)) continue;
      const types = typesByKey.get(key);
      if (!types) {
        unknown++;
        continue;
      }
      known++;
      for (const t of types) matched[t]!++;
    }
    const driftKeys = this.driftKeys(record);
    if (known === 0 || unknown >= known) {
      return { logType: UNKNOWN_LOG_TYPE, source: 'fields', driftKeys };
    }
    // Rank without allocating: (unexplained asc, matched desc, coverage desc, table order asc).
    let best = -1;
    const better = (a: number, b: number): boolean => {
      if (matched[a]! !== matched[b]!) return matched[a]! > matched[b]!; // fewer unexplained = more matched
      return matched[a]! / (keyCounts[a] || 1) > matched[b]! / (keyCounts[b] || 1);
    };
    for (let t = 0; t < specs.length; t++) if (best === -1 || better(t, best)) best = t;
    const logType = specs[best]!.name;
    const tied: number[] = [];
    for (let t = 0; t < specs.length; t++) if (matched[t] === matched[best]) tied.push(t);
    if (tied.length > 1) {
      tied.sort((a, b) => (better(a, b) ? -1 : better(b, a) ? 1 : a - b));
      return { logType, source: 'fields', candidates: tied.map((t) => specs[t]!.name), driftKeys };
    }
    return { logType, source: 'fields', driftKeys };
  }
}
