/**
 * Escaping by table: each format names the characters it escapes and how. A character the format
 * has no escape for but that could mislead a reader (C0/C1 controls, DEL, line and paragraph
 * separators, bidirectional overrides) is written `\uXXXX`: visible, and reversible because `\`
 * itself is always escaped.
 */

/** Characters that move text around or end a line in some reader, besides the format's own. */
const UNSAFE = /[\u0000-\u001f\u007f-\u009f\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069\ufeff]/;

export type EscapeTable = Readonly<Record<string, string>>;

const hex4 = (c: string): string => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0').toUpperCase()}`;

/** Escapes `text` with `table`; other unsafe characters become `\uXXXX`. */
export function escapeWith(table: EscapeTable, text: string): string {
  let out = '';
  for (const c of text) {
    const mapped = table[c];
    out += mapped ?? (UNSAFE.test(c) ? hex4(c) : c);
  }
  return out;
}

/** Escapes for JSON text that JSON.stringify leaves raw (DEL, C1 controls, separators, bidi): same value, no surprises downstream. */
export function jsonWithoutUnsafe(json: string): string {
  return json.replace(new RegExp(UNSAFE.source, 'g'), (c) => hex4(c));
}
