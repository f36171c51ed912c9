/**
 * NDJSON sink: one ECS document per line on a stream (stdout by default), in input order;
 * dead letters appended as JSON lines to a file. No deduplication: that needs a store.
 */
import { type WriteStream, createWriteStream } from 'node:fs';
import type { Writable } from 'node:stream';
import type { SinkCounts } from '../pipeline/summary.js';
import type { DeadLetter, Unit } from '../pipeline/transform.js';
import type { Sink } from './sink.js';

export function deadLetterJson(d: DeadLetter): string {
  const raw = typeof d.raw === 'string' ? { raw: d.raw } : { raw_base64: d.raw.toString('base64') };
  return JSON.stringify({ source: d.source, position: d.position, reason: d.reason, ...raw });
}

function writeAll(out: Writable, text: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const ok = out.write(text, (err) => (err ? reject(err) : undefined));
    if (ok) resolve();
    else out.once('drain', resolve);
  });
}

export class NdjsonSink implements Sink {
  private deadLetterFile: WriteStream | undefined;

  constructor(
    private readonly out: Writable,
    private readonly deadLetterPath: string,
  ) {}

  async write(unit: Unit): Promise<SinkCounts> {
    if (unit.events.length > 0) {
      let text = '';
      for (const e of unit.events) text += `${JSON.stringify(e.doc)}\n`;
      await writeAll(this.out, text);
    }
    if (unit.deadLetters.length > 0) {
      this.deadLetterFile ??= createWriteStream(this.deadLetterPath, { flags: 'a' });
      await writeAll(this.deadLetterFile, unit.deadLetters.map((d) => `${deadLetterJson(d)}\n`).join(''));
    }
    return { stored: unit.events.length, duplicates: 0, collisions: 0, deadLetters: unit.deadLetters.length };
  }

  async close(): Promise<void> {
    const file = this.deadLetterFile;
    if (file) await new Promise<void>((resolve, reject) => file.end((err?: Error | null) => (err ? reject(err) : resolve())));
  }
}
