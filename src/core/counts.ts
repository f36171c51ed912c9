/** What a sink did with a unit's records: every record ends as exactly one of these. */
export interface SinkCounts {
  stored: number;
  duplicates: number;
  collisions: number;
  deadLetters: number;
}

export function noCounts(): SinkCounts {
  return { stored: 0, duplicates: 0, collisions: 0, deadLetters: 0 };
}

/** Adds `c` into `total` (and returns it). */
export function addCounts(total: SinkCounts, c: SinkCounts): SinkCounts {
  total.stored += c.stored;
  total.duplicates += c.duplicates;
  total.collisions += c.collisions;
  total.deadLetters += c.deadLetters;
  return total;
}
