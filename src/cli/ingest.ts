/** `mimelog ingest [options] PATH...` */
import { type Command, Option } from 'commander';
import { DEFAULT_TABLES, type TypeTables, loadTypesFile } from '../classify/type-tables.js';
import { Logger } from '../log/logger.js';
import { FEEDS, feedNamed } from '../mimecast/feeds.js';
import { fstatSync, realpathSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { defaultWorkers } from '../pipeline/driver.js';
import { runInputs } from '../pipeline/run.js';
import { Transformer, type UnknownTypePolicy } from '../pipeline/transform.js';
import { NdjsonSink } from '../sinks/ndjson.js';
import type { Sink } from '../core/sink.js';
import { localInputs } from '../sources/local.js';
import { Store } from '../store/store.js';
import { ENV } from '../config/env.js';
import { EXIT, UsageError } from '../util/errors.js';
import { printable } from '../util/terminal-text.js';
import { addNumberOptions } from './options.js';
import { irregularFile } from '../config/read-file.js';
import { type DecodeLimits, DEFAULT_LIMITS } from '../decode/limits.js';
import type { NumberSettingName } from '../config/settings.js';
import { Progress } from './progress.js';
import { type SinkCliOptions, addSinkOptions, openCliSink } from './sink-options.js';
import { writeOutWritten } from './stdout.js';

export interface PipelineOptions {
  type?: string;
  typesFile?: string;
  original: boolean;
  unknownTypes?: string;
  /** `--workers`: threads that process records; default: every core but one. */
  workers?: number;
}

/** The transformer the options describe, its type tables, and how many threads run it. */
export function buildTransformer(opts: PipelineOptions, storeThread = true): { transformer: Transformer; tables: TypeTables; workers: number } {
  const irregular = opts.typesFile === undefined ? undefined : irregularFile(opts.typesFile); // a FIFO would hang the read
  if (irregular) throw new UsageError(`types file ${opts.typesFile}: ${irregular}`);
  const tables = opts.typesFile ? loadTypesFile(opts.typesFile) : DEFAULT_TABLES;
  // The API 2.0 feeds' records carry no type of their own: exported ones are read with their feed's name.
  if (opts.type !== undefined && !tables.isKnownType(opts.type) && !feedNamed(opts.type)) {
    throw new UsageError(`unknown --type "${opts.type}"; known types: ${tables.specs.map((s) => s.name).join(', ')}; feeds: ${FEEDS.map((f) => f.name).join(', ')}`);
  }
  const unknownTypes = (opts.unknownTypes ?? 'store') as UnknownTypePolicy;
  const transformer = Transformer.fromSpec({ typesFile: opts.typesFile, keepOriginal: opts.original, declaredType: opts.type, unknownTypes }, tables);
  const workers = opts.workers ?? defaultWorkers(availableParallelism(), storeThread);
  return { transformer, tables, workers };
}

export function addPipelineOptions(cmd: Command): Command {
  return cmd
    .option('--type <type>', `declare the log type of inputs that cannot carry one (file name and record type win): a SIEM log type, or a feed's name for its exported records (${FEEDS.map((f) => f.name).join(', ')})`)
    .option('--types-file <path>', 'JSON file extending or replacing the log-type tables')
    .addOption(new Option('--unknown-types <policy>', 'records of unknown type: store (as log_type unknown) or dead-letter (replay them after extending the tables)').choices(['store', 'dead-letter']).default('store'))
    .option('--no-original', 'leave event.original out of the documents');
}

/** `--workers`, for the commands that run sources through the driver. */
export function addWorkersOption(cmd: Command): Command {
  return addNumberOptions(cmd, ['workers']);
}

/** The decoding bounds, each a setting and so an option (see decode/limits.ts). */
const LIMIT_SETTINGS = ['maxRecordBytes', 'maxDocumentBytes', 'maxMemberBytes', 'maxZipBytes', 'maxArchiveDepth', 'maxJsonDepth', 'maxRecordKeys'] as const satisfies readonly (keyof DecodeLimits & NumberSettingName)[];

export type LimitCliOptions = Pick<DecodeLimits, (typeof LIMIT_SETTINGS)[number]>;

export function addLimitOptions(cmd: Command): Command {
  return addNumberOptions(cmd, LIMIT_SETTINGS);
}

export function limitsFrom(o: LimitCliOptions): DecodeLimits {
  const { maxRecordBytes, maxDocumentBytes, maxMemberBytes, maxZipBytes, maxArchiveDepth, maxJsonDepth, maxRecordKeys } = o;
  return { maxRecordBytes, maxDocumentBytes, maxMemberBytes, maxZipBytes, maxArchiveDepth, maxJsonDepth, maxRecordKeys, deadLetterHeadBytes: DEFAULT_LIMITS.deadLetterHeadBytes };
}

/**
 * SIGINT/SIGTERM abort the signal: reading stops at once, what is complete is committed and the
 * command ends. A second signal exits at once (every commit is atomic, so nothing is half-written).
 */
export function stopOnSignals(): AbortController {
  const controller = new AbortController();
  const stop = (signal: NodeJS.Signals) => {
    if (controller.signal.aborted) process.exit(EXIT.interrupted);
    process.stderr.write(`mimelog: ${signal}: stopping after what is complete\n`);
    controller.abort();
  };
  process.on('SIGINT', stop);
  process.on('SIGTERM', stop);
  return controller;
}

/** `--db`, shared by every store command. */
export function addDbOption(cmd: Command): Command {
  return cmd.option('--db <path>', `the embedded store (SQLite file); env ${ENV.db}`, process.env[ENV.db] ?? 'mimelog.db');
}

/** The summary's word for the records a sink kept, where it is not "stored" (the JSON summary keeps the key `stored`). */
const DONE_WORD: Readonly<Record<string, string>> = { ndjson: 'written' };

interface IngestOptions extends PipelineOptions, SinkCliOptions, LimitCliOptions {
  resume: boolean;
  deadLetter: string;
  summary: string;
}

export function registerIngest(program: Command): void {
  const cmd = program
    .command('ingest')
    .description('read Mimecast SIEM log files, directories or stdin (-) and deliver ECS documents')
    .argument('<paths...>', 'files, directories (files in name order) or - for stdin')
    .option('--resume', 'skip what an earlier, interrupted run of the same files already delivered (all sinks but ndjson)', false)
    .option('--dead-letter <path>', 'ndjson sink: file that receives records that cannot be parsed', 'mimelog-dead-letters.ndjson')
    .addOption(new Option('--summary <format>', 'run summary on stderr').choices(['text', 'json', 'none']).default('text'));
  addLimitOptions(addSinkOptions(addDbOption(cmd), 'where documents go (ndjson: standard output)', ['ndjson']));
  addWorkersOption(addPipelineOptions(cmd)).action(async (paths: string[], opts: IngestOptions) => {
    // Only the embedded store's events take a thread of their own (a sink list without sqlite does not).
    const storeThread = opts.sinkConfig !== undefined || opts.sink.split(',').some((k) => k.trim() === 'sqlite');
    const { transformer, workers } = buildTransformer(opts, storeThread);
    const limits = limitsFrom(opts);
    const storeFiles = opts.sink === 'ndjson' ? [opts.deadLetter] : [opts.db, `${opts.db}-wal`, `${opts.db}-shm`, `${opts.db}-journal`];
    const { inputs, skipped } = await localInputs(paths, process.stdin, [...storeFiles, ...standardOutputFile()]);
    for (const s of skipped) process.stderr.write(`mimelog: skipped ${printable(s.path)}: ${s.reason}\n`);
    let sink: Sink;
    let store: Store | undefined;
    if (opts.sink === 'ndjson') sink = new NdjsonSink(writeOutWritten, opts.deadLetter);
    else {
      store = new Store(opts.db); // runs migrations; also reads checkpoints for --resume
      sink = await openCliSink(opts, new Logger(process.stderr, 'info'));
    }
    const progress = new Progress();
    const stop = stopOnSignals();
    const resumeAfter = opts.resume && store
      ? (source: string, identity: string | undefined) => {
          const cp = identity === undefined ? undefined : store!.registry.checkpoint(source);
          return cp && cp.identity === identity ? cp.position : undefined;
        }
      : undefined;
    let summary;
    try {
      summary = await runInputs(inputs, transformer, sink, {
        resumeAfter,
        onUnit: (_u, s) => progress.update(s.records),
        signal: stop.signal,
        limits,
        workers,
      });
    } finally {
      progress.done();
      await sink.close();
      store?.close();
    }
    if (opts.summary === 'text') process.stderr.write(`${summary.format(DONE_WORD[opts.sink] ?? 'stored')}\n`);
    if (opts.summary === 'json') process.stderr.write(`${JSON.stringify(summary.toJSON())}\n`);
    if (summary.sink.deadLetters > 0) {
      // Replay helps when the type tables learn a type; a malformed record stays malformed.
      const hint = summary.unknownTypeDeadLetters > 0 ? ': add their types with --types-file, then mimelog replay' : ', with their bytes and reasons';
      const where = `${opts.sink === 'ndjson' ? opts.deadLetter : opts.db}${hint}`;
      if (opts.summary !== 'none') process.stderr.write(`mimelog: ${summary.sink.deadLetters} records dead-lettered to ${where}\n`);
      process.exitCode = EXIT.deadLettered;
    }
    const unread = inputs.length - summary.inputsComplete;
    if (stop.signal.aborted && unread > 0) {
      process.stderr.write(`mimelog: stopped by a signal with ${unread} of ${inputs.length} inputs not read to the end${opts.resume || opts.sink === 'ndjson' ? '' : ' (run again with --resume to go on)'}\n`);
      process.exitCode = EXIT.interrupted;
    }
  });
}

/**
 * The file standard output is written to, when it is one (`ingest dir --sink ndjson > dir/out.ndjson`):
 * never an input, or the run would read what it writes, without end.
 */
function standardOutputFile(): string[] {
  try {
    return fstatSync(1).isFile() ? [realpathSync('/proc/self/fd/1')] : [];
  } catch {
    return []; // no /proc, or a closed descriptor: nothing to leave out
  }
}
