/** The `mimelog` command line. Errors are one line on stderr and a non-zero exit. */
import { Command, CommanderError } from 'commander';
import { EXIT, errorText, exitStatus } from '../util/errors.js';
import { registerCollect } from './collect.js';
import { registerConsole } from './console.js';
import { registerDoctor } from './doctor.js';
import { registerRun } from './run.js';
import { registerIngest } from './ingest.js';
import { registerSimulate } from './simulate.js';
import { registerStoreCommands } from './store-commands.js';

// A reader that stops early (`mimelog stats | head`) closes stdout: stop quietly, but not with 0,
// because what was not read was not delivered (`ingest --sink ndjson`).
// Any other write error (a full disk under `> file`) is a failure too: said in one line, never
// exit 0, since the output is incomplete.
process.stdout.on('error', (err: NodeJS.ErrnoException) => {
  if (err.code !== 'EPIPE') process.stderr.write(`mimelog: cannot write to standard output: ${err.message}\n`);
  process.exit(EXIT.failure);
});

const program = new Command();
program
  .name('mimelog')
  .description('Move Mimecast SIEM logs into a SIEM without losing or duplicating an event')
  .version('0.1.0')
  // Commander's own errors (an unknown option, a value outside an option's choices) as one line,
  // like every other error of mimelog.
  .configureOutput({ outputError: (text, write) => write(`mimelog: ${text.replace(/^error: /, '').trimEnd()} (run with --help for usage)\n`) })
  .exitOverride();
registerIngest(program);
registerStoreCommands(program);
registerCollect(program);
registerSimulate(program);
registerConsole(program);
registerRun(program);
registerDoctor(program);

try {
  await program.parseAsync(process.argv);
} catch (err) {
  if (err instanceof CommanderError) {
    process.exit(err.exitCode === 0 ? EXIT.ok : EXIT.failure);
  }
  process.stderr.write(`mimelog: ${errorText(err)}\n`);
  process.exit(exitStatus(err));
}
