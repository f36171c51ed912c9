/**
 * JSON.parse with the two checks it lacks: a nesting bound (V8 parses any depth, but every
 * recursive walk afterwards, JSON.stringify included, overflows the stack) and duplicate keys
 * (JSON.parse keeps the last value silently; a record that says two things is not stored as one).
 */
export type JsonParse = { ok: true; value: unknown } | { ok: false; reason: string; tooDeep?: true };

const QUOTE = 0x22, BACKSLASH = 0x5c, COLON = 0x3a, OPEN_OBJ = 0x7b, OPEN_ARR = 0x5b, CLOSE_OBJ = 0x7d, CLOSE_ARR = 0x5d;

function isSpace(c: number): boolean {
  return c === 0x20 || c === 0x09 || c === 0x0a || c === 0x0d;
}

/** One pass over the text outside strings: deepest nesting and how many keys it names. */
function scan(text: string, maxDepth: number): { tooDeep: boolean; keys: number } {
  let depth = 0, keys = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c === QUOTE) {
      let j = i + 1;
      for (; j < text.length; j++) {
        const d = text.charCodeAt(j);
        if (d === BACKSLASH) j++;
        else if (d === QUOTE) break;
      }
      let k = j + 1;
      while (k < text.length && isSpace(text.charCodeAt(k))) k++;
      if (text.charCodeAt(k) === COLON) keys++;
      i = j;
    } else if (c === OPEN_OBJ || c === OPEN_ARR) {
      if (++depth > maxDepth) return { tooDeep: true, keys };
    } else if (c === CLOSE_OBJ || c === CLOSE_ARR) depth--;
  }
  return { tooDeep: false, keys };
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

function nestedTooDeep(maxDepth: number): string {
  return `JSON nested deeper than ${maxDepth} levels (--max-json-depth)`;
}

/** Why `text` is refused for its nesting, or undefined when it is nested no deeper than `maxDepth`. */
export function depthRefusal(text: string, maxDepth: number): string | undefined {
  return scan(text, maxDepth).tooDeep ? nestedTooDeep(maxDepth) : undefined;
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

/** An array's items or an object's keys and values, being written. */
interface OpenValue {
  readonly items: readonly unknown[];
  readonly keys?: readonly string[];
  next: number;
}

function deepJsonText(root: unknown): string {
  const out: string[] = [];
  const stack: OpenValue[] = [];
  const open = (v: unknown): void => {
    if (v === null || typeof v !== 'object') {
      out.push(JSON.stringify(v) ?? 'null'); // undefined in an array is null, as JSON.stringify writes it
    } else if (Array.isArray(v)) {
      out.push('[');
      stack.push({ items: v, next: 0 });
    } else {
      const keys = Object.keys(v).filter((k) => (v as Record<string, unknown>)[k] !== undefined);
      out.push('{');
      stack.push({ items: keys.map((k) => (v as Record<string, unknown>)[k]), keys, next: 0 });
    }
  };
  open(root);
  while (stack.length > 0) {
    const top = stack[stack.length - 1]!;
    if (top.next === top.items.length) {
      out.push(top.keys ? '}' : ']');
      stack.pop();
      continue;
    }
    const i = top.next++;
    if (i > 0) out.push(',');
    if (top.keys) out.push(`${JSON.stringify(top.keys[i])}:`);
    open(top.items[i]);
  }
  return out.join('');
}
