/**
 * What a spool may read: regular files that live inside the spool directory, nothing else. The
 * spool is written by others (often another user or a mount), so every entry is treated as
 * hostile: a symbolic link leading out of the spool (to a secret, to /proc/self/environ), a hard
 * link (another name of a file that may live anywhere on the file system, such as the store), a
 * FIFO (opening it waits for a writer forever), a socket or a device are refused, each with a
 * reason. The listing decides by lstat; `openSpoolFile` checks the opened descriptor again, so a
 * file swapped for a link between the two is refused too.
 */
import { constants } from 'node:fs';
import { type FileHandle, lstat, open, readdir, readlink, realpath } from 'node:fs/promises';
import type { BigIntStats } from 'node:fs';
import { basename, dirname, join, resolve, sep } from 'node:path';
import { MimelogError } from '../util/errors.js';
import { explain } from './local.js';

/** Why an entry is not read: the counter's label, and what the warning says. */
export const REFUSALS = {
  link_outside: 'a symbolic link leading out of the spool: the spool reads only files inside it',
  hard_link: 'a file with other hard links: another of its names may lie outside the spool (a secret, the store); it is read once it has only this name',
  fifo: 'a FIFO (named pipe): the spool reads only regular files (opening a pipe waits for a writer)',
  socket: 'a socket: the spool reads only regular files',
  device: 'a device: the spool reads only regular files',
  other: 'not a regular file or a directory: the spool reads only regular files',
  moved: 'it was replaced between listing and opening by something outside the spool',
  unreadable: 'unreadable',
} as const;

export type RefusalReason = keyof typeof REFUSALS;

export interface Refusal {
  readonly path: string;
  readonly reason: RefusalReason;
  /** What the warning says. */
  readonly text: string;
}

/** A file the listing accepts: its name (the checkpoint's key) and where it really is. */
export interface SpoolEntry {
  readonly path: string;
  /** The path without links, opened without following a link. */
  readonly realPath: string;
  readonly dev: bigint;
  readonly ino: bigint;
}

export interface SpoolListing {
  /** The spool directory's own real path: what every file must lie inside. */
  readonly root: string;
  readonly files: SpoolEntry[];
  readonly refused: Refusal[];
  /** `dev:ino` of the store's files (never read, whatever their name). */
  readonly excluded: ReadonlySet<string>;
}

const idOf = (s: { dev: bigint; ino: bigint }) => `${s.dev}:${s.ino}`;

export function inside(path: string, root: string): boolean {
  return path === root || path.startsWith(root.endsWith(sep) ? root : root + sep);
}

/** The refusal of a file type other than regular file or directory. */
function kindRefusal(s: BigIntStats): RefusalReason {
  if (s.isFIFO()) return 'fifo';
  if (s.isSocket()) return 'socket';
  if (s.isCharacterDevice() || s.isBlockDevice()) return 'device';
  return 'other';
}

function refusal(path: string, reason: RefusalReason, why?: string): Refusal {
  return { path, reason, text: why ?? REFUSALS[reason] };
}

const errorText = (err: unknown) => explain(err as NodeJS.ErrnoException);

/** Lists the spool (files in name order, recursively; names starting with `.` are a writer's temporary files). */
export async function listSpool(path: string, exclude: readonly string[]): Promise<SpoolListing> {
  let root: string;
  let rootInfo: BigIntStats;
  try {
    root = await realpath(path);
    rootInfo = await lstat(root, { bigint: true });
    if (!rootInfo.isDirectory()) throw new MimelogError('input', `spool ${path}: not a directory`);
  } catch (err) {
    if (err instanceof MimelogError) throw err;
    throw new MimelogError('input', `spool ${path}: ${errorText(err)}`);
  }
  const excluded = new Set<string>();
  const excludedPaths = new Set<string>();
  for (const p of exclude) {
    // By real path (a file the store creates after this listing) and by inode (any other name).
    const dir = dirname(resolve(p));
    excludedPaths.add(join(await realpath(dir).catch(() => dir), basename(p)));
    const s = await lstat(p, { bigint: true }).catch(() => undefined);
    if (s) excluded.add(idOf(s));
  }
  const files: SpoolEntry[] = [];
  const refused: Refusal[] = [];
  const seen = new Set<string>([idOf(rootInfo)]); // a link back to the spool itself is not walked again

  const visit = async (dir: string, realDir: string): Promise<void> => {
    let names: string[];
    try {
      names = (await readdir(dir)).filter((n) => !n.startsWith('.')).sort();
    } catch (err) {
      refused.push(refusal(dir, 'unreadable', errorText(err)));
      return;
    }
    for (const name of names) {
      const at = join(dir, name);
      let real = join(realDir, name);
      let info: BigIntStats;
      try {
        info = await lstat(at, { bigint: true });
        if (info.isSymbolicLink()) {
          real = await realpath(at);
          if (!inside(real, root)) {
            refused.push(refusal(at, 'link_outside'));
            continue;
          }
          info = await lstat(real, { bigint: true });
        }
      } catch (err) {
        refused.push(refusal(at, 'unreadable', errorText(err)));
        continue;
      }
      if (excluded.has(idOf(info)) || excludedPaths.has(real)) continue; // the store's own files
      if (seen.has(idOf(info))) continue; // reached again through a link: read once (this ends loops)
      seen.add(idOf(info));
      if (info.isDirectory()) await visit(at, real);
      else if (!info.isFile()) refused.push(refusal(at, kindRefusal(info)));
      else if (info.nlink > 1n) refused.push(refusal(at, 'hard_link'));
      else files.push({ path: at, realPath: real, dev: info.dev, ino: info.ino });
    }
  };
  await visit(path, root);
  return { root, files, refused, excluded };
}

/** Where an open descriptor's file lies now (Linux's /proc), or undefined where that cannot be told. */
async function locationOf(handle: FileHandle): Promise<string | undefined> {
  const where = await readlink(`/proc/self/fd/${handle.fd}`).catch(() => undefined);
  return where?.replace(/ \(deleted\)$/, '');
}

export type Opened = { readonly handle: FileHandle; readonly stats: BigIntStats } | { readonly refused: Refusal } | { readonly gone: true };

/**
 * Opens a listed file for reading and checks the descriptor itself: a regular file with one name,
 * inside the spool, not the store. Never follows a final link and never waits (O_NONBLOCK: a file
 * swapped for a FIFO does not block the open).
 */
export async function openSpoolFile(entry: SpoolEntry, listing: SpoolListing): Promise<Opened> {
  let handle: FileHandle;
  try {
    handle = await open(entry.realPath, constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') return { gone: true }; // moved away since the listing (rotation): nothing to read
    return { refused: code === 'ELOOP' ? refusal(entry.path, 'moved') : refusal(entry.path, 'unreadable', errorText(err)) };
  }
  const refuse = async (reason: RefusalReason): Promise<Opened> => {
    await handle.close();
    return { refused: refusal(entry.path, reason) };
  };
  const stats = await handle.stat({ bigint: true });
  if (!stats.isFile()) return refuse(kindRefusal(stats));
  if (stats.nlink > 1n) return refuse('hard_link');
  if (listing.excluded.has(idOf(stats))) {
    await handle.close();
    return { gone: true };
  }
  // Where /proc tells, the file must lie inside the spool now; elsewhere it must be the file listed.
  const where = await locationOf(handle);
  const same = stats.dev === entry.dev && stats.ino === entry.ino;
  if (where === undefined ? !same : !inside(where, listing.root)) return refuse('moved');
  return { handle, stats };
}
