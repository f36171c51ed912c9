/**
 * Strict readers of CEF and LEEF 2.0 lines, written for the tests from the formats' rules: any raw
 * control or bidi character, unknown escape, unescaped separator inside a value, missing field or
 * repeated key throws.
 */

const UNSAFE_RAW = /[\u0000-\u001f\u007f-\u009f\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069\ufeff]/;

/** Escapes a context allows: the character after the backslash → what it stands for. */
type Escapes = Readonly<Record<string, string>>;
const CEF_HEADER: Escapes = { '\\': '\\', '|': '|' };
const CEF_VALUE: Escapes = { '\\': '\\', '=': '=', n: '\n', r: '\r' };

/** Reads the escapes `allowed` lists; a raw unsafe character, an unknown escape or a lone backslash throws. */
function unescape(text: string, allowed: Escapes): string {
  if (UNSAFE_RAW.test(text)) throw new Error(`raw unsafe character in ${JSON.stringify(text)}`);
  let out = '';
  for (let i = 0; i < text.length; i++) {
    if (text[i] !== '\\') {
      out += text[i];
      continue;
    }
    const meant = allowed[text[i + 1] ?? ''];
    if (meant === undefined) throw new Error(`unknown escape ${JSON.stringify(text.slice(i, i + 2))}`);
    out += meant;
    i++;
  }
  return out;
}

/** What a value reads back as: each character no escape covers is U+FFFD (the test's own list), `also` too, `kept` (escaped ones) not. */
export function replaced(text: string, o: { also?: string; kept?: string } = {}): string {
  const unsafe = (c: string) => (UNSAFE_RAW.test(c) && !o.kept?.includes(c)) || o.also?.includes(c) === true;
  return [...text].map((c) => (unsafe(c) ? '\ufffd' : c)).join('');
}

/** Splits at `sep` not preceded by an escaping backslash, `count` fields, the rest as the last. */
function splitUnescaped(text: string, sep: string, count: number): string[] {
  const fields: string[] = [];
  let start = 0;
  for (let i = 0; i < text.length && fields.length < count; i++) {
    if (text[i] === '\\') i++;
    else if (text[i] === sep) {
      fields.push(text.slice(start, i));
      start = i + 1;
    }
  }
  if (fields.length < count) throw new Error(`${count} fields expected, found ${fields.length}`);
  fields.push(text.slice(start));
  return fields;
}

const KEY = /^[A-Za-z0-9_]+$/;

export interface CefLine {
  readonly version: string;
  readonly vendor: string;
  readonly product: string;
  readonly productVersion: string;
  readonly signatureId: string;
  readonly name: string;
  readonly severity: string;
  readonly ext: Map<string, string>;
}

export function parseCef(line: string): CefLine {
  if (!line.startsWith('CEF:')) throw new Error('not a CEF line');
  const parts = splitUnescaped(line.slice(4), '|', 7);
  const [version, vendor, product, productVersion, signatureId, name, severity] = parts.slice(0, 7).map((f) => unescape(f, CEF_HEADER));
  if (version !== '0') throw new Error(`CEF version ${version}`);
  const rest = parts[7]!;
  // Every unescaped `=` ends a key: the key is the word before it, after a space (or at the start).
  const ext = new Map<string, string>();
  const equals: number[] = [];
  for (let i = 0; i < rest.length; i++) {
    if (rest[i] === '\\') i++;
    else if (rest[i] === '=') equals.push(i);
  }
  const keyStarts = equals.map((eq) => {
    const start = rest.lastIndexOf(' ', eq) + 1;
    const key = rest.slice(start, eq);
    if (!KEY.test(key)) throw new Error(`not a key: ${JSON.stringify(key)}`);
    return { start, eq, key };
  });
  if (rest !== '' && keyStarts[0]?.start !== 0) throw new Error('the extension does not start with a key');
  keyStarts.forEach((k, i) => {
    const end = i + 1 < keyStarts.length ? keyStarts[i + 1]!.start - 1 : rest.length;
    if (end < k.eq + 1) throw new Error(`key ${k.key} has no value`);
    if (ext.has(k.key)) throw new Error(`key ${k.key} repeated`);
    ext.set(k.key, unescape(rest.slice(k.eq + 1, end), CEF_VALUE));
  });
  return { version: version!, vendor: vendor!, product: product!, productVersion: productVersion!, signatureId: signatureId!, name: name!, severity: severity!, ext };
}

/** A LEEF field as written: LEEF has no escapes (a backslash is a backslash), but no raw unsafe character may appear. */
function asWritten(text: string): string {
  if (UNSAFE_RAW.test(text)) throw new Error(`raw unsafe character in ${JSON.stringify(text)}`);
  return text;
}

export interface LeefLine {
  readonly vendor: string;
  readonly product: string;
  readonly productVersion: string;
  readonly eventId: string;
  readonly delimiter: string;
  readonly attrs: Map<string, string>;
}

export function parseLeef(line: string): LeefLine {
  if (!line.startsWith('LEEF:2.0|')) throw new Error('not a LEEF 2.0 line');
  const parts = line.slice(9).split('|');
  if (parts.length < 6) throw new Error(`6 header fields expected, found ${parts.length}`);
  parts.splice(5, parts.length, parts.slice(5).join('|'));
  // LEEF has no escapes: a header field or value is read as written (a backslash is a backslash).
  const [vendor, product, productVersion, eventId] = parts.slice(0, 4).map(asWritten);
  const delimiter = parts[4]!;
  if (delimiter.length !== 1) throw new Error(`delimiter ${JSON.stringify(delimiter)}`);
  const attrs = new Map<string, string>();
  for (const pair of parts[5]!.split(delimiter)) {
    const eq = pair.indexOf('=');
    const key = pair.slice(0, eq);
    if (eq < 0 || !KEY.test(key)) throw new Error(`not a key=value pair: ${JSON.stringify(pair)}`);
    if (attrs.has(key)) throw new Error(`key ${key} repeated`);
    attrs.set(key, asWritten(pair.slice(eq + 1)));
  }
  return { vendor: vendor!, product: product!, productVersion: productVersion!, eventId: eventId!, delimiter, attrs };
}
