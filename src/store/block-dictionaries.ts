/**
 * Dictionaries for the record blocks (record-blocks.ts). A block deflated alone starts with an
 * empty window: its first records find nothing to repeat. Deflated against a dictionary (the
 * records of an earlier block of the same store) every record finds the key names, domains and
 * values of the tenant's own lines: blocks come out about a seventh smaller.
 *
 * The first block of a store is written without one and becomes the first dictionary (as do the
 * next blocks that are longer, until one fills the 32 KiB deflate can use); every
 * `DICTIONARY_EVERY_BLOCKS` blocks the block just written becomes the next, so the dictionary
 * follows what the store receives (a backfill of one log type, then another). A dictionary is
 * kept deflated in `record_dictionaries` (a few KiB each, one per about 130,000 events); each
 * block names the one it was deflated against (`record_blocks.dictionary`). Retention deletes a
 * dictionary once no block names it (it holds records), except the newest, the writer's.
 */
import type Database from 'better-sqlite3';
import { deflateRawSync, inflateRawSync } from 'node:zlib';
import { DICTIONARY_BYTES } from './record-blocks.js';

/**
 * Schema 14: the dictionaries, and per block the one it was deflated against (NULL: deflated
 * alone, as every older block was). Harmless on a store that has them already.
 */
export function dictionariesMigration(db: Database.Database): void {
  db.exec(`CREATE TABLE IF NOT EXISTS record_dictionaries (
    id INTEGER PRIMARY KEY,
    first_block INTEGER NOT NULL,      -- blocks from this rowid on are deflated against it
    bytes BLOB NOT NULL                -- the dictionary, itself deflated
  )`);
  // record_dictionaries.id; NULL: deflated alone.
  if (!hasDictionaries(db)) db.exec('ALTER TABLE record_blocks ADD COLUMN dictionary INTEGER');
}

/** Whether the store's blocks name a dictionary (schema 14 on; the upgrade to 13 reads blocks before it). */
export function hasDictionaries(db: Database.Database): boolean {
  return (db.prepare("SELECT count(*) FROM pragma_table_info('record_blocks') WHERE name = 'dictionary'").pluck().get() as number) > 0;
}

/** Blocks written against one dictionary before the next block becomes the new one. */
export const DICTIONARY_EVERY_BLOCKS = 1024;

export interface BlockDictionary {
  readonly id: number;
  /** Blocks from this rowid on are deflated against it. */
  readonly firstBlock: number;
  /** Inflated: what deflate is given. */
  readonly bytes: Buffer;
}

/** The writer's side: the dictionary for the next block, and when to start a new one. */
export class DictionaryWriter {
  /** undefined: not read from the store yet; null: the store has none yet. */
  private current: BlockDictionary | null | undefined;
  private readonly latest: Database.Statement;
  private readonly add: Database.Statement;

  constructor(db: Database.Database) {
    this.latest = db.prepare('SELECT id, first_block AS firstBlock, bytes FROM record_dictionaries ORDER BY id DESC LIMIT 1');
    this.add = db.prepare('INSERT INTO record_dictionaries (first_block, bytes) VALUES (?, ?)');
  }

  /** The dictionary to deflate the next block against, if the store has one. */
  forNext(): BlockDictionary | undefined {
    if (this.current === undefined) {
      const row = this.latest.get() as { id: number; firstBlock: number; bytes: Buffer } | undefined;
      this.current = row ? { ...row, bytes: inflateRawSync(row.bytes) } : null;
    }
    return this.current ?? undefined;
  }

  /**
   * After block `rowid` was written from `layout` (its records uncompressed): it becomes the next
   * dictionary when one is due, or when it is longer than a dictionary that is not full (a
   * collector's first writes may hold a few records).
   */
  written(rowid: number, layout: Buffer): void {
    const current = this.forNext();
    const due = !current || rowid + 1 - current.firstBlock >= DICTIONARY_EVERY_BLOCKS;
    const longer = current !== undefined && current.bytes.length < DICTIONARY_BYTES && layout.length > current.bytes.length;
    if (!due && !longer) return;
    const bytes = Buffer.from(layout.subarray(Math.max(0, layout.length - DICTIONARY_BYTES)));
    const id = Number(this.add.run(rowid + 1, deflateRawSync(bytes)).lastInsertRowid);
    this.current = { id, firstBlock: rowid + 1, bytes };
  }

  /** After a rolled-back transaction: a dictionary it added is gone. */
  forget(): void {
    this.current = undefined;
  }
}

/** The reader's side: dictionaries by id, each inflated once; undefined when the store lacks it (a damaged store). */
export class DictionaryReader {
  private readonly known = new Map<number, Buffer | undefined>();
  private readonly load: Database.Statement;

  constructor(db: Database.Database) {
    this.load = db.prepare('SELECT bytes FROM record_dictionaries WHERE id = ?').pluck();
  }

  get(id: number): Buffer | undefined {
    if (!this.known.has(id)) {
      const bytes = this.load.get(id) as Buffer | undefined;
      let inflated: Buffer | undefined;
      try {
        inflated = bytes === undefined ? undefined : inflateRawSync(bytes);
      } catch {
        inflated = undefined;
      }
      this.known.set(id, inflated);
    }
    return this.known.get(id);
  }
}
