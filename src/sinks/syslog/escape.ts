/**
 * Escaping by table: each format names the characters it escapes and how. A character the format
 * has no escape for but that could mislead a reader (C0/C1 controls, DEL, line and paragraph
 * separators, bidirectional overrides, a BOM) becomes U+FFFD: CEF parsers refuse escapes they do
 * not know (rsyslog's liblognorm drops the whole line on `\u`), and LEEF has no escapes at all.
 */

/** Characters that move text around or end a line in some reader. */
const UNSAFE = /[\u0000-\u001f\u007f-\u009f\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069\ufeff]/;
export const REPLACEMENT = '\ufffd';

export type EscapeTable = Readonly<Record<string, string>>;

/** Escapes `text` with `table`; other unsafe characters become U+FFFD. */
export function escapeWith(table: EscapeTable, text: string): string {
  let out = '';
  for (const c of text) out += table[c] ?? (UNSAFE.test(c) ? REPLACEMENT : c);
  return out;
}

/** JSON text with what JSON.stringify leaves raw (DEL, C1, separators, bidi, BOM) as `\uXXXX`: the same value, nothing to surprise a reader. */
export function jsonWithoutUnsafe(json: string): string {
  return json.replace(new RegExp(UNSAFE.source, 'g'), (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
}
