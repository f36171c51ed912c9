/**
 * Reading a small file a person named in a config (the config itself, a `*_file` secret) without
 * trusting what it is: only a regular file is read, never a FIFO (its open would wait for a
 * writer forever), a directory or a device, and never more than a bound. The checks are made on
 * the file actually opened (fstat), so a swap between the look and the open is caught too.
 */
import { type Stats, closeSync, constants, fstatSync, openSync, readSync, statSync } from 'node:fs';

/** Why the file cannot be used, as one phrase (the caller names the file and the key). */
export class UnreadableFile extends Error {}

export interface SmallFile {
  readonly text: string;
  /** Permission bits of the file read (group and other bits tell who else may read it). */
  readonly mode: number;
}

const KIND: ReadonlyArray<[(s: Stats) => boolean, string]> = [
  [(s) => s.isDirectory(), 'a directory'],
  [(s) => s.isFIFO(), 'a FIFO (named pipe)'],
  [(s) => s.isSocket(), 'a socket'],
  [(s) => s.isCharacterDevice() || s.isBlockDevice(), 'a device'],
];

/** What the file is when it is not a regular file, for the error. */
function notRegular(s: Stats): string | undefined {
  if (s.isFile()) return undefined;
  return KIND.find(([is]) => is(s))?.[1] ?? 'not a regular file';
}

const ERRNO_TEXT: Readonly<Record<string, string>> = { ENOENT: 'no such file', EACCES: 'permission denied', ELOOP: 'too many symbolic links', ENOTDIR: 'a path component is not a directory' };

function errnoText(err: unknown): string {
  const code = (err as NodeJS.ErrnoException).code;
  return (code && ERRNO_TEXT[code]) ?? (err as Error).message;
}

/**
 * Reads `path` (symbolic links are followed: secret mounts use them) as UTF-8 when it is a regular
 * file of at most `maxBytes`; throws UnreadableFile saying why not.
 */
export function readSmallFile(path: string, maxBytes: number): SmallFile {
  let fd: number;
  try {
    const irregular = irregularFile(path); // before opening: opening a device or FIFO can block or act
    if (irregular) throw new UnreadableFile(irregular);
    statSync(path); // says why a file cannot be looked at
    fd = openSync(path, constants.O_RDONLY | constants.O_NONBLOCK | constants.O_NOCTTY);
  } catch (err) {
    if (err instanceof UnreadableFile) throw err;
    throw new UnreadableFile(errnoText(err));
  }
  try {
    const st = fstatSync(fd);
    const kind = notRegular(st);
    if (kind) throw new UnreadableFile(`is ${kind}, not a regular file`);
    if (st.size > maxBytes) throw new UnreadableFile(`is larger than ${maxBytes} bytes`);
    const buf = Buffer.alloc(maxBytes + 1);
    let length = 0;
    for (let n = -1; n !== 0 && length <= maxBytes; length += n) n = readSync(fd, buf, length, buf.length - length, null);
    if (length > maxBytes) throw new UnreadableFile(`is larger than ${maxBytes} bytes`);
    return { text: buf.subarray(0, length).toString('utf8'), mode: st.mode & 0o777 };
  } catch (err) {
    if (err instanceof UnreadableFile) throw err;
    throw new UnreadableFile(errnoText(err));
  } finally {
    closeSync(fd);
  }
}

/**
 * Why `path` may not be opened for reading as a file (`is a FIFO (named pipe), not a regular
 * file`), for paths another module reads; undefined when it is a regular file or cannot be
 * looked at (the reader then says why).
 */
export function irregularFile(path: string): string | undefined {
  let kind: string | undefined;
  try {
    kind = notRegular(statSync(path));
  } catch {
    return undefined;
  }
  return kind && `is ${kind}, not a regular file`;
}

/** Whether users other than the owner may read a file of this mode. */
export const readableByOthers = (mode: number): boolean => (mode & 0o077) !== 0;
