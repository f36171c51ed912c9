/** `mimelog run --config FILE`: the long-running service (see src/service/). */
import type { Command } from 'commander';
import { Logger, type Level } from '../log/logger.js';
import { ConfigError, loadConfig } from '../service/config.js';
import { startService } from '../service/run.js';
import { EXIT, UsageError } from './errors.js';

export function registerRun(program: Command): void {
  program
    .command('run')
    .description('run every source of a config file until stopped, with /healthz, /readyz and /metrics (see the README: "Running as a service")')
    .requiredOption('--config <file>', 'the YAML config file')
    .option('--check', 'validate the config file and exit')
    .option('--once', 'stop each source once it is caught up, then exit (a failed source is not retried)')
    .action(async (o: { config: string; check?: boolean; once?: boolean }) => {
      let config;
      try {
        config = loadConfig(o.config, process.env);
      } catch (err) {
        if (!(err instanceof ConfigError)) throw err;
        // Every problem at once, one per line: the fix of each is in its line.
        process.stderr.write(`mimelog: ${err.message}\n`);
        process.exitCode = EXIT.failure;
        return;
      }
      if (o.check) {
        process.stdout.write(`${o.config}: ok, ${config.sources.length} sources (${config.sources.map((s) => `${s.name}: ${s.kind}`).join(', ')}); sink ${config.sink.kind}; store ${config.store}; listen ${config.listen}\n`);
        return;
      }
      const log = new Logger(process.stderr, config.log_level as Level);
      const stop = new AbortController();
      const onSignal = (signal: string) => {
        log.info('signal received: finishing the units in hand, then stopping', { signal });
        stop.abort();
      };
      process.once('SIGINT', () => onSignal('SIGINT'));
      process.once('SIGTERM', () => onSignal('SIGTERM'));
      let service;
      try {
        service = await startService(config, log, stop.signal, { once: o.once ?? false });
      } catch (err) {
        throw new UsageError(log.redact((err as Error).message));
      }
      const result = await service.done;
      log.info('service stopped', { sources: result.sources });
      if (result.sources.some((s) => s.failure !== undefined)) process.exitCode = EXIT.failure;
      else if (result.sources.some((s) => s.dead_letters > 0)) process.exitCode = EXIT.deadLettered;
    });
}
