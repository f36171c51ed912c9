/**
 * The log-type tables compiled for lookup, plus loading a user's `--types-file`.
 * All knowledge comes from `mimecast/log-types.ts` or the user's file; nothing here is per type.
 */
import { readFileSync } from 'node:fs';
import { COMMON_V1_KEYS, type LogTypeSpec, normalizeV2Type } from '../mimecast/log-types.js';
import { ALL_SIEM_TYPES } from '../mimecast/products.js';
import { MimelogError } from '../util/errors.js';


export class TypeTables {
  readonly specs: readonly LogTypeSpec[];
  readonly commonKeys: ReadonlySet<string>;
  /** key → indices (into `specs`) of the types that carry it. */
  readonly typesByKey: ReadonlyMap<string, readonly number[]>;
  /** key set size per type, for coverage. */
  readonly keyCounts: readonly number[];
  /** [lower-cased prefix, type name], longest prefix first so `ttp_url_` wins over a shorter one. */
  readonly prefixes: readonly (readonly [string, string])[];
  readonly v2Types: ReadonlyMap<string, string>;

  constructor(specs: readonly LogTypeSpec[], commonKeys: readonly string[] = COMMON_V1_KEYS) {
    this.specs = specs;
    this.commonKeys = new Set(commonKeys);
    const byKey = new Map<string, number[]>();
    specs.forEach((spec, i) => {
      for (const key of new Set(spec.keys)) {
        if (this.commonKeys.has(key)) continue;
        const list = byKey.get(key) ?? [];
        list.push(i);
        byKey.set(key, list);
      }
    });
    this.typesByKey = byKey;
    this.keyCounts = specs.map((s) => new Set(s.keys.filter((k) => !this.commonKeys.has(k))).size);
    this.prefixes = specs
      .flatMap((s) => s.filePrefixes.map((p) => [p.toLowerCase(), s.name] as const))
      .sort((a, b) => b[0].length - a[0].length || (a[0] < b[0] ? -1 : 1));
    this.v2Types = new Map(specs.flatMap((s) => s.v2Types.map((t) => [normalizeV2Type(t), s.name] as const)));
  }

  /** Keys that only one type carries (derived, for explanations and docs). */
  uniqueKeys(typeName: string): string[] {
    const index = this.specs.findIndex((s) => s.name === typeName);
    return [...this.typesByKey].filter(([, types]) => types.length === 1 && types[0] === index).map(([k]) => k).sort();
  }

  typeForFileName(fileName: string): string | undefined {
    const lower = fileName.toLowerCase();
    return this.prefixes.find(([prefix]) => lower.startsWith(prefix))?.[1];
  }

  isKnownType(name: string): boolean {
    return this.specs.some((s) => s.name === name);
  }
}

export const DEFAULT_TABLES = new TypeTables(ALL_SIEM_TYPES);

interface TypesFile {
  mode?: 'extend' | 'replace';
  types: LogTypeSpec[];
}

function stringList(value: unknown, where: string): string[] {
  if (value === undefined) return [];
  if (!Array.isArray(value) || value.some((v) => typeof v !== 'string')) {
    throw new MimelogError('usage', `${where} must be a list of strings`);
  }
  return value as string[];
}

/**
 * Reads a types file: `{"mode":"extend"|"replace","types":[{name,filePrefixes,v2Types,keys}]}`.
 * With `extend` (the default), a type with a known name replaces that entry and new names are added.
 */
export function loadTypesFile(path: string, base: readonly LogTypeSpec[] = ALL_SIEM_TYPES): TypeTables {
  let parsed: unknown;
  try {
    parsed = JSON.parse(readFileSync(path, 'utf8'));
  } catch (err) {
    throw new MimelogError('usage', `types file ${path}: ${(err as Error).message}`);
  }
  const file = parsed as Partial<TypesFile>;
  if (!file || !Array.isArray(file.types)) throw new MimelogError('usage', `types file ${path}: expected {"types":[...]}`);
  if (file.mode !== undefined && file.mode !== 'extend' && file.mode !== 'replace') {
    throw new MimelogError('usage', `types file ${path}: mode must be "extend" or "replace"`);
  }
  const specs: LogTypeSpec[] = file.types.map((t, i) => {
    const where = `types file ${path}: types[${i}]`;
    if (!t || typeof t.name !== 'string' || t.name.length === 0) throw new MimelogError('usage', `${where}.name must be a non-empty string`);
    return {
      name: t.name,
      filePrefixes: stringList(t.filePrefixes, `${where}.filePrefixes`),
      v2Types: stringList(t.v2Types, `${where}.v2Types`),
      keys: stringList(t.keys, `${where}.keys`),
    };
  });
  if (file.mode === 'replace') return new TypeTables(specs);
  const merged = base.map((spec) => specs.find((s) => s.name === spec.name) ?? spec);
  for (const s of specs) if (!base.some((b) => b.name === s.name)) merged.push(s);
  return new TypeTables(merged);
}
