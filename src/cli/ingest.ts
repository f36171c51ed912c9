/** `mimelog ingest [options] PATH...` */
import type { Command } from 'commander';
import { Classifier } from '../classify/classify.js';
import { DEFAULT_TABLES, type TypeTables, loadTypesFile } from '../classify/type-tables.js';
import { EcsNormalizer } from '../normalize/ecs.js';
import { runInputs } from '../pipeline/run.js';
import { Transformer } from '../pipeline/transform.js';
import { NdjsonSink } from '../sinks/ndjson.js';
import type { Sink } from '../sinks/sink.js';
import { localInputs } from '../sources/local.js';
import { EXIT, UsageError } from './errors.js';

export interface PipelineOptions {
  type?: string;
  typesFile?: string;
  original: boolean;
}

export function buildTransformer(opts: PipelineOptions): { transformer: Transformer; tables: TypeTables } {
  const tables = opts.typesFile ? loadTypesFile(opts.typesFile) : DEFAULT_TABLES;
  if (opts.type !== undefined && !tables.isKnownType(opts.type)) {
    throw new UsageError(`unknown --type "${opts.type}"; known types: ${tables.specs.map((s) => s.name).join(', ')}`);
  }
  const transformer = new Transformer(new Classifier(tables), new EcsNormalizer({ keepOriginal: opts.original }), opts.type);
  return { transformer, tables };
}

export function addPipelineOptions(cmd: Command): Command {
  return cmd
    .option('--type <type>', 'declare the log type of inputs that cannot carry one (file name and record type win)')
    .option('--types-file <path>', 'JSON file extending or replacing the log-type tables')
    .option('--no-original', 'leave event.original out of the documents');
}

interface IngestOptions extends PipelineOptions {
  sink: string;
  deadLetter: string;
  summary: string;
}

export function registerIngest(program: Command): void {
  const cmd = program
    .command('ingest')
    .description('read Mimecast SIEM log files, directories or stdin (-) and deliver ECS documents')
    .argument('<paths...>', 'files, directories (files in name order) or - for stdin')
    .option('--sink <sink>', 'where documents go: ndjson (stdout)', 'ndjson')
    .option('--dead-letter <path>', 'ndjson sink: file that receives records that cannot be parsed', 'mimelog-dead-letters.ndjson')
    .option('--summary <format>', 'run summary on stderr: text, json or none', 'text');
  addPipelineOptions(cmd).action(async (paths: string[], opts: IngestOptions) => {
    if (!['text', 'json', 'none'].includes(opts.summary)) throw new UsageError(`--summary must be text, json or none`);
    const { transformer } = buildTransformer(opts);
    const inputs = await localInputs(paths);
    let sink: Sink;
    if (opts.sink === 'ndjson') sink = new NdjsonSink(process.stdout, opts.deadLetter);
    else throw new UsageError(`unknown --sink "${opts.sink}" (ndjson)`);
    const summary = await runInputs(inputs, transformer, sink);
    await sink.close();
    if (opts.summary === 'text') process.stderr.write(`${summary.format()}\n`);
    if (opts.summary === 'json') process.stderr.write(`${JSON.stringify(summary.toJSON())}\n`);
    if (summary.sink.deadLetters > 0) {
      if (opts.summary !== 'none') process.stderr.write(`mimelog: ${summary.sink.deadLetters} records dead-lettered to ${opts.deadLetter}\n`);
      process.exitCode = EXIT.deadLettered;
    }
  });
}
