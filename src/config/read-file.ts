/**
 * Reading a small file a person named in a config (the config itself, a `*_file` secret) without
 * trusting what it is: only a regular file is read, never a FIFO (its open would wait for a
 * writer forever), a directory or a device, and never more than a bound. The checks are made on
 * the file actually opened (fstat), so a swap between the look and the open is caught too.
 */
import { type Stats, closeSync, constants, fstatSync, openSync, readSync, realpathSync, statSync } from 'node:fs';

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

/**
 * Trees of the kernel's own files: regular files there are state, not something a person wrote
 * (a link to /proc/self/environ would make the whole environment the secret). /dev/shm is a
 * tmpfs where secrets are often put on purpose: allowed.
 */
const SYSTEM_TREES: ReadonlyArray<[string, string]> = [
  ['/proc/', 'process and kernel state, such as the whole environment of a process'],
  ['/sys/', 'kernel state'],
  ['/dev/', 'devices'],
];
const ALLOWED_UNDER_SYSTEM = ['/dev/shm/'];

/** Why the file's real path (links followed) may not be read: it lies in a system tree. */
function systemFile(path: string): string | undefined {
  let real: string;
  try {
    real = realpathSync(path);
  } catch {
    return undefined; // the reader says why it cannot be looked at
  }
  if (ALLOWED_UNDER_SYSTEM.some((p) => real.startsWith(p))) return undefined;
  const tree = SYSTEM_TREES.find(([prefix]) => real.startsWith(prefix));
  return tree && `is ${real}, under ${tree[0].slice(0, -1)} (${tree[1]}), not a file a person wrote`;
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
    const irregular = irregularFile(path) ?? systemFile(path); // before opening: opening a device or FIFO can block or act
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

const MAX_CA_BYTES = 1024 * 1024;

/**
 * A PEM file of CA certificates (`--search-ca`, a sink's `ca_file`): a regular file of at most
 * 1 MiB holding a certificate. Throws UnreadableFile saying why not.
 */
export function readCaFile(path: string): string {
  const { text } = readSmallFile(path, MAX_CA_BYTES);
  if (!text.includes('-----BEGIN CERTIFICATE-----')) throw new UnreadableFile('holds no PEM certificate (-----BEGIN CERTIFICATE-----)');
  return text;
}
