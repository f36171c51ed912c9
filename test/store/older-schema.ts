/**
 * Test support: a store of the current schema put back as schema 19, 18 or 17 left it, for the upgrade
 * tests (and the tests of older upgrades, which start from 17's tables).
 */
import type Database from 'better-sqlite3';
import { idTag } from '../../src/store/cross-version.js';
import { bareMessageId, wideTextKey } from '../../src/store/documents.js';
import { EventReader, STORED_COLUMNS, type StoredRow } from '../../src/store/event-rows.js';

/** What schema 20 added, taken away: the feed column of dead_letters. */
export function asSchema19(db: Database.Database): void {
  db.exec('ALTER TABLE dead_letters DROP COLUMN feed');
  db.pragma('user_version = 19');
}

/** What schema 19 changed, put back: the aCode, message-id and subject keys as 64 bits (from each rebuilt event's texts), the id's index on its first 8 bytes, the name 'fields' under a code of its own. */
export function asSchema18(db: Database.Database): void {
  asSchema19(db);
  const reader = new EventReader(db);
  const rows = reader.rows(db.prepare(`SELECT ${STORED_COLUMNS} FROM events e`).all() as StoredRow[]);
  const widen = db.prepare('UPDATE events SET acode_key = ?, message_key = ?, subject_key = ? WHERE rowid = ?');
  const key = (kind: Parameters<typeof wideTextKey>[0], text: string | null) => (text === null || text === '' ? null : wideTextKey(kind, text));
  db.transaction(() => {
    for (const r of rows) widen.run(key('acode', r.acode), key('message-id', r.message_id === null ? null : bareMessageId(r.message_id)), key('subject', r.subject), r.rowid);
  })();
  db.exec(`DROP INDEX events_id; CREATE INDEX events_id ON events(substr(id, 1, 8));
    UPDATE names SET code = (SELECT max(code) + 1 FROM names) WHERE name = 'fields';
    UPDATE events SET type_source = (SELECT code FROM names WHERE name = 'fields') WHERE type_source = 0;`);
  db.pragma('user_version = 18');
}

/**
 * What schema 18 changed, put back: `cross_ids` with each row's 16-byte id (a stored event's from
 * its row, a copy's from `cross_copies` by its tag), the time index without the type and the
 * type's own index, the digest in the row.
 */
export function asSchema17(db: Database.Database): void {
  asSchema18(db);
  db.function('test_id_tag', { deterministic: true, safeIntegers: true }, (id) => idTag(id as Buffer));
  // The digest: event.hash's first 64 bits, which are the id's (fingerprint/fingerprint.ts).
  db.function('test_digest', { deterministic: true, safeIntegers: true }, (id) => (id as Buffer).readBigInt64BE(0));
  db.exec(`
    CREATE TABLE cross_ids_17 (key BLOB NOT NULL, api INTEGER NOT NULL, id BLOB NOT NULL, PRIMARY KEY (key, api, id)) WITHOUT ROWID;
    INSERT INTO cross_ids_17 SELECT c.key, c.api, coalesce(e.id, (SELECT k.id FROM cross_copies k WHERE test_id_tag(k.id) = c.event))
      FROM cross_ids c LEFT JOIN events e ON e.rowid = c.event;
    DROP TABLE cross_ids;
    ALTER TABLE cross_ids_17 RENAME TO cross_ids;
    DROP INDEX events_ts;
    CREATE INDEX events_ts ON events(ts, action);
    CREATE INDEX events_type_ts ON events(type, ts);
    ALTER TABLE events ADD COLUMN digest INTEGER NOT NULL DEFAULT 0;
    UPDATE events SET digest = test_digest(id);
  `);
  db.pragma('user_version = 17');
}
