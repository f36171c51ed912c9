/**
 * Event times. API 1.0 writes `2017-05-26T16:47:41+0100` (offset without colon); API 2.0 writes
 * epoch milliseconds, usually as a string.
 */
const ISO_TIME =
  /^(\d{4})-(\d{2})-(\d{2})[T ](\d{2}):(\d{2}):(\d{2})(?:[.,](\d{1,9}))?\s*(Z|z|[+-]\d{2}(?::?\d{2})?)?$/;

/** Parses an ISO 8601 date-time with an optional offset (none means UTC); NaN when invalid. */
export function parseIsoTime(text: string): number {
  const m = ISO_TIME.exec(text.trim());
  if (!m) return NaN;
  const [, y, mo, d, h, mi, s, frac, offset] = m;
  const year = Number(y), month = Number(mo), day = Number(d);
  const hour = Number(h), minute = Number(mi), second = Number(s);
  if (month < 1 || month > 12 || day < 1 || day > 31 || hour > 23 || minute > 59 || second > 60) return NaN;
  const ms = frac ? Math.floor(Number(`0.${frac}`) * 1000) : 0;
  let t = Date.UTC(year, month - 1, day, hour, minute, second, ms);
  if (new Date(Date.UTC(year, month - 1, day)).getUTCDate() !== day) return NaN;
  if (offset && offset !== 'Z' && offset !== 'z') {
    const sign = offset[0] === '-' ? -1 : 1;
    const digits = offset.slice(1).replace(':', '');
    const offH = Number(digits.slice(0, 2));
    const offM = digits.length > 2 ? Number(digits.slice(2, 4)) : 0;
    if (offH > 18 || offM > 59) return NaN;
    t -= sign * (offH * 60 + offM) * 60_000;
  }
  return t;
}

/** Parses epoch milliseconds given as a number or a string of digits; NaN when invalid. */
export function parseEpochMs(value: string): number {
  if (!/^-?\d{1,16}(\.\d+)?$/.test(value.trim())) return NaN;
  return Math.floor(Number(value));
}

export function isoUtc(ms: number): string {
  return new Date(ms).toISOString();
}
