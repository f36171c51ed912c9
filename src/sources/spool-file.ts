/**
 * How the spool tells a file it read from one it has not: by what the file is, never by its
 * modification time alone (`rsync -a` and `mv` bring files with older times; a line appended in
 * the same second as a commit keeps the time). Each commit stores, as the checkpoint's identity,
 * what the reader had seen when the unit was published: device and inode, the bytes read so far,
 * the complete lines among them, a digest of the first 64 KiB, of the 4 KiB just before that
 * point and of all of them, and the file's modification and change times.
 *
 * The next poll decides from the file as it is now:
 * - the same inode, as long as it was, unchanged head and tail, same times, read to its end: not read;
 * - the same inode, at least as long, every byte read before unchanged (checked against the digest
 *   of all of them: the file is read anyway): read on after the complete lines committed (the rest
 *   of a line caught half-written, read once the file settled, is read again);
 * - anything else (another inode, shorter, a digest differs, an identity of an older version, an
 *   archive): read whole. Duplicates drop by id downstream, so a doubt costs time, never a record.
 */
import { type Hash, createHash } from 'node:crypto';
import type { BigIntStats } from 'node:fs';
import type { FileHandle } from 'node:fs/promises';
import { detectTextFormat } from '../decode/input.js';

const HEAD_BYTES = 64 * 1024;
const TAIL_BYTES = 4 * 1024;
const CHUNK_BYTES = 64 * 1024;
const VERSION = 'spool1';

/** What a reader had seen of a file when a unit was published. */
export interface FileSeen {
  readonly dev: bigint;
  readonly ino: bigint;
  /** Bytes read from the start. */
  readonly bytes: number;
  /** Complete lines (newlines) among them; undefined for an archive (its records are not lines of the file). */
  readonly lines: number | undefined;
  readonly head: string;
  readonly tail: string;
  /** A digest of every byte read (checked before reading on, when the file is read anyway). */
  readonly prefix: string;
  readonly mtimeNs: bigint;
  readonly ctimeNs: bigint;
}

export function formatIdentity(s: FileSeen): string {
  return `${VERSION} dev=${s.dev} ino=${s.ino} bytes=${s.bytes} lines=${s.lines ?? '-'} head=${s.head} tail=${s.tail} prefix=${s.prefix} mtime=${s.mtimeNs} ctime=${s.ctimeNs}`;
}

/** The identity a spool commit stored, or undefined for anything else (an older format, `ingest`'s): a doubt. */
export function parseIdentity(text: string | null | undefined): FileSeen | undefined {
  const m = /^spool1 dev=(\d+) ino=(\d+) bytes=(\d+) lines=(\d+|-) head=([0-9a-f]+) tail=([0-9a-f]+) prefix=([0-9a-f]+) mtime=(\d+) ctime=(\d+)$/.exec(text ?? '');
  if (!m) return undefined;
  return {
    dev: BigInt(m[1]!), ino: BigInt(m[2]!), bytes: Number(m[3]), lines: m[4] === '-' ? undefined : Number(m[4]),
    head: m[5]!, tail: m[6]!, prefix: m[7]!, mtimeNs: BigInt(m[8]!), ctimeNs: BigInt(m[9]!),
  };
}

const hex = (hash: Hash) => hash.digest('hex').slice(0, 32);
const digest = (bytes: Buffer) => hex(createHash('sha256').update(bytes));

function isArchive(head: Buffer): boolean {
  return (head[0] === 0x1f && head[1] === 0x8b) || (head[0] === 0x50 && head[1] === 0x4b);
}

async function readAt(handle: FileHandle, from: number, length: number): Promise<Buffer> {
  const buf = Buffer.alloc(length);
  let got = 0;
  while (got < length) {
    const { bytesRead } = await handle.read(buf, got, length - got, from + got);
    if (bytesRead === 0) break;
    got += bytesRead;
  }
  return buf.subarray(0, got);
}

/** The digests of the first `bytes` of the file now, as a reader that read that far computed them. */
async function digestsAt(handle: FileHandle, bytes: number): Promise<{ head: string; tail: string }> {
  const tailFrom = Math.max(0, bytes - TAIL_BYTES);
  const [head, tail] = await Promise.all([readAt(handle, 0, Math.min(bytes, HEAD_BYTES)), readAt(handle, tailFrom, bytes - tailFrom)]);
  return { head: digest(head), tail: digest(tail) };
}

/** The digest of the file's first `bytes` now (read again: the file is about to be read anyway). */
async function prefixDigest(handle: FileHandle, bytes: number): Promise<string> {
  const hash = createHash('sha256');
  for (let at = 0; at < bytes;) {
    const chunk = await readAt(handle, at, Math.min(CHUNK_BYTES, bytes - at));
    if (chunk.length === 0) break;
    hash.update(chunk);
    at += chunk.length;
  }
  return hex(hash);
}

export type ReadPlan =
  | { readonly kind: 'skip' }
  | { readonly kind: 'resume'; readonly after: number; /** Bytes read before (all unchanged). */ readonly readBefore: number }
  | { readonly kind: 'whole'; readonly why: string };

/** What the checkpoint says of a file: its position and the identity stored with it. */
export interface FileCheckpoint {
  readonly identity: string | null;
  readonly position: number;
  readonly complete: boolean;
}

/** Whether to read an opened file, and from where, given its checkpoint. */
export async function planRead(handle: FileHandle, now: BigIntStats, cp: FileCheckpoint | undefined): Promise<ReadPlan> {
  if (!cp) return { kind: 'whole', why: 'new' };
  const before = parseIdentity(cp.identity);
  if (!before) return { kind: 'whole', why: 'no identity to compare' };
  if (before.dev !== now.dev || before.ino !== now.ino) return { kind: 'whole', why: 'another file under the same name' };
  if (now.size < BigInt(before.bytes)) return { kind: 'whole', why: 'shorter than what was read' };
  const { head, tail } = await digestsAt(handle, before.bytes);
  if (head !== before.head || tail !== before.tail) return { kind: 'whole', why: 'rewritten' };
  const untouched = now.size === BigInt(before.bytes) && now.mtimeNs === before.mtimeNs && now.ctimeNs === before.ctimeNs;
  if (cp.complete && untouched) return { kind: 'skip' };
  const after = Math.min(cp.position, before.lines ?? 0);
  if (after === 0) return { kind: 'whole', why: before.lines === undefined ? 'an archive' : 'nothing complete read yet' };
  if ((await prefixDigest(handle, before.bytes)) !== before.prefix) return { kind: 'whole', why: 'rewritten' };
  return { kind: 'resume', after, readBefore: before.bytes };
}

/**
 * Reads an opened file from its start up to its length when opened (a file that a writer keeps
 * growing faster than it is read does not hold the spool: the next poll reads on), keeping what
 * its identity needs as the bytes pass.
 */
export class TrackedRead {
  private bytes = 0;
  private newlines = 0;
  private readonly headParts: Buffer[] = [];
  private headLength = 0;
  private tail = Buffer.alloc(0);
  private readonly prefix = createHash('sha256');

  /** `end`: how far to read (see readableEnd); the file's length when opened by default. */
  constructor(private readonly handle: FileHandle, private readonly opened: BigIntStats, private readonly end = Number(opened.size)) {}

  async *chunks(): AsyncGenerator<Buffer> {
    const length = this.end;
    while (this.bytes < length) {
      const chunk = await readAt(this.handle, this.bytes, Math.min(CHUNK_BYTES, length - this.bytes));
      if (chunk.length === 0) return;
      this.see(chunk);
      yield chunk;
    }
  }

  private see(chunk: Buffer): void {
    this.bytes += chunk.length;
    this.prefix.update(chunk);
    for (let i = chunk.indexOf(0x0a); i >= 0; i = chunk.indexOf(0x0a, i + 1)) this.newlines++;
    if (this.headLength < HEAD_BYTES) {
      const piece = chunk.subarray(0, HEAD_BYTES - this.headLength);
      this.headParts.push(piece);
      this.headLength += piece.length;
    }
    this.tail = Buffer.from(chunk.length >= TAIL_BYTES ? chunk.subarray(-TAIL_BYTES) : Buffer.concat([this.tail, chunk]).subarray(-TAIL_BYTES));
  }

  /** The identity of what was read so far, with the file's times now (a write after them changes them). */
  async identity(): Promise<string> {
    const now = await this.handle.stat({ bigint: true });
    const head = Buffer.concat(this.headParts);
    return formatIdentity({
      dev: this.opened.dev, ino: this.opened.ino, bytes: this.bytes, lines: isArchive(head) ? undefined : this.newlines,
      head: digest(head), tail: digest(this.tail), prefix: hex(this.prefix.copy()), mtimeNs: now.mtimeNs, ctimeNs: now.ctimeNs,
    });
  }
}

/** The position just after the file's last newline before `size`, or -1 when it has none. */
async function afterLastNewline(handle: FileHandle, size: number): Promise<number> {
  for (let to = size; to > 0;) {
    const from = Math.max(0, to - CHUNK_BYTES);
    const nl = (await readAt(handle, from, to - from)).lastIndexOf(0x0a);
    if (nl >= 0) return from + nl + 1;
    to = from;
  }
  return -1;
}

const BOM = Buffer.from([0xef, 0xbb, 0xbf]);

/** Whether the text before `end` starts as a json document (no line of it is a record by itself). */
async function startsAsDocument(handle: FileHandle, end: number): Promise<boolean> {
  let head = await readAt(handle, 0, Math.min(end, HEAD_BYTES));
  if (head.subarray(0, 3).equals(BOM)) head = head.subarray(3);
  const first = head.toString('utf8').split('\n').find((l) => l.trim() !== '');
  return first !== undefined && detectTextFormat(first) === 'json-document';
}

/**
 * How far a spool file may be read now, or undefined to wait for a later poll. A file is written
 * by someone else while it is read: its last line without a newline is not yet a record (read now,
 * it would become a fake event or a dead letter, then be read again whole). So an unsettled file
 * is read up to its last newline, and a json document (whole only when written to its end) not at
 * all; a settled one (see SettleWatch), or an archive (its own format says whether it is whole), to
 * its end, so a file written without a final newline is still read completely.
 */
export async function readableEnd(handle: FileHandle, size: number, settled: boolean): Promise<number | undefined> {
  if (size === 0 || settled) return size;
  const lastByte = await readAt(handle, size - 1, 1);
  if (lastByte[0] === 0x0a || isArchive(await readAt(handle, 0, 2))) return size;
  const end = await afterLastNewline(handle, size);
  if (end < 0 || (await startsAsDocument(handle, end))) return undefined;
  return end;
}

/** A file is settled when unchanged for `settleMs`: by its modification time, or (for a time in the future) as seen by earlier polls. */
export class SettleWatch {
  private readonly seen = new Map<string, { readonly size: bigint; readonly mtimeNs: bigint; readonly since: number }>();

  constructor(private readonly settleMs: number) {}

  settled(path: string, stats: BigIntStats, now = Date.now()): boolean {
    const unchangedFor = now - Number(stats.mtimeNs / 1_000_000n);
    const before = this.seen.get(path);
    if (before?.size !== stats.size || before.mtimeNs !== stats.mtimeNs) {
      this.seen.set(path, { size: stats.size, mtimeNs: stats.mtimeNs, since: now });
      return unchangedFor >= this.settleMs;
    }
    return unchangedFor >= this.settleMs || now - before.since >= this.settleMs;
  }

  /** Forgets files not listed in this pass (bounded memory in a spool whose names change). */
  keepOnly(listed: ReadonlySet<string>): void {
    for (const p of this.seen.keys()) if (!listed.has(p)) this.seen.delete(p);
  }
}
