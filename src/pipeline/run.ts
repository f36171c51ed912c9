/** Drives inputs through the pipeline into a sink, one unit at a time, counting everything. */
import { decodeInput } from '../decode/input.js';
import type { Sink } from '../sinks/sink.js';
import type { LocalInput } from '../sources/local.js';
import { RunSummary } from './summary.js';
import type { Transformer, Unit } from './transform.js';

export interface RunOptions {
  /** Called after each unit is acknowledged (progress display). */
  readonly onUnit?: (unit: Unit, summary: RunSummary) => void;
}

export async function runInputs(inputs: readonly LocalInput[], transformer: Transformer, sink: Sink, options: RunOptions = {}): Promise<RunSummary> {
  const summary = new RunSummary();
  for (const input of inputs) {
    summary.inputs++;
    for await (const batch of decodeInput(input.name, input.open())) {
      const unit = transformer.process(batch);
      summary.countUnit(unit);
      summary.addSink(await sink.write(unit));
      options.onUnit?.(unit, summary);
    }
  }
  return summary;
}
