/**
 * Progress for long runs: a single updating line with events/s on a terminal; otherwise a log
 * line every 10 s (plain text, or a structured line through `logLine`). Silent for short runs.
 */
import { printable } from '../util/terminal-text.js';

export class Progress {
  private readonly started = Date.now();
  private last = Date.now();
  private drawn = false;

  constructor(
    private readonly out: NodeJS.WriteStream = process.stderr,
    private readonly label = 'ingest',
    private readonly logLine?: (fields: Record<string, unknown>) => void,
  ) {}

  update(events: number, extra = '', fields: Record<string, unknown> = {}): void {
    const now = Date.now();
    const interval = this.out.isTTY ? 250 : 10_000;
    if (now - this.last < interval || now - this.started < 1000) return;
    this.last = now;
    const secs = (now - this.started) / 1000;
    const rate = Math.round(events / secs);
    // `extra` may name an input (a file name is sender text): shown, never sent to the terminal.
    const text = printable(`mimelog ${this.label}: ${events.toLocaleString('en')} events, ${rate.toLocaleString('en')} events/s, ${secs.toFixed(0)} s${extra ? `, ${extra}` : ''}`);
    if (this.out.isTTY) {
      this.out.write(`\r\x1b[K${text}`);
      this.drawn = true;
    } else if (this.logLine) {
      this.logLine({ events, events_per_s: rate, seconds: Math.round(secs), ...fields });
    } else {
      this.out.write(`${text}\n`);
    }
  }

  done(): void {
    if (this.drawn) this.out.write('\r\x1b[K');
  }
}
