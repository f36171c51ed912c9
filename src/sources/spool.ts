/**
 * A local spool directory as a long-running source: every poll lists the directory (recursively,
 * in name order) and reads what is new. Each file has its own checkpoint (its path): records up to
 * the stored position are skipped when the file's head is unchanged, so a file that grows is read
 * on from where it was, and a file replaced under the same name is read whole (duplicates drop by
 * id). A file read to its end and not modified since is not opened again.
 *
 * Writers should drop files with an atomic rename (write elsewhere, then `mv`): a line caught
 * half-written is dead-lettered with its bytes, never silently lost, but it is not read again.
 */
import { stat } from 'node:fs/promises';
import type { Publisher } from '../core/publish.js';
import type { DecodeLimits } from '../decode/limits.js';
import type { Logger } from '../log/logger.js';
import { sleep } from '../util/backoff.js';
import { type FilesReport, publishFiles } from './files.js';
import { localInputs } from './local.js';

export interface SpoolOptions {
  readonly path: string;
  readonly pollIntervalMs: number;
  /** One pass, then return. */
  readonly once: boolean;
  readonly limits?: DecodeLimits;
  /** Paths never read as input (the store's own files, when it lives in the spool). */
  readonly exclude: readonly string[];
}

/** A file's checkpoint, as the store keeps it. */
export interface SpoolCheckpoint {
  readonly identity: string | null;
  readonly position: number;
  readonly complete: boolean;
  readonly updatedAt: number;
}

/** Polls the spool until stopped (or once); what it returns is every pass's files added up. */
export async function runSpool(
  options: SpoolOptions,
  publisher: Publisher,
  checkpoint: (path: string) => SpoolCheckpoint | undefined,
  log: Logger,
  stop: AbortSignal,
): Promise<FilesReport> {
  const total = { started: 0, complete: 0, records: 0 };
  const reported = new Set<string>();
  do {
    const { inputs, skipped } = await localInputs([options.path], undefined, options.exclude);
    for (const s of skipped) {
      if (reported.has(s.path)) continue;
      reported.add(s.path);
      log.warn('spool entry skipped', { path: s.path, reason: s.reason });
    }
    const changed = [];
    for (const input of inputs) {
      const cp = checkpoint(input.name);
      const modifiedMs = await stat(input.name).then((s) => s.mtimeMs, () => Infinity);
      if (cp?.complete && modifiedMs <= cp.updatedAt) continue; // read to its end, untouched since
      changed.push(input);
    }
    if (changed.length > 0) {
      const pass = await publishFiles(changed, publisher, {
        signal: stop,
        limits: options.limits,
        resumeAfter: (source, identity) => {
          const cp = identity === undefined ? undefined : checkpoint(source);
          return cp && cp.identity === identity ? cp.position : undefined;
        },
      });
      await publisher.flush(); // the next pass reads the checkpoints this one moved
      total.started += pass.started;
      total.complete += pass.complete;
      total.records += pass.records;
      log.info('spool pass', { files: changed.length, records: pass.records });
    }
  } while (!options.once && !stop.aborted && (await sleep(options.pollIntervalMs, stop)));
  return total;
}
