/**
 * Standard output written completely or not at all quietly. When stdout is a file, Node writes
 * it synchronously and takes a short write (a disk that fills up, a file size limit) for a
 * complete one: the output was cut with exit 0 and no word. Here every byte is written or the
 * write error is thrown. Pipes and terminals keep Node's own stream, which finishes short writes
 * itself; its errors reach the handler in main.ts (a closed pager: quiet; any other: a message).
 */
import { fstatSync, writeSync } from 'node:fs';
import { MimelogError } from '../util/errors.js';

let toFile: boolean | undefined;

/** Whether fd 1 is written synchronously by Node (a file or a device such as /dev/full), not a pipe, socket or terminal. */
function stdoutIsFile(): boolean {
  if (toFile === undefined) {
    try {
      const s = fstatSync(process.stdout.fd);
      toFile = !process.stdout.isTTY && (s.isFile() || s.isCharacterDevice() || s.isBlockDevice());
    } catch {
      toFile = false;
    }
  }
  return toFile;
}

/** A write to standard output that failed: the run must not end as if the output were complete. */
function incomplete(err: Error): MimelogError {
  return new MimelogError('output', `cannot write to standard output: ${err.message} (the output is incomplete)`);
}

function writeAllSync(fd: number, bytes: Uint8Array): void {
  let done = 0;
  while (done < bytes.length) {
    const n = writeSync(fd, bytes, done);
    if (n <= 0) throw Object.assign(new Error('nothing written'), { code: 'EIO' });
    done += n;
  }
}

/**
 * Writes `text` to standard output. Returns false when a pipe asks the caller to wait for 'drain'
 * (as `stream.write` does); throws when a file could not take every byte.
 */
export function writeOut(text: string | Uint8Array): boolean {
  if (!stdoutIsFile()) return process.stdout.write(text);
  try {
    writeAllSync(process.stdout.fd, typeof text === 'string' ? Buffer.from(text) : text);
  } catch (err) {
    throw incomplete(err as Error);
  }
  return true;
}

/**
 * Writes `text` to standard output and resolves only once it is written (a file: every byte; a
 * pipe: its write callback), so that a sink acknowledges a unit only then; rejects saying why not.
 */
export function writeOutWritten(text: string | Uint8Array): Promise<void> {
  return new Promise((resolve, reject) => {
    try {
      if (stdoutIsFile()) return resolve(void writeOut(text));
    } catch (err) {
      return reject(err);
    }
    process.stdout.write(text, (err) => (err ? reject(incomplete(err)) : resolve()));
  });
}
