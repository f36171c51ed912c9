/** Local inputs: files, directories (files in name order, recursively) and stdin (`-`). */
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { open, readdir, stat } from 'node:fs/promises';
import { join } from 'node:path';

export interface LocalInput {
  readonly name: string;
  open(): AsyncIterable<Buffer | string>;
  /** What the input looks like now (size and a digest of its head), to tell a resumed file from a replaced one; undefined for stdin. */
  identity(): Promise<string | undefined>;
}

const HEAD_BYTES = 64 * 1024;

async function fileIdentity(path: string): Promise<string> {
  const handle = await open(path, 'r');
  try {
    const { size } = await handle.stat();
    const head = Buffer.alloc(Math.min(size, HEAD_BYTES));
    await handle.read(head, 0, head.length, 0);
    return `head:${createHash('sha256').update(head).digest('hex').slice(0, 32)}`;
  } finally {
    await handle.close();
  }
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
      inputs.push({ name: '-', open: () => stdin as AsyncIterable<Buffer>, identity: async () => undefined });
      continue;
    }
    for (const file of await expand(p)) {
      inputs.push({ name: file, open: () => createReadStream(file), identity: () => fileIdentity(file) });
    }
  }
  return inputs;
}
