/**
 * Text for a terminal. Subjects, file names, addresses and server error texts come from senders
 * and servers: printed raw, their control characters would clear the screen, set the window title,
 * move the cursor over earlier rows, or reorder a line (bidi overrides). Every human-facing output
 * passes its text through `printable`, which shows such a character as an escape (`\x1b`, `\u202e`)
 * instead of sending it. JSON output keeps the exact data: `jsonForTerminal` writes the same
 * characters as JSON escapes, which a JSON reader turns back into the same string.
 */

/** The characters a terminal acts on instead of showing, and why each range is here. */
const UNSAFE_RANGES: readonly { readonly from: number; readonly to: number; readonly what: string }[] = [
  { from: 0x00, to: 0x1f, what: 'C0 controls: ESC starts CSI/OSC sequences, CR rewrites the row, BEL, BS' },
  { from: 0x7f, to: 0x9f, what: 'DEL and the C1 controls (U+009B is a one-character CSI)' },
  { from: 0x061c, to: 0x061c, what: 'Arabic letter mark (bidi)' },
  { from: 0x200e, to: 0x200f, what: 'left-to-right and right-to-left marks (bidi)' },
  { from: 0x2028, to: 0x2029, what: 'line and paragraph separators' },
  { from: 0x202a, to: 0x202e, what: 'bidi embeddings and overrides' },
  { from: 0x2066, to: 0x2069, what: 'bidi isolates' },
];

const hex = (n: number) => n.toString(16).padStart(4, '0');
const UNSAFE = new RegExp(`[${UNSAFE_RANGES.map((r) => `\\u${hex(r.from)}-\\u${hex(r.to)}`).join('')}]`, 'g');
const UNSAFE_BUT_NEWLINE = new RegExp(`(?!\\n)${UNSAFE.source}`, 'g');
/** Inside JSON text, C0 is already escaped by JSON.stringify; these are the ones it leaves raw. */
const UNSAFE_IN_JSON = new RegExp(`(?![\\u0000-\\u001f])${UNSAFE.source}`, 'g');

const NAMED: Readonly<Record<string, string>> = { '\n': '\\n', '\r': '\\r', '\t': '\\t' };

function shown(c: string): string {
  const code = c.charCodeAt(0);
  return NAMED[c] ?? (code < 0x100 ? `\\x${code.toString(16).padStart(2, '0')}` : `\\u${hex(code)}`);
}

/** One cell or one line of output: every control character (newlines too) shown as an escape. */
export function printable(text: string): string {
  return text.replace(UNSAFE, shown);
}

/** Text of several lines (a message, a table): lines stay lines, everything else is shown as in `printable`. */
export function printableLines(text: string): string {
  return text.replace(UNSAFE_BUT_NEWLINE, shown);
}

/** JSON text with the characters a terminal acts on written as `\uXXXX`: the same JSON value, safe to print. */
export function jsonForTerminal(json: string): string {
  return json.replace(UNSAFE_IN_JSON, (c) => `\\u${hex(c.charCodeAt(0))}`);
}
