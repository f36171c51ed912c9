/**
 * Structured log lines on stderr (one JSON object each) for collectors. Secrets never reach it:
 * callers log names and codes, never headers or credentials, and `redact` masks every form of a
 * known secret (util/secrets.ts) as a last line of defence. C1 controls and U+2028/U+2029 are
 * escaped like C0 ones, so sender-controlled text cannot drive a terminal or split a line.
 */
import { jsonForTerminal } from '../util/terminal-text.js';
import { SECRETS, type Secrets } from '../util/secrets.js';

export type Level = 'debug' | 'info' | 'warn' | 'error';
const ORDER: Record<Level, number> = { debug: 10, info: 20, warn: 30, error: 40 };

/** The line's own keys: a field of the same name (an event's `time`, say) is kept as `field_<name>`, never over them. */
const OWN_KEYS = new Set(['time', 'level', 'msg']);

function withoutOwnKeys(fields: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(fields)) out[OWN_KEYS.has(k) ? `field_${k}` : k] = v;
  return out;
}

export class Logger {
  constructor(
    private readonly out: NodeJS.WritableStream = process.stderr,
    private readonly min: Level = 'info',
    /** Fields on every line (the service: the source's name). */
    private readonly base: Record<string, unknown> = {},
    /** Shared with child loggers, so a secret one learns is masked by all (default: the process's). */
    private readonly secrets: Secrets = SECRETS,
  ) {}

  /** A logger that adds `fields` to every line and shares this one's output and secrets. */
  child(fields: Record<string, unknown>): Logger {
    return new Logger(this.out, this.min, { ...this.base, ...fields }, this.secrets);
  }

  /** Registers values that must never appear in output. */
  addSecrets(...values: (string | undefined)[]): void {
    this.secrets.add(...values);
  }

  redact(text: string): string {
    return this.secrets.mask(text);
  }

  log(level: Level, msg: string, fields: Record<string, unknown> = {}): void {
    if (ORDER[level] < ORDER[this.min]) return;
    // Masked before escaping: a secret holding a C1 control is still found in its raw form.
    this.out.write(`${jsonForTerminal(this.redact(JSON.stringify({ time: new Date().toISOString(), level, msg, ...withoutOwnKeys({ ...this.base, ...fields }) })))}\n`);
  }

  debug(msg: string, fields?: Record<string, unknown>): void {
    this.log('debug', msg, fields);
  }
  info(msg: string, fields?: Record<string, unknown>): void {
    this.log('info', msg, fields);
  }
  warn(msg: string, fields?: Record<string, unknown>): void {
    this.log('warn', msg, fields);
  }
  error(msg: string, fields?: Record<string, unknown>): void {
    this.log('error', msg, fields);
  }
}
