/**
 * Items cut into requests, in order: at most `maxItems` each and about `maxBytes` (an item larger
 * than that goes alone; the destination decides about it). One rule for every destination that
 * sends in batches (bulk requests, HEC requests, Kafka produce requests).
 */
export function batches<T>(items: readonly T[], maxItems: number, maxBytes: number, bytesOf: (item: T) => number): T[][] {
  const out: T[][] = [];
  let current: T[] = [];
  let bytes = 0;
  for (const item of items) {
    const size = bytesOf(item);
    if (current.length > 0 && (current.length >= maxItems || bytes + size > maxBytes)) {
      out.push(current);
      current = [];
      bytes = 0;
    }
    current.push(item);
    bytes += size;
  }
  if (current.length > 0) out.push(current);
  return out;
}
