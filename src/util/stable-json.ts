/** JSON with object keys sorted at every depth: one text for one value, whatever the key order. */
/** A parsed JSON value (the same shape as decode/record.ts JsonValue, declared here so util imports nothing above it). */
type JsonValue = string | number | boolean | null | JsonValue[] | { [key: string]: JsonValue };

export function stableJson(value: JsonValue): string {
  if (value === null || typeof value !== 'object') return JSON.stringify(value);
  if (Array.isArray(value)) return `[${value.map(stableJson).join(',')}]`;
  const keys = Object.keys(value).sort();
  return `{${keys.map((k) => `${JSON.stringify(k)}:${stableJson(value[k]!)}`).join(',')}}`;
}
