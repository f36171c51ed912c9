/**
 * NDJSON sink: one ECS document per line on a stream (stdout by default), in input order;
 * dead letters appended as JSON lines to a file. No deduplication: that needs a store.
 */
import { type FileHandle, open, stat } from 'node:fs/promises';
import type { Writable } from 'node:stream';
import type { SinkCounts } from '../core/counts.js';
import { type DeadLetter, type Unit, documentJson } from '../core/unit.js';
import type { Sink } from '../core/sink.js';
import { TextDocumentEvent } from '../pipeline/processed-event.js';

/** A dead letter as one JSON line of the dead-letter file (with its API feed, when it came from one). */
export function deadLetterJson(d: DeadLetter): string {
  const raw = typeof d.raw === 'string' ? { raw: d.raw } : { raw_base64: d.raw.toString('base64') };
  const truncated = { ...(d.truncatedFrom === undefined ? {} : { truncated_from: d.truncatedFrom }), ...(d.cutShort ? { cut_short: true } : {}) };
  return JSON.stringify({ source: d.source, position: d.position, reason: d.reason, ...(d.feed === undefined ? {} : { feed: d.feed }), ...raw, ...truncated });
}

/**
 * Where the documents go: resolves only once every byte of `text` (a string, or its UTF-8 bytes)
 * is written, rejects saying why not (a full disk, a file size limit, a closed pipe). A unit is
 * acknowledged only after that, so a write that fails ends the run instead of counting documents
 * that never arrived.
 */
export type TextOutput = (text: string | Uint8Array) => Promise<void>;

/** A stream as a TextOutput: done at the write's callback, which also carries its error. */
function writtenTo(out: Writable): TextOutput {
  return (text) => new Promise((resolve, reject) => out.write(text, (err) => (err ? reject(err) : resolve())));
}

/** Opens the dead-letter file to append; a FIFO is refused (its open would wait for a reader, past SIGTERM). */
async function openDeadLetterFile(path: string): Promise<FileHandle> {
  const existing = await stat(path).catch(() => undefined);
  if (existing?.isFIFO()) throw new Error('it is a FIFO (named pipe), not a file');
  return open(path, 'a', 0o600);
}

/**
 * The unit's documents, one per line: the bytes they were written to where they were processed
 * (pipeline/processed-event.ts), as they are, when the events hold them so; else text.
 */
export function ndjsonOf(unit: Unit): string | Uint8Array {
  const stretches = TextDocumentEvent.ndjson(unit.events);
  if (stretches) return stretches.length === 1 ? stretches[0]! : Buffer.concat(stretches);
  let text = '';
  for (const e of unit.events) text += `${documentJson(e)}\n`;
  return text;
}

export class NdjsonSink implements Sink {
  /** Only the documents' text is read (events need not keep their objects: pipeline/driver.ts). */
  readonly documentsAsText = true;
  private deadLetterFile: FileHandle | undefined;
  private readonly out: TextOutput;

  constructor(
    out: TextOutput | Writable,
    private readonly deadLetterPath: string,
  ) {
    this.out = typeof out === 'function' ? out : writtenTo(out);
  }

  async write(unit: Unit): Promise<SinkCounts> {
    if (unit.events.length > 0) await this.out(ndjsonOf(unit));
    if (unit.deadLetters.length > 0) {
      // Created readable by its owner only: dead letters are raw mail metadata. A failure stops
      // the run (these records are then not acknowledged) with the path and the cause.
      try {
        this.deadLetterFile ??= await openDeadLetterFile(this.deadLetterPath);
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
