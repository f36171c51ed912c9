/**
 * Local inputs: files, directories (files in name order, recursively) and stdin (`-`).
 *
 * Directories are walked defensively: each real directory and file is read once however many
 * symbolic links lead to it (so link loops end), a dangling link or an unreadable entry is
 * reported and skipped rather than refusing the whole directory, devices and sockets are skipped
 * (they never end), so is a FIFO found in a directory (read one by naming it), and the store's own
 * files are never read as input.
 */
import { createHash } from 'node:crypto';
import { closeSync, constants, createReadStream, openSync } from 'node:fs';
import { Socket } from 'node:net';
import { Readable } from 'node:stream';
import { open, readdir, realpath, stat } from 'node:fs/promises';
import type { Stats } from 'node:fs';
import { join, resolve } from 'node:path';
import type { LocalInput } from '../core/input.js';
import { MimelogError } from '../util/errors.js';

/** A path found while expanding directories that is not read, and why. */
export interface SkippedPath {
  readonly path: string;
  readonly reason: string;
}

export interface LocalInputs {
  readonly inputs: LocalInput[];
  readonly skipped: SkippedPath[];
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

/**
 * A named pipe, opened without waiting for a writer (O_NONBLOCK) and read through the event loop:
 * a plain open would block a thread-pool thread until a writer comes, and nothing (not SIGTERM)
 * could end the run meanwhile. Read this way it still waits for a writer, and a stop ends it at once.
 */
function fifoStream(path: string): Readable {
  let fd: number | undefined;
  try {
    fd = openSync(path, constants.O_RDONLY | constants.O_NONBLOCK);
    return new Socket({ fd, readable: true, writable: false }); // throws when the path is no pipe any more
  } catch (err) {
    if (fd !== undefined) closeSync(fd);
    const failed = new Readable({ read() {} });
    process.nextTick(() => failed.destroy(err as Error));
    return failed;
  }
}

function kindOf(info: Stats): string {
  if (info.isCharacterDevice()) return 'a character device';
  if (info.isBlockDevice()) return 'a block device';
  if (info.isSocket()) return 'a socket';
  return 'not a regular file';
}

/** Why a path could not be read, in words. */
export function explain(err: NodeJS.ErrnoException): string {
  switch (err.code) {
    case 'ENOENT': return 'no such file or directory (or a dangling symbolic link)';
    case 'EACCES': case 'EPERM': return 'permission denied';
    case 'ELOOP': return 'too many levels of symbolic links';
    default: return err.message;
  }
}

class Walker {
  readonly inputs: LocalInput[] = [];
  readonly skipped: SkippedPath[] = [];
  private readonly seen = new Set<string>();

  constructor(private readonly exclude: ReadonlySet<string>) {}

  /** Adds a path; `named` is true for a path the user gave (its problems are errors, not skips). */
  async add(path: string, named: boolean): Promise<void> {
    let info: Stats;
    let real: string;
    try {
      info = await stat(path);
      real = await realpath(path);
    } catch (err) {
      const reason = explain(err as NodeJS.ErrnoException);
      if (named) throw new MimelogError('input', `cannot read ${path}: ${reason}`);
      this.skipped.push({ path, reason });
      return;
    }
    if (this.exclude.has(real)) {
      const reason = "one of mimelog's own files (its store, dead letters or standard output), not an input";
      if (named) throw new MimelogError('input', `${path} is ${reason}`);
      this.skipped.push({ path, reason });
      return;
    }
    if (this.seen.has(real)) return; // reached again through a link: read once (this ends loops)
    this.seen.add(real);
    if (info.isDirectory()) {
      let names: string[];
      try {
        names = (await readdir(path)).filter((n) => !n.startsWith('.')).sort();
      } catch (err) {
        const reason = explain(err as NodeJS.ErrnoException);
        if (named) throw new MimelogError('input', `cannot read ${path}: ${reason}`);
        this.skipped.push({ path, reason });
        return;
      }
      for (const n of names) await this.add(join(path, n), false);
    } else if (info.isFile()) {
      this.inputs.push({ name: path, open: () => createReadStream(path), identity: () => fileIdentity(path) });
    } else if (info.isFIFO() && named) {
      // A pipe is read as a stream; probing its head would take the writer's data.
      this.inputs.push({ name: path, open: () => fifoStream(path), identity: async () => undefined });
    } else if (info.isFIFO()) {
      // One found in a directory could wait for a writer forever: read only when named.
      this.skipped.push({ path, reason: 'a FIFO (named pipe) found in a directory; name it to read it' });
    } else {
      const reason = `${kindOf(info)}, which never ends; read it through stdin if you mean it`;
      if (named) throw new MimelogError('input', `cannot read ${path}: ${reason}`);
      this.skipped.push({ path, reason });
    }
  }
}

/**
 * Resolves the command-line paths to inputs, failing early on a named path that cannot be read.
 * `exclude` lists files that are never inputs (the store, its journal, the dead-letter file).
 */
export async function localInputs(paths: readonly string[], stdin: NodeJS.ReadableStream = process.stdin, exclude: readonly string[] = []): Promise<LocalInputs> {
  const excluded = new Set<string>();
  for (const p of exclude) {
    excluded.add(resolve(p));
    excluded.add(await realpath(p).catch(() => resolve(p)));
  }
  const walker = new Walker(excluded);
  for (const p of paths) {
    if (p === '-') walker.inputs.push({ name: '-', open: () => stdin as AsyncIterable<Buffer>, identity: async () => undefined });
    else await walker.add(p, true);
  }
  return { inputs: walker.inputs, skipped: walker.skipped };
}
