/**
 * Mimecast's two email products as the SIEM API 2.0 serves them (docs/mimecast.md §5, §6):
 * Cloud Gateway (`cg`, mail routed through Mimecast: the SIEM log types of log-types.ts) and
 * Cloud Integrated (`ci`, Mimecast's API-based product over Microsoft 365). Both publish batch
 * files in the same shape, under their own path and with their own types; a collector and the
 * simulator read only this table.
 */
import { LOG_TYPES, type LogTypeSpec, normalizeV2Type } from './log-types.js';

export type ProductName = 'cg' | 'ci';

export interface SiemProduct {
  readonly name: ProductName;
  readonly title: string;
  /** The batch listing (pre-signed gzip NDJSON files, one type per call). */
  readonly batchPath: string;
  /** The log types it publishes; `v2Types[0]` is the listing's `type`. */
  readonly types: readonly LogTypeSpec[];
}

/**
 * Cloud Integrated's types. Their records say their type (`type`: `entities`, `mailflow`,
 * `urlclick`) and carry no API 1.0 keys, so they are found by that field, never by keys.
 */
export const CLOUD_INTEGRATED_TYPES: readonly LogTypeSpec[] = [
  { name: 'ci-entities', filePrefixes: [], v2Types: ['entities'], keys: [] },
  { name: 'ci-mailflow', filePrefixes: [], v2Types: ['mailflow'], keys: [] },
  { name: 'ci-urlclick', filePrefixes: [], v2Types: ['urlclick'], keys: [] },
];

export const SIEM_PRODUCTS: Readonly<Record<ProductName, SiemProduct>> = {
  cg: { name: 'cg', title: 'Cloud Gateway', batchPath: '/siem/v1/batch/events/cg', types: LOG_TYPES },
  ci: { name: 'ci', title: 'Cloud Integrated', batchPath: '/siem/v1/batch/events/ci', types: CLOUD_INTEGRATED_TYPES },
};

/** Every log type a SIEM record can carry, of both products: the classifier's default tables. */
export const ALL_SIEM_TYPES: readonly LogTypeSpec[] = [...LOG_TYPES, ...CLOUD_INTEGRATED_TYPES];

/** The listing `type` values of a product (the default `--types`). */
export function listingTypes(product: ProductName): string[] {
  return SIEM_PRODUCTS[product].types.map((t) => t.v2Types[0]!);
}

/** `event.dataset` of the Cloud Integrated types (Elastic's data stream of the same name). */
export const CLOUD_INTEGRATED_DATASET = 'mimecast.cloud_integrated_logs';

/** Our log type for an API 2.0 `type` value of either product; undefined when none. */
export function logTypeForV2(value: string): string | undefined {
  const wanted = normalizeV2Type(value);
  return ALL_SIEM_TYPES.find((t) => t.v2Types.some((v) => normalizeV2Type(v) === wanted))?.name;
}
