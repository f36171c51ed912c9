/**
 * API 1.0 `key_value` lines: `key=value|key=value…` (docs/mimecast.md §3 "The key_value format").
 *
 * Quirks handled, all seen in Mimecast's own examples:
 * - `\value\` is quoted and may hold `|`, `=` and spaces; a quote left open runs to the next field;
 * - a value starting with `{` is a JSON object that may hold `|`;
 * - a `|` only ends a value when a `key=` follows it, so unquoted values may hold spaces;
 * - empty values (`headerFrom=`), any key order.
 */
import { type FieldValue, parseEmbeddedJson } from './record.js';

export type KeyValueResult = { ok: true; fields: Map<string, FieldValue> } | { ok: false; reason: string };

const BACKSLASH = 0x5c;
const PIPE = 0x7c;
const EQUALS = 0x3d;
const OPEN_BRACE = 0x7b;

function isKeyChar(c: number): boolean {
  return (c >= 0x61 && c <= 0x7a) || (c >= 0x41 && c <= 0x5a) || (c >= 0x30 && c <= 0x39) || c === 0x5f || c === 0x2d || c === 0x2e;
}

/** The last key looked for: the separator test reads the key after a `|`, and the parser then reads it again. */
let seenLine = '';
let seenPos = -1;
let seenEnd = -1;

/** Index of the `=` ending a key that starts at `pos`, or -1 when no key starts there. */
function keyEnd(line: string, pos: number): number {
  if (pos === seenPos && line === seenLine) return seenEnd;
  let from = pos;
  while (line.charCodeAt(from) === 0x20 || line.charCodeAt(from) === 0x09) from++; // tolerate `| key=`
  let i = from;
  while (i < line.length && isKeyChar(line.charCodeAt(i))) i++;
  seenLine = line;
  seenPos = pos;
  seenEnd = i > from && line.charCodeAt(i) === EQUALS ? i : -1;
  return seenEnd;
}

/** A `|` at `i` separates fields when it ends the line or a key follows it. */
function isSeparator(line: string, i: number): boolean {
  return line.charCodeAt(i) === PIPE && (i + 1 === line.length || keyEnd(line, i + 1) !== -1);
}

/** End of an unquoted value starting at `from`: the next separator, or the end of the line. */
function plainEnd(line: string, from: number): number {
  let i = line.indexOf('|', from);
  while (i !== -1 && !isSeparator(line, i)) i = line.indexOf('|', i + 1);
  return i === -1 ? line.length : i;
}

/** End (exclusive) of a balanced JSON object starting at `from`, or -1 when it never closes. */
function jsonObjectEnd(line: string, from: number): number {
  let depth = 0;
  let inString = false;
  for (let i = from; i < line.length; i++) {
    const c = line.charCodeAt(i);
    if (inString) {
      if (c === BACKSLASH) i++;
      else if (c === 0x22) inString = false;
    } else if (c === 0x22) inString = true;
    else if (c === OPEN_BRACE || c === 0x5b) depth++;
    else if (c === 0x7d || c === 0x5d) {
      depth--;
      if (depth === 0) return i + 1;
    }
  }
  return -1;
}

/** Closing backslash of a quoted value whose text starts at `from`, or -1 when left open. */
function quoteEnd(line: string, from: number): number {
  let i = line.indexOf('\\', from);
  while (i !== -1) {
    if (i + 1 === line.length || isSeparator(line, i + 1)) return i;
    i = line.indexOf('\\', i + 1);
  }
  return -1;
}

export function parseKeyValueLine(input: string): KeyValueResult {
  const line = input.charCodeAt(input.length - 1) === 0x0d ? input.slice(0, -1) : input;
  const fields = new Map<string, FieldValue>();
  let pos = 0;
  while (pos < line.length) {
    const eq = keyEnd(line, pos);
    if (eq === -1) {
      return { ok: false, reason: `expected key=value at column ${pos + 1}` };
    }
    const key = line.slice(pos, eq).trim();
    const start = eq + 1;
    let value: string;
    let next: number;
    const first = line.charCodeAt(start);
    const closeQuote = first === BACKSLASH ? quoteEnd(line, start + 1) : -1;
    const closeJson = first === OPEN_BRACE ? jsonObjectEnd(line, start) : -1;
    if (closeQuote !== -1) {
      value = line.slice(start + 1, closeQuote);
      next = closeQuote + 2;
    } else if (closeJson !== -1 && (closeJson === line.length || isSeparator(line, closeJson))) {
      value = line.slice(start, closeJson);
      next = closeJson + 1;
    } else {
      // Plain value, or a quote left open (Mimecast's documented delivery line ends that way).
      const from = first === BACKSLASH ? start + 1 : start;
      const end = plainEnd(line, from);
      value = line.slice(from, end).trim();
      next = end + 1;
    }
    const before = fields.size;
    fields.set(key, parseEmbeddedJson(value));
    if (fields.size === before) return { ok: false, reason: `duplicate key "${key}"` };
    pos = next;
  }
  seenLine = ''; // let go of the line
  seenPos = -1;
  if (fields.size === 0) return { ok: false, reason: 'empty record' };
  return { ok: true, fields };
}
