/** Drives local inputs (files, directories, stdin) through the pipeline into a sink, counting everything. */
import type { Sink } from '../core/sink.js';
import type { LocalInput } from '../core/input.js';
import type { Publisher } from '../core/publish.js';
import { type FilesOptions, type FilesReport, publishFiles } from '../sources/files.js';
import { Driver, type DriverOptions } from './driver.js';
import type { RunSummary } from './summary.js';
import type { Transformer } from './transform.js';

export type RunOptions = FilesOptions & Omit<DriverOptions, 'kind'>;

export async function runInputs(inputs: readonly LocalInput[], transformer: Transformer, sink: Sink, options: RunOptions = {}): Promise<RunSummary> {
  const driver = new Driver(transformer, sink, { ...options, kind: 'file' });
  const report = await driver.run((publisher) => publishFiles(inputs, publisher, options));
  driver.summary.addInputs(report);
  return driver.summary;
}

/** Runs a source of local files (a spool) through a driver: its summary, with the files it read. */
export async function driveFiles(driver: Driver, source: (publisher: Publisher) => Promise<FilesReport>): Promise<RunSummary> {
  driver.summary.addInputs(await driver.run(source));
  return driver.summary;
}
