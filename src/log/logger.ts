/**
 * Structured log lines on stderr (one JSON object each) for collectors. Secrets never reach it:
 * callers log names and codes, never headers or credentials, and `redact` masks any value that
 * equals a known secret as a last line of defence.
 */
export type Level = 'debug' | 'info' | 'warn' | 'error';
const ORDER: Record<Level, number> = { debug: 10, info: 20, warn: 30, error: 40 };

export class Logger {
  constructor(
    private readonly out: NodeJS.WritableStream = process.stderr,
    private readonly min: Level = 'info',
    /** Fields on every line (the service: the source's name). */
    private readonly base: Record<string, unknown> = {},
    /** Shared with child loggers, so a secret one learns is masked by all. */
    private readonly secrets: string[] = [],
  ) {}

  /** A logger that adds `fields` to every line and shares this one's output and secrets. */
  child(fields: Record<string, unknown>): Logger {
    return new Logger(this.out, this.min, { ...this.base, ...fields }, this.secrets);
  }

  /** Registers values that must never appear in output. */
  addSecrets(...values: string[]): void {
    for (const v of values) if (v && v.length >= 4) this.secrets.push(v);
  }

  redact(text: string): string {
    let out = text;
    for (const s of this.secrets) out = out.split(s).join('[redacted]');
    return out;
  }

  log(level: Level, msg: string, fields: Record<string, unknown> = {}): void {
    if (ORDER[level] < ORDER[this.min]) return;
    this.out.write(`${this.redact(JSON.stringify({ time: new Date().toISOString(), level, msg, ...this.base, ...fields }))}\n`);
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
