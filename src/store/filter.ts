/** Search filters as people type them (CLI flags, console query strings), parsed into a `SearchFilter`. */
import { parseIsoTime } from '../decode/time.js';
import type { SearchFilter } from './queries.js';
import { MimelogError } from '../util/errors.js';

/** A filter value that cannot be used; the message names the field. */

/** The filters as typed: every field of a search filter as text (times not parsed yet). */
export type FilterText = { [K in keyof Omit<SearchFilter, 'limit' | 'before'>]?: string };

/** A time to the minute, as people type it and browsers' date-time fields send it: `2026-11-30T08:00`, `2026-11-30 08:00+01:00`. */
const TO_THE_MINUTE = /^(\d{4}-\d{2}-\d{2})[T ](\d{2}:\d{2})(Z|[+-]\d{2}:?\d{2})?$/i;

/** An ISO 8601 date or date-time, seconds optional; without a zone it is UTC (as everything mimelog prints). */
export function parseTime(value: string, field: string): number {
  const text = value.trim();
  const dateOnly = /^\d{4}-\d{2}-\d{2}$/.test(text);
  const minute = TO_THE_MINUTE.exec(text);
  const t = parseIsoTime(dateOnly ? `${text}T00:00:00Z` : minute ? `${minute[1]}T${minute[2]}:00${minute[3] ?? ''}` : text);
  if (Number.isNaN(t)) throw new MimelogError('filter', `${field}: not an ISO 8601 date or time (e.g. 2026-11-30, 2026-11-30T08:00 or 2026-11-30T08:00:00Z): ${value}`);
  return t;
}

/** Empty values (other than words) are no filter; `names` says how each field is called where the user typed it. */
export function parseFilter(o: FilterText, names: Record<keyof FilterText, string>): SearchFilter {
  const given = (v: string | undefined) => (v === undefined || v.trim() === '' ? undefined : v.trim());
  // Words given but none to search for is a mistake, not "no filter".
  if (o.text !== undefined && !/[\p{L}\p{N}]/u.test(o.text)) throw new MimelogError('filter', `${names.text} needs at least one letter or digit to search for`);
  const text = given(o.text);
  const from = given(o.from);
  const to = given(o.to);
  return {
    from: from === undefined ? undefined : parseTime(from, names.from),
    to: to === undefined ? undefined : parseTime(to, names.to),
    type: given(o.type),
    address: given(o.address),
    messageId: given(o.messageId),
    acode: given(o.acode),
    action: given(o.action),
    text,
  };
}
