/**
 * What the store's parts cost (issue 31): each cut that made the store smaller or its writer
 * faster, held by a measure that moves back if the cut is undone.
 */
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { takeEvents, toKeyValueLine } from '../../src/simulator/generate.js';
import { compressLayout, layoutRecords } from '../../src/store/record-blocks.js';
import { Store } from '../../src/store/store.js';
import { processInput, tempDir } from '../support/helpers.js';

const lines = takeEvents({ seed: 2026, startMs: Date.UTC(2026, 10, 1) }, 128 * 21).map(toKeyValueLine);

describe('store size', () => {
  it('deflates record blocks at the best level: 128 simulator records against a dictionary, under 48.5 bytes each', () => {
    const block = (i: number) => layoutRecords(lines.slice(i * 128, (i + 1) * 128).map((raw) => ({ raw, format: 'key_value' as const })));
    const dictionary = block(0).subarray(-32 * 1024);
    let bytes = 0;
    for (let i = 1; i <= 20; i++) bytes += compressLayout(block(i), dictionary).length;
    const perRecord = bytes / (20 * 128);
    assert.ok(perRecord < 48.5, `${perRecord.toFixed(1)} bytes a record`);
  });

  it('makes a new store of 2 KiB pages (schema 19) that gives freed pages back, and lets its WAL grow to 65,536 pages (128 MiB) before a checkpoint copies them into the file, and removes it at close', async () => {
    const path = join(tempDir('wal'), 's.db');
    const store = new Store(path);
    try {
      assert.equal(store.db.pragma('wal_autocheckpoint', { simple: true }), 65_536);
      assert.equal(store.db.pragma('page_size', { simple: true }), 2048, 'set before auto_vacuum, or SQLite keeps 4 KiB');
      assert.equal(store.db.pragma('auto_vacuum', { simple: true }), 2, 'incremental');
      store.writeUnit(await processInput('a.log', lines.slice(0, 500).join('\n')));
      // How a key_value line's type is decided, on nearly every row: code 0, kept in no bytes (schema 19).
      assert.equal(store.db.prepare("SELECT count(*) FROM events WHERE type_source = 0").pluck().get(), 500);
    } finally {
      store.close();
    }
    assert.equal(existsSync(`${path}-wal`), false, 'closing checkpoints the WAL into the file and removes it');
    const reopened = new Store(path, { readonly: true });
    assert.equal(reopened.db.prepare('SELECT count(*) FROM events').pluck().get(), 500);
    reopened.close();
  });
});
