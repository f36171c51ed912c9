/** JSON with object keys sorted at every depth: one text for one value, whatever the key order. */
import type { JsonValue } from '../decode/record.js';

export function stableJson(value: JsonValue): string {
  if (value === null || typeof value !== 'object') return JSON.stringify(value);
  if (Array.isArray(value)) return `[${value.map(stableJson).join(',')}]`;
  const keys = Object.keys(value).sort();
  return `{${keys.map((k) => `${JSON.stringify(k)}:${stableJson(value[k]!)}`).join(',')}}`;
}
