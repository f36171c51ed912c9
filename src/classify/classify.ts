/**
 * Decides each record's log type and says how it decided (docs/mimecast.md §1–2):
 * the record's own type field > file or zip-member name > `--type` > its keys.
 */
import type { DecodedRecord } from '../decode/record.js';
import { UNKNOWN_LOG_TYPE } from '../mimecast/log-types.js';
import { type TypeTables, normalizeV2Type } from './type-tables.js';

export type LogTypeSource = 'record' | 'file_name' | 'declared' | 'fields';

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
}

function recordType(record: DecodedRecord): string | undefined {
  if (record.api !== 'v2') return undefined;
  for (const key of V2_TYPE_FIELDS) {
    const v = record.fields.get(key);
    if (typeof v === 'string' && v.trim().length > 0) return v;
  }
  return undefined;
}

export class Classifier {
  constructor(readonly tables: TypeTables) {}

  classify(record: DecodedRecord, signals: TypeSignals): Classification {
    const byKeys = this.fromKeys(record);
    const own = recordType(record);
    if (own !== undefined) {
      return { logType: this.tables.v2Types.get(normalizeV2Type(own)) ?? UNKNOWN_LOG_TYPE, source: 'record', driftKeys: byKeys.driftKeys };
    }
    const named = signals.fileName ? this.tables.typeForFileName(signals.fileName) : undefined;
    if (named) return { logType: named, source: 'file_name', driftKeys: byKeys.driftKeys };
    if (signals.declared) return { logType: signals.declared, source: 'declared', driftKeys: byKeys.driftKeys };
    return byKeys;
  }

  /**
   * Key heuristic. A type "explains" a key it carries. Types are ranked by the keys they cannot
   * explain (fewer first), then keys matched (more first), then how much of the type's key set
   * the record covers, then table order; types tied with the best on the first two are
   * equally good fits and are listed as candidates. A record most of whose keys no table
   * knows is `unknown`, never forced into the nearest type.
   */
  fromKeys(record: DecodedRecord): Classification {
    const { typesByKey, commonKeys, keyCounts, specs } = this.tables;
    const matched = new Array<number>(specs.length).fill(0);
    const driftKeys: string[] = [];
    let known = 0;
    for (const key of record.fields.keys()) {
      if (commonKeys.has(key)) continue;
      const types = typesByKey.get(key);
      if (!types) {
        driftKeys.push(key);
        continue;
      }
      known++;
      for (const t of types) matched[t]!++;
    }
    if (record.api === 'v2') driftKeys.length = 0; // v2 key sets are not tabled; their type comes from the record.
    driftKeys.sort();
    if (known === 0 || driftKeys.length >= known) {
      return { logType: UNKNOWN_LOG_TYPE, source: 'fields', driftKeys };
    }
    const ranked = specs
      .map((_, t) => ({ t, unexplained: known - matched[t]!, matched: matched[t]!, coverage: matched[t]! / (keyCounts[t] || 1) }))
      .sort((a, b) => a.unexplained - b.unexplained || b.matched - a.matched || b.coverage - a.coverage || a.t - b.t);
    const best = ranked[0]!;
    const tied = ranked.filter((r) => r.unexplained === best.unexplained && r.matched === best.matched);
    const logType = specs[best.t]!.name;
    if (tied.length > 1) {
      return { logType, source: 'fields', candidates: tied.map((r) => specs[r.t]!.name), driftKeys };
    }
    return { logType, source: 'fields', driftKeys };
  }
}
