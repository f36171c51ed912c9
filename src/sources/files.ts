/**
 * The local-files source: reads each input (a file, a directory's file, stdin) through the decoder
 * and publishes its batches, each with the input's position and identity as its state. On resume,
 * records up to the stored position are not published again.
 */
import type { LocalInput } from '../core/input.js';
import type { Publisher } from '../core/publish.js';
import { decodeInput } from '../decode/input.js';
import type { DecodeLimits } from '../decode/limits.js';

export interface FilesOptions {
  /**
   * Resume support: the last stored position of a source, given the input's identity now, or
   * undefined to read it whole. Records up to that position are skipped.
   */
  readonly resumeAfter?: (source: string, identity: string | undefined) => number | undefined;
  /** Aborted to stop: decoding stops at once, what is complete is committed, the run ends. */
  readonly signal?: AbortSignal;
  readonly limits?: DecodeLimits;
}

/** Inputs started, those of them read to their end (fewer when the run was stopped), and the records published. */
export interface FilesReport {
  readonly started: number;
  readonly complete: number;
  readonly records: number;
}

export async function publishFiles(inputs: readonly LocalInput[], publisher: Publisher, options: FilesOptions = {}): Promise<FilesReport> {
  let started = 0;
  let records = 0;
  let complete = 0;
  for (const input of inputs) {
    if (options.signal?.aborted) break;
    started++;
    let identity: string | undefined;
    try {
      identity = await input.identity();
    } catch {
      identity = undefined; // unreadable now: decoding reports why, as the input's dead letter
    }
    let readToEnd = false;
    for await (const batch of decodeInput(input.name, input.open(), { limits: options.limits, signal: options.signal })) {
      // Nothing new: leave the checkpoint where it is. (A stream destroyed by the stop before its
      // first byte ends like an empty input: the stop, not the batch, says it was not read.)
      if ((batch.interrupted || options.signal?.aborted) && batch.items.length === 0) break;
      const skip = options.resumeAfter?.(batch.source, identity);
      // A failure of the whole input (position 0) is about the input as it is now: never skipped.
      const items = skip === undefined ? batch.items : batch.items.filter((i) => i.position > skip || i.wholeInput);
      // A resumed stretch with nothing new moves nothing: its checkpoint stays as it was.
      if (skip !== undefined && items.length === 0 && !batch.last && !batch.interrupted) continue;
      await publisher.publish({
        batch: skip === undefined ? batch : { ...batch, items },
        last: batch.last,
        // Never move a checkpoint backwards when a resumed batch is skipped whole.
        minPosition: skip,
        checkpoint: { kind: 'file', identity: input.progress ? await input.progress() : identity },
      });
      records += items.length; // each becomes one event or one dead letter
      readToEnd = batch.last && !batch.interrupted;
      if (batch.interrupted || options.signal?.aborted) break;
    }
    if (readToEnd) complete++;
  }
  return { started, complete, records };
}
