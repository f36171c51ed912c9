/**
 * A local spool directory as a long-running source: every poll lists the directory (recursively,
 * in name order) and reads what is new. Each file has its own checkpoint (its path) whose identity
 * says what was read of it (sources/spool-file.ts): a file that grew is read on after the complete
 * lines committed, a file replaced, rewritten or cut is read whole (duplicates drop by id), and a
 * file read to its end and unchanged since is not read again.
 *
 * Only regular files inside the directory are read (sources/spool-walk.ts): links leading out,
 * hard links, FIFOs, sockets and devices are refused, each with one warning per path and a count.
 *
 * Writers should drop files with an atomic rename (write elsewhere, then `mv`). A file may still be
 * written while it is read: its last line without a newline is left for a later poll (the commit
 * ends after the last complete line), until the file is settled (unchanged for a poll interval,
 * and at least SETTLE_FLOOR_MS): then it is read to its end, a last line without newline included.
 */
import type { Publisher } from '../core/publish.js';
import type { DecodeLimits } from '../decode/limits.js';
import type { Logger } from '../log/logger.js';
import { sleep } from '../util/backoff.js';
import { type FilesReport, publishFiles } from './files.js';
import { type FileCheckpoint, SettleWatch, TrackedRead, planRead, readableEnd } from './spool-file.js';
import { type Refusal, type RefusalReason, type SpoolEntry, type SpoolListing, listSpool, openSpoolFile } from './spool-walk.js';

export interface SpoolOptions {
  readonly path: string;
  readonly pollIntervalMs: number;
  /** One pass, then return. */
  readonly once: boolean;
  readonly limits?: DecodeLimits;
  /** Paths never read as input (the store's own files, when it lives in the spool). */
  readonly exclude: readonly string[];
}

/** A writer pausing mid-line for less than this never has its half line read as a record. */
const SETTLE_FLOOR_MS = 10_000;

/** A file's checkpoint, as the store keeps it. */
export type SpoolCheckpoint = FileCheckpoint;

/** Counts what the spool refuses to read (the service's metrics). */
export interface SpoolObserver {
  refused(reason: RefusalReason): void;
}

/** Warns once per path and reason (a refused file is listed again at every poll), and counts it then. */
class RefusalReport {
  private readonly warned = new Map<string, RefusalReason>();

  constructor(private readonly log: Logger, private readonly observer?: SpoolObserver) {}

  note(r: Refusal, seenThisPass: Set<string>): void {
    seenThisPass.add(r.path);
    if (this.warned.get(r.path) === r.reason) return;
    this.warned.set(r.path, r.reason);
    this.log.warn('spool entry refused', { path: r.path, reason: r.reason, detail: r.text });
    this.observer?.refused(r.reason);
  }

  /** Forgets paths not refused this pass, so a path refused again later is reported again. */
  endPass(seenThisPass: Set<string>): void {
    for (const p of this.warned.keys()) if (!seenThisPass.has(p)) this.warned.delete(p);
  }
}

/** Polls the spool until stopped (or once); what it returns is every pass's files added up. */
export async function runSpool(
  options: SpoolOptions,
  publisher: Publisher,
  checkpoint: (path: string) => SpoolCheckpoint | undefined,
  log: Logger,
  stop: AbortSignal,
  observer?: SpoolObserver,
): Promise<FilesReport> {
  const total = { started: 0, complete: 0, records: 0 };
  const refusals = new RefusalReport(log, observer);
  const settle = new SettleWatch(Math.max(options.pollIntervalMs, SETTLE_FLOOR_MS));
  do {
    const listing = await listSpool(options.path, options.exclude);
    const refusedNow = new Set<string>();
    for (const r of listing.refused) refusals.note(r, refusedNow);
    let files = 0;
    const pass = { started: 0, complete: 0, records: 0 };
    for (const entry of listing.files) {
      if (stop.aborted) break;
      const read = await readSpoolFile(entry, listing, publisher, checkpoint, options, stop, settle);
      if (read === undefined) continue;
      if ('path' in read) {
        refusals.note(read, refusedNow);
        continue;
      }
      files++;
      pass.started += read.started;
      pass.complete += read.complete;
      pass.records += read.records;
    }
    refusals.endPass(refusedNow);
    settle.keepOnly(new Set(listing.files.map((f) => f.path)));
    if (files > 0) {
      await publisher.flush(); // the next pass reads the checkpoints this one moved
      total.started += pass.started;
      total.complete += pass.complete;
      total.records += pass.records;
      log.info('spool pass', { files, records: pass.records });
    }
  } while (!options.once && !stop.aborted && (await sleep(options.pollIntervalMs, stop)));
  return total;
}

/** Opens, checks and reads one listed file as its checkpoint asks: its report, a refusal, or undefined when there was nothing to read. */
async function readSpoolFile(
  entry: SpoolEntry,
  listing: SpoolListing,
  publisher: Publisher,
  checkpoint: (path: string) => SpoolCheckpoint | undefined,
  options: SpoolOptions,
  stop: AbortSignal,
  settle: SettleWatch,
): Promise<FilesReport | Refusal | undefined> {
  const opened = await openSpoolFile(entry, listing);
  if ('gone' in opened) return undefined;
  if ('refused' in opened) return opened.refused;
  const { handle, stats } = opened;
  try {
    const plan = await planRead(handle, stats, checkpoint(entry.path));
    if (plan.kind === 'skip') return undefined;
    const end = await readableEnd(handle, Number(stats.size), settle.settled(entry.path, stats));
    // Nothing complete yet, or nothing complete beyond what was read: a later poll reads it.
    if (end === undefined || (plan.kind === 'resume' && end <= plan.readBefore)) return undefined;
    const reader = new TrackedRead(handle, stats, end);
    const input = { name: entry.path, open: () => reader.chunks(), identity: async () => undefined, progress: () => reader.identity() };
    return await publishFiles([input], publisher, {
      signal: stop,
      limits: options.limits,
      resumeAfter: plan.kind === 'resume' ? (source) => (source === entry.path ? plan.after : undefined) : undefined,
    });
  } finally {
    await handle.close();
  }
}
