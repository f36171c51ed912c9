/**
 * Keys a YAML file must not use: `__proto__`, `constructor` and `prototype` reach into the object
 * model when the document becomes JavaScript objects (a `__proto__:` map becomes the prototype, so
 * its keys are read as defaults yet are invisible to the schema's unknown-key check). They are
 * looked for in the document's syntax tree, before any object is built.
 */
import { isMap, isScalar, isSeq } from 'yaml';

export const FORBIDDEN_KEYS: ReadonlySet<string> = new Set(['__proto__', 'constructor', 'prototype']);

/** The path of every forbidden key in the tree under `node` (a YAML document's `contents`). */
export function forbiddenKeyPaths(node: unknown, path: readonly PropertyKey[] = []): PropertyKey[][] {
  if (isSeq(node)) return node.items.flatMap((item, i) => forbiddenKeyPaths(item, [...path, i]));
  if (!isMap(node)) return [];
  return node.items.flatMap((pair) => {
    const key = isScalar(pair.key) ? String(pair.key.value) : String(pair.key);
    const here = [...path, key];
    return [...(FORBIDDEN_KEYS.has(key) ? [here] : []), ...forbiddenKeyPaths(pair.value, here)];
  });
}
