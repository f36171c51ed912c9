/** Drives inputs through the pipeline into a sink, one unit at a time, counting everything. */
import { decodeInput } from '../decode/input.js';
import type { DecodeLimits } from '../decode/limits.js';
import type { Sink } from '../core/sink.js';
import type { LocalInput } from '../core/input.js';
import { AckWindow } from './ack-window.js';
import { RunSummary } from './summary.js';
import type { Unit } from '../core/unit.js';
import type { Transformer } from './transform.js';

export interface RunOptions {
  /**
   * Resume support: the last stored position of a source, given the input's identity now, or
   * undefined to read it whole. Records up to that position are skipped.
   */
  readonly resumeAfter?: (source: string, identity: string | undefined) => number | undefined;
  /** Called after each unit is acknowledged (progress display). */
  readonly onUnit?: (unit: Unit, summary: RunSummary) => void;
  /** Aborted to stop: decoding stops at once, what is complete is committed, the run ends. */
  readonly signal?: AbortSignal;
  readonly limits?: DecodeLimits;
  /** Counts into this summary (a source that runs many passes keeps one); default: a new one. */
  readonly summary?: RunSummary;
}

export async function runInputs(inputs: readonly LocalInput[], transformer: Transformer, sink: Sink, options: RunOptions = {}): Promise<RunSummary> {
  const summary = options.summary ?? new RunSummary();
  const window = new AckWindow();
  const send = (unit: Unit, identity: string | undefined) =>
    window.push(
      sink.write(unit, identity === undefined ? undefined : { identity }).then((counts) => {
        summary.addSink(counts);
        options.onUnit?.(unit, summary);
      }),
    );
  try {
    await runAll(inputs, transformer, options, summary, send);
  } finally {
    await window.settle();
  }
  await window.drain();
  return summary;
}

async function runAll(
  inputs: readonly LocalInput[],
  transformer: Transformer,
  options: RunOptions,
  summary: RunSummary,
  send: (unit: Unit, identity: string | undefined) => Promise<void>,
): Promise<void> {
  for (const input of inputs) {
    if (options.signal?.aborted) break;
    summary.inputs++;
    let identity: string | undefined;
    try {
      identity = await input.identity();
    } catch {
      identity = undefined; // unreadable now: decoding reports why, as the input's dead letter
    }
    let complete = false;
    for await (const batch of decodeInput(input.name, input.open(), { limits: options.limits, signal: options.signal })) {
      if (batch.interrupted && batch.items.length === 0) break; // nothing new: leave the checkpoint where it is
      const skip = options.resumeAfter?.(batch.source, identity);
      const items = skip === undefined ? batch.items : batch.items.filter((i) => i.position > skip);
      const processed = transformer.process({ ...batch, items });
      // Never move a checkpoint backwards when a resumed batch is skipped whole.
      const unit = skip === undefined ? processed : { ...processed, position: Math.max(processed.position, skip) };
      summary.countUnit(unit);
      await send(unit, identity);
      complete = batch.last && !batch.interrupted;
      if (batch.interrupted || options.signal?.aborted) break;
    }
    if (complete) summary.inputsComplete++;
  }
}
