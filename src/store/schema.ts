/**
 * The embedded store's schema, as ordered migrations. `PRAGMA user_version` holds how many
 * have run; opening a database runs the rest in one transaction. Never edit a shipped
 * migration: add one. A migration is SQL, or a function when rows must be rewritten.
 */
import type Database from 'better-sqlite3';
import { compactEvents } from './compact-events.js';
import { crossIdsByEvent, crossIdsMigration } from './cross-version.js';
import { dictionariesMigration } from './block-dictionaries.js';
import { feedOfPageSource } from '../sources/mimecast-v2/feeds.js';

/**
 * The page size of a store made from schema 19 on (an older store keeps its 4 KiB): a record block
 * (about 6 KiB) keeps its last part on a table page, and half of such a page went unused (docs/store.md).
 */
export const NEW_STORE_PAGE_SIZE = 2048;

export type Migration = string | ((db: Database.Database) => void);

/**
 * Schema 20: `dead_letters.feed`, and the feed of each older row whose source names a page of a
 * feed this store collected (its name begins with a checkpoint of that feed): a file named like
 * a page, in a store that never collected that feed, stays without one.
 */
function deadLetterFeeds(db: Database.Database): void {
  db.exec('ALTER TABLE dead_letters ADD COLUMN feed TEXT');
  const feedCheckpoints = new Set(db.prepare("SELECT source FROM checkpoints WHERE kind = 'mimecast-v2-feed'").pluck().all() as string[]);
  const setFeed = db.prepare('UPDATE dead_letters SET feed = ? WHERE source = ?');
  for (const source of db.prepare("SELECT DISTINCT source FROM dead_letters WHERE source LIKE 'mimecast-v2-feed %'").pluck().all() as string[]) {
    const page = feedOfPageSource(source);
    if (page !== undefined && feedCheckpoints.has(page.checkpoint)) setFeed.run(page.feed, source);
  }
}

export const MIGRATIONS: readonly Migration[] = [
  // 1: events, addresses, full-text subject, collisions, dead letters, checkpoints, counters, drift.
  `
  CREATE TABLE events (
    rowid INTEGER PRIMARY KEY,
    id TEXT NOT NULL UNIQUE,           -- event.id (fingerprint)
    hash TEXT NOT NULL,                -- event.hash: full content digest, compared on id conflicts
    ts INTEGER NOT NULL,               -- event time, ms since the epoch (UTC)
    log_type TEXT NOT NULL,
    log_type_source TEXT NOT NULL,
    acode TEXT,
    message_id TEXT,
    sender TEXT,
    recipients TEXT,                   -- comma-separated; searchable through event_addresses
    subject TEXT,
    direction TEXT,
    action TEXT,
    doc TEXT NOT NULL,                 -- ECS document without event.original
    original TEXT,                     -- the raw record (event.original)
    source TEXT NOT NULL,              -- where it was first seen
    position INTEGER NOT NULL
  );
  CREATE INDEX events_ts ON events(ts);
  CREATE INDEX events_type_ts ON events(log_type, ts);
  CREATE INDEX events_acode ON events(acode) WHERE acode IS NOT NULL;
  CREATE INDEX events_message_id ON events(message_id) WHERE message_id IS NOT NULL;
  CREATE INDEX events_action_ts ON events(action, ts) WHERE action IS NOT NULL;
  CREATE TABLE event_addresses (
    address TEXT NOT NULL COLLATE NOCASE,
    event INTEGER NOT NULL REFERENCES events(rowid),
    role TEXT NOT NULL,                -- from | to
    PRIMARY KEY (address, event, role)
  ) WITHOUT ROWID;
  -- Filled once per unit by the store (cheaper than a per-row trigger).
  CREATE VIRTUAL TABLE events_fts USING fts5(subject, content='events', content_rowid='rowid');
  CREATE TABLE collisions (
    rowid INTEGER PRIMARY KEY,
    id TEXT NOT NULL,
    stored_hash TEXT NOT NULL,
    new_hash TEXT NOT NULL,
    stored_doc TEXT NOT NULL,
    new_doc TEXT NOT NULL,
    new_original TEXT,
    source TEXT NOT NULL,
    position INTEGER NOT NULL,
    seen_at INTEGER NOT NULL
  );
  CREATE TABLE dead_letters (
    rowid INTEGER PRIMARY KEY,
    source TEXT NOT NULL,
    position INTEGER NOT NULL,
    reason TEXT NOT NULL,
    raw BLOB NOT NULL,
    raw_is_text INTEGER NOT NULL,
    raw_digest TEXT NOT NULL,          -- SHA-256 of raw: the same bad record read twice is kept once
    created_at INTEGER NOT NULL,
    replay_attempts INTEGER NOT NULL DEFAULT 0,
    UNIQUE (source, position, raw_digest)
  );
  CREATE TABLE checkpoints (
    source TEXT PRIMARY KEY,
    position INTEGER NOT NULL,         -- last record position stored
    complete INTEGER NOT NULL,         -- 1 when the whole input was stored
    identity TEXT,                     -- what the input looked like (size, head digest)
    cursor TEXT,                       -- collectors: the API cursor (e.g. mc-siem-token)
    updated_at INTEGER NOT NULL
  );
  CREATE TABLE counters (name TEXT PRIMARY KEY, value INTEGER NOT NULL) WITHOUT ROWID;
  CREATE TABLE drift_keys (key TEXT PRIMARY KEY, count INTEGER NOT NULL, last_seen INTEGER NOT NULL) WITHOUT ROWID;
  `,
  // 2: a durable work queue (API 2.0 batch files): one row per item, its state moved in the
  // same transaction as the item's events.
  `
  CREATE TABLE work_items (
    stream TEXT NOT NULL,              -- e.g. "mimecast-v2 <origin> receipt"
    key TEXT NOT NULL,                 -- the item (file object key, stable across re-listing)
    state TEXT NOT NULL,               -- done | dead (pending: listed, not stored yet; aged-out: gone at Mimecast first)
    detail TEXT,
    updated_at INTEGER NOT NULL,
    PRIMARY KEY (stream, key)
  ) WITHOUT ROWID;
  `,
  // 3: the queue shows what is listed but not yet stored (state pending, its page token and URL
  // expiry); checkpoints remember the newest event time they carried, for the lag in `stats`.
  `
  ALTER TABLE work_items ADD COLUMN page_token TEXT;
  ALTER TABLE work_items ADD COLUMN expires_at TEXT;
  ALTER TABLE checkpoints ADD COLUMN newest_event_ms INTEGER;
  `,
  // 4: dead letters whose bytes are not a whole record, which replay leaves alone: over the
  // record bound only their head is kept (truncated_from: how long the record was); a line in
  // hand when its input broke may be cut short (cut_short).
  `
  ALTER TABLE dead_letters ADD COLUMN truncated_from INTEGER;
  ALTER TABLE dead_letters ADD COLUMN cut_short INTEGER NOT NULL DEFAULT 0;
  `,
  // 5: events per UTC hour, log type and how the type was decided, kept in the unit's transaction,
  // so that stats and the console's overview read a few rows instead of scanning every event.
  `
  CREATE TABLE event_counts (
    hour INTEGER NOT NULL,             -- floor(event time / 1 h): hours since the epoch, UTC
    log_type TEXT NOT NULL,
    type_source TEXT NOT NULL,
    events INTEGER NOT NULL,
    PRIMARY KEY (hour, log_type, type_source)
  ) WITHOUT ROWID;
  INSERT INTO event_counts (hour, log_type, type_source, events)
    SELECT (ts - ((ts % 3600000) + 3600000) % 3600000) / 3600000, log_type, log_type_source, count(*) FROM events WHERE true GROUP BY 1, 2, 3;
  `,
  // 6: gaps: an interval whose events aged out at Mimecast before they were collected, recorded in
  // the same transaction as the checkpoint move that steps over it. Never deleted by mimelog.
  `
  CREATE TABLE gaps (
    rowid INTEGER PRIMARY KEY,
    source TEXT NOT NULL,              -- the checkpoint (API stream) it belongs to
    from_ms INTEGER NOT NULL,          -- the newest event stored before it (exclusive)
    to_ms INTEGER NOT NULL,            -- the oldest event still held after it (exclusive)
    reason TEXT NOT NULL,
    recorded_at INTEGER NOT NULL
  );
  `,
  // 7: a gap may belong to one log type (API 2.0 batch files and API 1.0 files are per type, so
  // per type the lost interval is exact); per checkpoint, the newest event of each log type it
  // carried, where such a gap begins.
  `
  ALTER TABLE gaps ADD COLUMN log_type TEXT;
  CREATE TABLE checkpoint_types (
    source TEXT NOT NULL,              -- the checkpoint
    log_type TEXT NOT NULL,
    newest_ms INTEGER NOT NULL,        -- the newest event of that type stored through it
    PRIMARY KEY (source, log_type)
  ) WITHOUT ROWID;
  `,
  // 8: retention passes (events older than N days removed; see retention.ts), for stats and proof
  // of what was removed on purpose. Stores created from now on give freed pages back (auto_vacuum
  // is set before this first migration runs; see store.ts).
  `
  CREATE TABLE retention_passes (
    rowid INTEGER PRIMARY KEY,
    ran_at INTEGER NOT NULL,
    cutoff_ms INTEGER NOT NULL,        -- events with a time before this were removed
    events_removed INTEGER NOT NULL
  );
  `,
  // 9: compact events (see compact-events.ts): records in compressed blocks, documents rebuilt on read.
  compactEvents,
  // 10: each checkpoint says what kind of source it follows (core/sink.ts SOURCE_KINDS), so no
  // reader tells API streams from files by their names. Older rows get it from the name the
  // collectors gave them, once, here.
  `
  ALTER TABLE checkpoints ADD COLUMN kind TEXT NOT NULL DEFAULT 'file';
  UPDATE checkpoints SET kind = CASE
    WHEN source LIKE 'mimecast-v2-feed %' THEN 'mimecast-v2-feed'
    WHEN source LIKE 'mimecast-v2-stream %' THEN 'mimecast-v2-stream'
    WHEN source LIKE 'mimecast-v2 %' THEN 'mimecast-v2'
    WHEN source LIKE 'mimecast-v1 %' THEN 'mimecast-v1'
    ELSE 'file' END;
  `,
  // 11: per checkpoint, the events whose own time was not believed (after now + 5 min, or before
  // 2000; core/trusted-time.ts): stored, but used for no cursor, gap bound or lag.
  `
  ALTER TABLE checkpoints ADD COLUMN untrusted_time_events INTEGER NOT NULL DEFAULT 0;
  `,
  // 12: what each destination outside the store (sinks/destination.ts) acknowledged, recognised
  // as held, refused and had sent again: moved in the same transaction as the unit's checkpoint.
  `
  CREATE TABLE destination_counts (
    destination TEXT PRIMARY KEY,
    acknowledged INTEGER NOT NULL DEFAULT 0,
    duplicates INTEGER NOT NULL DEFAULT 0,
    collisions INTEGER NOT NULL DEFAULT 0,
    refused INTEGER NOT NULL DEFAULT 0,
    resent INTEGER NOT NULL DEFAULT 0,
    units INTEGER NOT NULL DEFAULT 0,
    last_unit_at INTEGER NOT NULL
  );
  `,
  // 13: one event, one row, whichever API served it (store/cross-version.ts): the copy ids met per
  // cross-version key, filled here for the events already stored (their ids do not change).
  crossIdsMigration,
  // 14: record blocks deflated against a dictionary, the records of an earlier block (block-dictionaries.ts).
  // Older blocks keep dictionary NULL: deflated alone, read as before.
  dictionariesMigration,
  // 15: cross-version keys as their first 96 bits (cross-version.ts storedCrossKey), the table rebuilt in key order.
  `
  CREATE TABLE cross_ids_v15 (
    key BLOB NOT NULL,                 -- the first 12 bytes of the cross-version key
    api INTEGER NOT NULL,
    id BLOB NOT NULL,
    PRIMARY KEY (key, api, id)
  ) WITHOUT ROWID;
  INSERT OR IGNORE INTO cross_ids_v15 (key, api, id) SELECT substr(key, 1, 12), api, id FROM cross_ids ORDER BY 1, 2, 3;
  DROP TABLE cross_ids;
  ALTER TABLE cross_ids_v15 RENAME TO cross_ids;
  `,
  // 16: the action in the time index instead of an index of its own. \`search --action\` walks the
  // time index newest first and reads the action there (no row is read for an event of another
  // action); one index fewer to write per event.
  `
  DROP INDEX IF EXISTS events_action_ts;
  DROP INDEX IF EXISTS events_ts;
  CREATE INDEX events_ts ON events(ts, action);
  `,
  // 17: the event id's index keeps the id's first 8 bytes, not all 16 (event-rows.ts EVENT_BY_ID):
  // the table is rebuilt without UNIQUE on id (SQLite cannot drop a column's constraint), and its
  // indexes with it. A lookup compares the whole id on the row, so a shared prefix is two events.
  `
  CREATE TABLE events_v17 (
    rowid INTEGER PRIMARY KEY,
    id BLOB NOT NULL,                  -- event.id, 16 bytes; unique: the store stores an id once (store.ts)
    digest INTEGER NOT NULL,
    ts INTEGER NOT NULL,
    type INTEGER NOT NULL,
    type_source INTEGER NOT NULL,
    candidates TEXT,
    acode_key INTEGER,
    message_key INTEGER,
    subject_key INTEGER,
    sender INTEGER,
    action INTEGER,
    block INTEGER NOT NULL,
    slot INTEGER NOT NULL,
    source INTEGER NOT NULL,
    position INTEGER NOT NULL,
    legacy_doc TEXT
  );
  INSERT INTO events_v17 (rowid, id, digest, ts, type, type_source, candidates, acode_key, message_key, subject_key, sender, action, block, slot, source, position, legacy_doc)
    SELECT rowid, id, digest, ts, type, type_source, candidates, acode_key, message_key, subject_key, sender, action, block, slot, source, position, legacy_doc FROM events ORDER BY rowid;
  DROP TABLE events;
  ALTER TABLE events_v17 RENAME TO events;
  CREATE INDEX events_id ON events(substr(id, 1, 8));
  CREATE INDEX events_ts ON events(ts, action);
  CREATE INDEX events_type_ts ON events(type, ts);
  CREATE INDEX events_acode ON events(acode_key) WHERE acode_key IS NOT NULL;
  CREATE INDEX events_message ON events(message_key) WHERE message_key IS NOT NULL;
  `,
  // 18: smaller per event (issue 31): the log type in the time index instead of an index of its own
  // (\`search --type\` and the threat questions walk the time index and read the type there), and
  // \`cross_ids\` keyed by the events rowid instead of the 16-byte id (cross-version.ts crossIdsByEvent), and no
  // digest in the row: it was the first 64 bits of event.hash, which are the id's own (store.ts compareWithStored).
  (db) => {
    db.exec(`
      DROP INDEX IF EXISTS events_type_ts;
      DROP INDEX IF EXISTS events_ts;
      CREATE INDEX events_ts ON events(ts, action, type);
      ALTER TABLE events DROP COLUMN digest;
    `);
    crossIdsByEvent(db);
  },
  // 19: narrower keys (issue 31). The text keys (documents.ts KEY_BITS; every reader compares the text
  // itself on what a key finds): the aCode's and the message id's first 32 bits, the subject's 8, each
  // the old 64-bit key shifted right (SQLite's >> keeps the sign, as BigInt's does); the id's index on its
  // first 4 bytes (event-rows.ts EVENT_BY_ID). And the name 'fields' (how nearly every key_value line's
  // log type is decided) gets code 0, which SQLite stores in no bytes (codes are given from 1 on, so 0
  // is free): every reference to its old code in the row is changed with it. The table is copied, not
  // updated in place, so its pages are packed again; its indexes are built again with it.
  `
  CREATE TEMP TABLE fields_v19 AS SELECT code FROM names WHERE name = 'fields';
  CREATE TABLE events_v19 (
    rowid INTEGER PRIMARY KEY,
    id BLOB NOT NULL,                  -- event.id, 16 bytes; unique: the store stores an id once (store.ts)
    ts INTEGER NOT NULL,
    type INTEGER NOT NULL,
    type_source INTEGER NOT NULL,
    candidates TEXT,
    acode_key INTEGER,                 -- textKey('acode'): 32 bits
    message_key INTEGER,               -- textKey('message-id'): 32 bits
    subject_key INTEGER,               -- textKey('subject'): 8 bits
    sender INTEGER,
    action INTEGER,
    block INTEGER NOT NULL,
    slot INTEGER NOT NULL,
    source INTEGER NOT NULL,
    position INTEGER NOT NULL,
    legacy_doc TEXT
  );
  INSERT INTO events_v19 (rowid, id, ts, type, type_source, candidates, acode_key, message_key, subject_key, sender, action, block, slot, source, position, legacy_doc)
    SELECT e.rowid, e.id, e.ts, CASE e.type WHEN f.code THEN 0 ELSE e.type END, CASE e.type_source WHEN f.code THEN 0 ELSE e.type_source END, e.candidates,
      e.acode_key >> 32, e.message_key >> 32, e.subject_key >> 56, e.sender, CASE e.action WHEN f.code THEN 0 ELSE e.action END,
      e.block, e.slot, CASE e.source WHEN f.code THEN 0 ELSE e.source END, e.position, e.legacy_doc
    FROM events e LEFT JOIN fields_v19 f ORDER BY e.rowid;
  UPDATE names SET code = 0 WHERE name = 'fields';
  INSERT OR IGNORE INTO names (code, name) VALUES (0, 'fields');
  DROP TABLE fields_v19;
  DROP TABLE events;
  ALTER TABLE events_v19 RENAME TO events;
  CREATE INDEX events_id ON events(substr(id, 1, 4));
  CREATE INDEX events_ts ON events(ts, action, type);
  CREATE INDEX events_acode ON events(acode_key) WHERE acode_key IS NOT NULL;
  CREATE INDEX events_message ON events(message_key) WHERE message_key IS NOT NULL;
  `,
  // 20: the API feed a dead letter came from (DeadLetter.feed), so replay reads its bytes as that
  // feed's records (their log type is the feed's). NULL for others. Rows kept before get it here,
  // once, from their page's source name; replay never reads a feed from a name (a file may be named
  // like a feed's page).
  deadLetterFeeds,
];
