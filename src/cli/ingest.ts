/** `mimelog ingest [options] PATH...` */
import type { Command } from 'commander';
import { Classifier } from '../classify/classify.js';
import { DEFAULT_TABLES, type TypeTables, loadTypesFile } from '../classify/type-tables.js';
import { Logger } from '../log/logger.js';
import { EcsNormalizer } from '../normalize/ecs.js';
import { runInputs } from '../pipeline/run.js';
import { Transformer, type UnknownTypePolicy } from '../pipeline/transform.js';
import { NdjsonSink } from '../sinks/ndjson.js';
import type { Sink } from '../sinks/sink.js';
import { localInputs } from '../sources/local.js';
import { Store } from '../store/store.js';
import { EXIT, UsageError } from './errors.js';
import { Progress } from './progress.js';
import { SEARCH_SINKS, type SearchSinkCliOptions, addSearchSinkOptions, openStoreOrSearchSink } from './sink-options.js';

export interface PipelineOptions {
  type?: string;
  typesFile?: string;
  original: boolean;
  unknownTypes?: string;
}

export function buildTransformer(opts: PipelineOptions): { transformer: Transformer; tables: TypeTables } {
  const tables = opts.typesFile ? loadTypesFile(opts.typesFile) : DEFAULT_TABLES;
  if (opts.type !== undefined && !tables.isKnownType(opts.type)) {
    throw new UsageError(`unknown --type "${opts.type}"; known types: ${tables.specs.map((s) => s.name).join(', ')}`);
  }
  const policy = (opts.unknownTypes ?? 'store') as UnknownTypePolicy;
  if (policy !== 'store' && policy !== 'dead-letter') throw new UsageError('--unknown-types must be store or dead-letter');
  const transformer = new Transformer(new Classifier(tables), new EcsNormalizer({ keepOriginal: opts.original }), opts.type, policy);
  return { transformer, tables };
}

export function addPipelineOptions(cmd: Command): Command {
  return cmd
    .option('--type <type>', 'declare the log type of inputs that cannot carry one (file name and record type win)')
    .option('--types-file <path>', 'JSON file extending or replacing the log-type tables')
    .option('--unknown-types <policy>', 'records of unknown type: store (as log_type unknown) or dead-letter (replay them after extending the tables)', 'store')
    .option('--no-original', 'leave event.original out of the documents');
}

/** `--db`, shared by every store command. */
export function addDbOption(cmd: Command): Command {
  return cmd.option('--db <path>', 'the embedded store (SQLite file); env MIMELOG_DB', process.env.MIMELOG_DB ?? 'mimelog.db');
}

interface IngestOptions extends PipelineOptions, SearchSinkCliOptions {
  resume: boolean;
  deadLetter: string;
  summary: string;
}

export function registerIngest(program: Command): void {
  const cmd = program
    .command('ingest')
    .description('read Mimecast SIEM log files, directories or stdin (-) and deliver ECS documents')
    .argument('<paths...>', 'files, directories (files in name order) or - for stdin')
    .option('--sink <sink>', 'where documents go: sqlite (the embedded store), ndjson (stdout), opensearch or elasticsearch', 'sqlite')
    .option('--resume', 'skip what an earlier, interrupted run of the same files already delivered (all sinks but ndjson)', false)
    .option('--dead-letter <path>', 'ndjson sink: file that receives records that cannot be parsed', 'mimelog-dead-letters.ndjson')
    .option('--summary <format>', 'run summary on stderr: text, json or none', 'text');
  addSearchSinkOptions(addDbOption(cmd));
  addPipelineOptions(cmd).action(async (paths: string[], opts: IngestOptions) => {
    if (!['text', 'json', 'none'].includes(opts.summary)) throw new UsageError(`--summary must be text, json or none`);
    const { transformer } = buildTransformer(opts);
    const inputs = await localInputs(paths);
    let sink: Sink;
    let store: Store | undefined;
    if (opts.sink === 'ndjson') sink = new NdjsonSink(process.stdout, opts.deadLetter);
    else {
      if (opts.sink !== 'sqlite' && !(SEARCH_SINKS as readonly string[]).includes(opts.sink)) {
        throw new UsageError(`unknown --sink "${opts.sink}" (sqlite, ndjson, ${SEARCH_SINKS.join(', ')})`);
      }
      store = new Store(opts.db); // runs migrations; also reads checkpoints for --resume
      sink = await openStoreOrSearchSink(opts, new Logger(process.stderr, 'info'));
    }
    const progress = new Progress();
    let stopping = false;
    const stop = () => {
      stopping = true; // finish the unit in hand (it commits whole), then exit cleanly
    };
    process.once('SIGINT', stop);
    process.once('SIGTERM', stop);
    const resumeAfter = opts.resume && store
      ? (source: string, identity: string | undefined) => {
          const cp = identity === undefined ? undefined : store!.checkpoint(source);
          return cp && cp.identity === identity ? cp.position : undefined;
        }
      : undefined;
    const summary = await runInputs(inputs, transformer, sink, {
      resumeAfter,
      onUnit: (_u, s) => progress.update(s.records),
      shouldStop: () => stopping,
    });
    progress.done();
    await sink.close();
    store?.close();
    if (opts.summary === 'text') process.stderr.write(`${summary.format()}\n`);
    if (opts.summary === 'json') process.stderr.write(`${JSON.stringify(summary.toJSON())}\n`);
    if (summary.sink.deadLetters > 0) {
      const where = opts.sink === 'ndjson' ? opts.deadLetter : `${opts.db} (mimelog replay)`;
      if (opts.summary !== 'none') process.stderr.write(`mimelog: ${summary.sink.deadLetters} records dead-lettered to ${where}\n`);
      process.exitCode = EXIT.deadLettered;
    }
    if (stopping) process.stderr.write('mimelog: stopped by signal after a complete unit\n');
  });
}
