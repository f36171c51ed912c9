/**
 * Event times. API 1.0 writes `2017-05-26T16:47:41+0100` (offset without colon); API 2.0 writes
 * epoch milliseconds, usually as a string.
 */
const ISO_TIME =
  /^(\d{4})-(\d{2})-(\d{2})[T ](\d{2}):(\d{2}):(\d{2})(?:[.,](\d{1,9}))?\s*(Z|z|[+-]\d{2}(?::?\d{2})?)?$/;

/** Date.UTC, but years 0–99 are those years, not 1900–1999. */
function utc(year: number, month: number, day: number, hour = 0, minute = 0, second = 0, ms = 0): number {
  const d = new Date(Date.UTC(2000, month, day, hour, minute, second, ms));
  d.setUTCFullYear(year, month, day);
  return d.getTime();
}

/** The largest instant a JavaScript Date holds (±100,000,000 days from 1970). */
const MAX_TIME_MS = 8.64e15;

/** True for a time that a Date (and so an ISO string, an index name) can hold. */
export function isRepresentableTime(ms: number): boolean {
  return Number.isFinite(ms) && Math.abs(ms) <= MAX_TIME_MS;
}

let lastParsedText: string | undefined;
let lastParsedMs = NaN;
/**
 * Parses an ISO 8601 date-time with an optional offset (none means UTC); NaN when invalid. The
 * last answer is kept: neighbouring records often share their time, to the second.
 */
export function parseIsoTime(text: string): number {
  if (text !== lastParsedText) {
    lastParsedMs = readIsoTime(text);
    lastParsedText = text;
  }
  return lastParsedMs;
}

function readIsoTime(text: string): number {
  const m = ISO_TIME.exec(text.trim());
  if (!m) return NaN;
  const [, y, mo, d, h, mi, s, frac, offset] = m;
  const year = Number(y), month = Number(mo), day = Number(d);
  const hour = Number(h), minute = Number(mi), second = Number(s);
  if (month < 1 || month > 12 || day < 1 || day > 31 || hour > 23 || minute > 59 || second > 60) return NaN;
  const ms = frac ? Math.floor(Number(`0.${frac}`) * 1000) : 0;
  let t = utc(year, month - 1, day, hour, minute, second, ms);
  if (new Date(utc(year, month - 1, day)).getUTCDate() !== day) return NaN;
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
  const ms = Math.floor(Number(value));
  return isRepresentableTime(ms) ? ms : NaN;
}

let lastIsoMs = NaN;
let lastIso = '';
/**
 * The instant as ISO 8601 UTC with milliseconds. The last answer is kept: the fingerprint and the
 * document both write a record's time, and neighbouring records often share it.
 */
export function isoUtc(ms: number): string {
  if (ms !== lastIsoMs) {
    lastIso = new Date(ms).toISOString(); // throws for a time a Date cannot hold, as before
    lastIsoMs = ms;
  }
  return lastIso;
}

/**
 * Short zone names that free text uses (Mimecast's audit `eventInfo`: `Time: 13:50:19 EDT`), as
 * minutes east of UTC. Only names with one common meaning: `IST` (India, Ireland, Israel) and
 * `CST` (US Central, China) are left out, so such a time stays unread rather than read wrong.
 */
export const ZONE_OFFSETS_MIN: Readonly<Record<string, number>> = {
  UTC: 0, GMT: 0, Z: 0, WET: 0, BST: 60, WEST: 60, CET: 60, CEST: 120, EET: 120, EEST: 180, MSK: 180,
  SAST: 120, GST: 240, PKT: 300, SGT: 480, HKT: 480, JST: 540, KST: 540,
  AWST: 480, ACST: 570, ACDT: 630, AEST: 600, AEDT: 660, NZST: 720, NZDT: 780,
  EST: -300, EDT: -240, CDT: -300, MST: -420, MDT: -360, PST: -480, PDT: -420, AKST: -540, AKDT: -480, HST: -600,
};

const TEXT_TIME = /\bDate:\s*(\d{4}-\d{2}-\d{2}),\s*Time:\s*(\d{2}:\d{2}:\d{2})\s+([A-Za-z]{1,5})\b/;

/**
 * The instant named inside free text as `Date: 2026-05-18, Time: 13:50:19 EDT`; NaN when the text
 * names none, or names a zone that `ZONE_OFFSETS_MIN` does not hold (unknown or ambiguous).
 */
export function parseTimeInText(text: string): number {
  const m = TEXT_TIME.exec(text);
  if (!m) return NaN;
  const offset = ZONE_OFFSETS_MIN[m[3]!.toUpperCase()];
  if (offset === undefined) return NaN;
  return parseIsoTime(`${m[1]}T${m[2]}Z`) - offset * 60_000;
}
