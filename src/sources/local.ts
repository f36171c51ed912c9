/** Local inputs: files, directories (files in name order, recursively) and stdin (`-`). */
import { createReadStream } from 'node:fs';
import { readdir, stat } from 'node:fs/promises';
import { join } from 'node:path';

export interface LocalInput {
  readonly name: string;
  open(): AsyncIterable<Buffer | string>;
}

async function expand(path: string): Promise<string[]> {
  const info = await stat(path).catch((err: NodeJS.ErrnoException) => {
    throw new Error(`cannot read ${path}: ${err.code === 'ENOENT' ? 'no such file or directory' : err.message}`);
  });
  if (!info.isDirectory()) return [path];
  const names = (await readdir(path)).filter((n) => !n.startsWith('.')).sort();
  const nested = await Promise.all(names.map((n) => expand(join(path, n))));
  return nested.flat();
}

/** Resolves the command-line paths to inputs, failing early on a path that does not exist. */
export async function localInputs(paths: readonly string[], stdin: NodeJS.ReadableStream = process.stdin): Promise<LocalInput[]> {
  const inputs: LocalInput[] = [];
  for (const p of paths) {
    if (p === '-') {
      inputs.push({ name: '-', open: () => stdin as AsyncIterable<Buffer> });
      continue;
    }
    for (const file of await expand(p)) inputs.push({ name: file, open: () => createReadStream(file) });
  }
  return inputs;
}
