/**
 * JSON.parse with the two checks it lacks: a nesting bound (V8 parses any depth, but every
 * recursive walk afterwards, JSON.stringify included, overflows the stack) and duplicate keys
 * (JSON.parse keeps the last value silently; a record that says two things is not stored as one).
 */
export type JsonParse = { ok: true; value: unknown } | { ok: false; reason: string; tooDeep?: true };

const QUOTE = 0x22, BACKSLASH = 0x5c, COLON = 0x3a, COMMA = 0x2c, OPEN_OBJ = 0x7b, OPEN_ARR = 0x5b, CLOSE_OBJ = 0x7d, CLOSE_ARR = 0x5d;

function isSpace(c: number): boolean {
  return c === 0x20 || c === 0x09 || c === 0x0a || c === 0x0d;
}

/** Where the string opened at `i` closes (its closing quote, or the text's end). */
function stringEnd(text: string, i: number): number {
  let j = i + 1;
  for (; j < text.length; j++) {
    const d = text.charCodeAt(j);
    if (d === BACKSLASH) j++;
    else if (d === QUOTE) break;
  }
  return j;
}

/** The string that closes at `j` is a key: a colon follows it. */
function isKey(text: string, j: number): boolean {
  let k = j + 1;
  while (k < text.length && isSpace(text.charCodeAt(k))) k++;
  return text.charCodeAt(k) === COLON;
}

/** One pass over the text outside strings: deepest nesting and how many keys it names. */
function scan(text: string, maxDepth: number): { tooDeep: boolean; keys: number } {
  let depth = 0, keys = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c === QUOTE) {
      const j = stringEnd(text, i);
      if (isKey(text, j)) keys++;
      i = j;
    } else if (c === OPEN_OBJ || c === OPEN_ARR) {
      if (++depth > maxDepth) return { tooDeep: true, keys };
    } else if (c === CLOSE_OBJ || c === CLOSE_ARR) depth--;
  }
  return { tooDeep: false, keys };
}

/**
 * The key whose string opens at `i` and closes at `j`, as JSON.parse reads it: `"valu\u0065"` is
 * `value` (read raw, a page with both spellings was cut in one array and parsed with the other).
 */
function keyText(text: string, i: number, j: number): string {
  const raw = text.slice(i + 1, j);
  if (!raw.includes('\\')) return raw;
  try {
    return JSON.parse(text.slice(i, j + 1)) as string;
  } catch {
    return raw; // a broken escape: the page does not parse either
  }
}

/** A step to a page's record array: an object's key or an array's index. */
export type JsonPath = readonly (string | number)[];

/** A record nested too deep to be parsed: its index in its array, and where its text lies. */
export interface DeepElement {
  readonly index: number;
  readonly start: number;
  readonly end: number;
}

/**
 * The elements of the array at `path` from the root (`["data"]` in an API 1.0 json document,
 * `["value"]` in a stream page, `["data", 0, "clickLogs"]` in a feed's) nested deeper than
 * `maxDepth` (the element itself is level 1), found by one scan of the text. They are cut out
 * before the text is parsed: a record nested 15 million levels deep is never built as 15 million
 * arrays (1.6 GiB for 30 MiB of text) only to be refused.
 */
export function deepElements(text: string, path: JsonPath, maxDepth: number): DeepElement[] {
  const found: DeepElement[] = [];
  const records = path.length + 1; // the depth of the record array
  // `at[d - 1]`: the key (object) or index (array) being read in the container open at depth d, for
  // the containers on the path (`onPath` of them, the root first).
  const at: (string | number | undefined)[] = [];
  let depth = 0, onPath = 0, start = 0, deepest = 0;
  let arrays = 0; // record arrays met: with a repeated key, which one the parse keeps is not the scan's to say
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c === QUOTE) {
      const j = stringEnd(text, i);
      if (depth === onPath && depth <= path.length && isKey(text, j)) at[depth - 1] = keyText(text, i, j);
      i = j;
    } else if (c === OPEN_OBJ || c === OPEN_ARR) {
      depth++;
      if (depth === onPath + 1 && (depth === 1 || (depth <= records && at[depth - 2] === path[depth - 2]))) {
        onPath = depth;
        at[depth - 1] = c === OPEN_ARR ? 0 : undefined;
        if (depth === records && c === OPEN_ARR) arrays++;
      } else if (depth === records + 1 && onPath === records && typeof at[records - 1] === 'number') {
        start = i;
        deepest = depth;
      } else if (depth > deepest) deepest = depth;
    } else if (c === CLOSE_OBJ || c === CLOSE_ARR) {
      if (depth === records + 1 && onPath === records && typeof at[records - 1] === 'number' && deepest - records > maxDepth) found.push({ index: at[records - 1] as number, start, end: i + 1 });
      if (depth === onPath) onPath--;
      depth--;
    } else if (c === COMMA && depth === onPath && typeof at[depth - 1] === 'number') {
      at[depth - 1] = (at[depth - 1] as number) + 1;
    }
  }
  return arrays === 1 ? found : [];
}

/**
 * `text` with the records of the array at `path` nested deeper than `maxDepth` cut out (`{}` in
 * their place) and their texts (compact) by index: what is left parses within the bound.
 */
export function cutDeepRecords(text: string, path: JsonPath, maxDepth: number): { text: string; cut: Map<number, string> } {
  const cut = new Map<number, string>();
  const pieces: string[] = [];
  let from = 0;
  for (const deep of deepElements(text, path, maxDepth)) {
    pieces.push(text.slice(from, deep.start), '{}');
    cut.set(deep.index, compactJson(text.slice(deep.start, deep.end)));
    from = deep.end;
  }
  if (cut.size === 0) return { text, cut };
  pieces.push(text.slice(from));
  return { text: pieces.join(''), cut };
}

/**
 * `text` (JSON) without the whitespace between its tokens, written without parsing it: a record
 * cut from a pretty-printed document is kept on one line, as a record read from it would be
 * written (a dead letter of several lines would not replay as one record).
 */
export function compactJson(text: string): string {
  const chunks: string[] = [];
  let pieces: string[] = [];
  let from = 0;
  const keep = (to: number): void => {
    if (to > from) pieces.push(text.slice(from, to));
    if (pieces.length < 4096) return;
    chunks.push(pieces.join('')); // joined as it goes: one piece per bracket of a deep text would be millions of strings
    pieces = [];
  };
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c === QUOTE) {
      i = stringEnd(text, i);
    } else if (isSpace(c)) {
      keep(i);
      while (i + 1 < text.length && isSpace(text.charCodeAt(i + 1))) i++;
      from = i + 1;
    }
  }
  if (from === 0) return text;
  keep(text.length);
  chunks.push(pieces.join(''));
  return chunks.join('');
}

/** Keys of every object in a parsed value, counted without recursion. */
export function countKeys(value: unknown): number {
  let n = 0;
  const stack: unknown[] = [value];
  while (stack.length > 0) {
    const v = stack.pop();
    if (v === null || typeof v !== 'object') continue;
    if (Array.isArray(v)) {
      for (const x of v) stack.push(x);
      continue;
    }
    const keys = Object.keys(v);
    n += keys.length;
    for (const k of keys) stack.push((v as Record<string, unknown>)[k]);
  }
  return n;
}

/** Why a record with too many keys is refused (JSON and key_value alike). */
export function tooManyKeys(keys: number, maxKeys: number): string {
  return `record with ${keys} keys, over the limit of ${maxKeys} (--max-record-keys)`;
}

/** Why a record nested deeper than the bound is refused. */
export function nestedTooDeep(maxDepth: number): string {
  return `JSON nested deeper than ${maxDepth} levels (--max-json-depth)`;
}

/** Whether `text` nests deeper than `maxDepth` anywhere (one pass, nothing built). */
export function nestsDeeperThan(text: string, maxDepth: number): boolean {
  return scan(text, maxDepth).tooDeep;
}

export function parseJson(text: string, maxDepth: number, maxKeys = Infinity): JsonParse {
  const { tooDeep, keys } = scan(text, maxDepth);
  if (tooDeep) return { ok: false, reason: nestedTooDeep(maxDepth), tooDeep: true };
  if (keys > maxKeys) return { ok: false, reason: tooManyKeys(keys, maxKeys) };
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (err) {
    return { ok: false, reason: `malformed JSON: ${(err as Error).message}` };
  }
  if (keys > 0 && countKeys(value) < keys) return { ok: false, reason: 'JSON object with a duplicate key' };
  return { ok: true, value };
}

/**
 * The JSON text of a parsed value at any depth. V8's JSON.parse takes any nesting but
 * JSON.stringify recurses: a record 100,000 levels deep in an API page would throw a RangeError
 * that escapes the page instead of becoming a dead letter. Such a value is written with an
 * explicit stack (the same text, key order and all), so the decoder can see it and refuse it with
 * its reason and bytes. `undefined` (not JSON) is written as JSON.stringify leaves it: undefined.
 */
export function jsonText(value: unknown): string | undefined {
  try {
    return JSON.stringify(value);
  } catch (err) {
    if (!(err instanceof RangeError)) throw err;
    return deepJsonText(value);
  }
}

/**
 * The text being written, as UTF-8 bytes in one growing buffer: a value millions of levels deep
 * is millions of brackets, and held as millions of small strings it took ten times the text's
 * size (a 24 MiB page of nested objects: 2 GiB). JSON.stringify's pieces are well-formed UTF-16
 * (it escapes lone surrogates), so the bytes decode back to the same text.
 */
class TextBytes {
  private buf = Buffer.allocUnsafe(64 * 1024);
  private length = 0;

  byte(c: number): void {
    if (this.length === this.buf.length) this.grow(1);
    this.buf[this.length++] = c;
  }

  text(s: string): void {
    const most = s.length * 3; // UTF-8 bytes of a UTF-16 text, at most
    if (this.length + most > this.buf.length) this.grow(most);
    this.length += this.buf.write(s, this.length, 'utf8');
  }

  toString(): string {
    return this.buf.toString('utf8', 0, this.length);
  }

  private grow(atLeast: number): void {
    const bigger = Buffer.allocUnsafe(Math.max(this.buf.length * 2, this.length + atLeast));
    this.buf.copy(bigger, 0, 0, this.length);
    this.buf = bigger;
  }
}

/**
 * The brackets still to close, innermost last, one byte each: a container is let go as soon as its
 * last item is begun, and only its closing bracket waits. A chain nested millions of levels deep
 * then costs a byte a level, not a frame. Each run of brackets waits for the open containers to be
 * back at its height (its last item's subtree written).
 */
class Closers {
  private bytes = new Uint8Array(1024);
  private length = 0;
  /** Open containers at which each run of brackets is due, and where the run starts in `bytes`. */
  private readonly heights: number[] = [];
  private readonly starts: number[] = [];

  push(c: number, height: number): void {
    if (this.heights[this.heights.length - 1] !== height) {
      this.heights.push(height);
      this.starts.push(this.length);
    }
    if (this.length === this.bytes.length) {
      const bigger = new Uint8Array(this.bytes.length * 2);
      bigger.set(this.bytes);
      this.bytes = bigger;
    }
    this.bytes[this.length++] = c;
  }

  /** Writes the brackets due now that `height` containers are open. */
  close(height: number, out: TextBytes): void {
    while (this.heights.length > 0 && this.heights[this.heights.length - 1] === height) {
      this.heights.pop();
      const start = this.starts.pop()!;
      while (this.length > start) out.byte(this.bytes[--this.length]!);
    }
  }
}

/**
 * The open containers, innermost last, as parallel arrays rather than an object per level: the
 * container, the index of its next item, and (objects only) its keys. Empty ones are written at
 * once and never opened.
 */
function deepJsonText(root: unknown): string {
  const out = new TextBytes();
  const closers = new Closers();
  const open: object[] = [];
  const next: number[] = [];
  const keyLists: (readonly string[] | undefined)[] = [];
  const write = (v: unknown): void => {
    if (v === null || typeof v !== 'object') {
      out.text(JSON.stringify(v) ?? 'null'); // undefined in an array is null, as JSON.stringify writes it
    } else if (Array.isArray(v)) {
      if (v.length === 0) return out.text('[]');
      out.byte(OPEN_ARR);
      open.push(v);
      next.push(0);
      keyLists.push(undefined);
    } else {
      const record = v as Record<string, unknown>;
      let keys = Object.keys(record);
      if (keys.some((k) => record[k] === undefined)) keys = keys.filter((k) => record[k] !== undefined); // as JSON.stringify leaves them out
      if (keys.length === 0) return out.text('{}');
      out.byte(OPEN_OBJ);
      open.push(v);
      next.push(0);
      keyLists.push(keys);
    }
  };
  write(root);
  while (open.length > 0) {
    const top = open.length - 1;
    const container = open[top]!;
    const keys = keyLists[top];
    const i = next[top]!;
    next[top] = i + 1;
    if (i > 0) out.byte(COMMA);
    if (i === (keys ?? (container as unknown[])).length - 1) {
      // Its last item: only the closing bracket is left of the container.
      open.pop();
      next.pop();
      keyLists.pop();
      closers.push(keys ? CLOSE_OBJ : CLOSE_ARR, top);
    }
    if (keys) {
      out.text(JSON.stringify(keys[i]));
      out.byte(COLON);
      write((container as Record<string, unknown>)[keys[i]!]);
    } else {
      write((container as unknown[])[i]);
    }
    closers.close(open.length, out);
  }
  return out.toString();
}
