/**
 * NDJSON sink: one ECS document per line on a stream (stdout by default), in input order;
 * dead letters appended as JSON lines to a file. No deduplication: that needs a store.
 */
import { type FileHandle, open } from 'node:fs/promises';
import type { Writable } from 'node:stream';
import type { SinkCounts } from '../core/counts.js';
import { type DeadLetter, type Unit, documentJson } from '../core/unit.js';
import type { Sink } from '../core/sink.js';

export function deadLetterJson(d: DeadLetter): string {
  const raw = typeof d.raw === 'string' ? { raw: d.raw } : { raw_base64: d.raw.toString('base64') };
  const truncated = { ...(d.truncatedFrom === undefined ? {} : { truncated_from: d.truncatedFrom }), ...(d.cutShort ? { cut_short: true } : {}) };
  return JSON.stringify({ source: d.source, position: d.position, reason: d.reason, ...raw, ...truncated });
}

function writeAll(out: Writable, text: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const ok = out.write(text, (err) => (err ? reject(err) : undefined));
    if (ok) resolve();
    else out.once('drain', resolve);
  });
}

export class NdjsonSink implements Sink {
  private deadLetterFile: FileHandle | undefined;

  constructor(
    private readonly out: Writable,
    private readonly deadLetterPath: string,
  ) {}

  async write(unit: Unit): Promise<SinkCounts> {
    if (unit.events.length > 0) {
      let text = '';
      for (const e of unit.events) text += `${documentJson(e)}\n`;
      await writeAll(this.out, text);
    }
    if (unit.deadLetters.length > 0) {
      // Created readable by its owner only: dead letters are raw mail metadata. A failure stops
      // the run (these records are then not acknowledged) with the path and the cause.
      try {
        this.deadLetterFile ??= await open(this.deadLetterPath, 'a', 0o600);
        await this.deadLetterFile.appendFile(unit.deadLetters.map((d) => `${deadLetterJson(d)}\n`).join(''));
      } catch (err) {
        throw new Error(`cannot write dead letters to ${this.deadLetterPath}: ${(err as Error).message}`);
      }
    }
    return { stored: unit.events.length, duplicates: 0, collisions: 0, deadLetters: unit.deadLetters.length };
  }

  async close(): Promise<void> {
    await this.deadLetterFile?.close();
    this.deadLetterFile = undefined;
  }
}
