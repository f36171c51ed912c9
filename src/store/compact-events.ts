/**
 * Schema 9: compact events. A store of schema 8 kept each event's ECS document and original record
 * as text beside hex ids, text index keys and an external-content full-text index: about 2.2 KB per
 * event. From 9 on the store keeps the record once, compressed in blocks (record-blocks.ts), and
 * rebuilds the document on read (documents.ts); ids and digests are bytes and integers, repeated
 * names are codes, indexed texts are 64-bit keys, addresses are a dictionary, and the full-text
 * index is contentless.
 *
 * An older store's events are moved in this migration's transaction. Each stored document is
 * compared with the one rebuilt from its record; where they differ (an older mapping wrote it), the
 * stored document is kept as it was (`legacy_doc`), so nothing a store returned changes.
 */
import type Database from 'better-sqlite3';
import type { LogTypeSource } from '../classify/classify.js';
import { decodeText } from '../decode/text.js';
import { type IndexedFields, bareMessageId, indexedFields, rebuildDocument, wideTextKey } from './documents.js';
import { EventWriter } from './event-rows.js';
import { type PreparedEvent, prepareStoredEvent } from './prepared.js';
import { BLOCK_RECORDS, type StoredRecord } from './record-blocks.js';

const TABLES = `
  CREATE TABLE names (code INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE);
  CREATE TABLE record_blocks (
    rowid INTEGER PRIMARY KEY AUTOINCREMENT, -- never reused: a reader may hold a block it read a while ago
    records BLOB NOT NULL,             -- original records, compressed together (record-blocks.ts)
    normalizer INTEGER NOT NULL,       -- the mapping version that wrote them (normalize/ecs.ts)
    live INTEGER NOT NULL              -- events still stored from it; retention drops it at 0
  );
  CREATE TABLE events (
    rowid INTEGER PRIMARY KEY,
    id BLOB NOT NULL UNIQUE,           -- event.id, 16 bytes
    digest INTEGER NOT NULL,           -- first 64 bits of event.hash: the collision guard
    ts INTEGER NOT NULL,               -- event time, ms since the epoch (UTC)
    type INTEGER NOT NULL,             -- names.code of the log type
    type_source INTEGER NOT NULL,      -- names.code of how the type was decided
    candidates TEXT,                   -- JSON list when the keys fit several types
    acode_key INTEGER,                 -- textKey of email.local_id
    message_key INTEGER,               -- textKey of email.message_id without <>
    subject_key INTEGER,               -- textKey of email.subject (an exact match after a full-text one)
    sender INTEGER,                    -- addresses.code of the last email.from address
    action INTEGER,                    -- names.code of event.action
    block INTEGER NOT NULL,            -- record_blocks.rowid
    slot INTEGER NOT NULL,             -- the record's place in its block
    source INTEGER NOT NULL,           -- names.code of where it was first seen
    position INTEGER NOT NULL,
    legacy_doc TEXT                    -- only from an upgrade: a document an older mapping wrote
  );
  CREATE INDEX events_ts ON events(ts);
  CREATE INDEX events_type_ts ON events(type, ts);
  CREATE INDEX events_acode ON events(acode_key) WHERE acode_key IS NOT NULL;
  CREATE INDEX events_message ON events(message_key) WHERE message_key IS NOT NULL;
  CREATE INDEX events_action_ts ON events(action, ts) WHERE action IS NOT NULL;
  CREATE TABLE addresses (code INTEGER PRIMARY KEY, address TEXT NOT NULL UNIQUE COLLATE NOCASE);
  CREATE TABLE event_addresses (
    address INTEGER NOT NULL,          -- addresses.code
    event INTEGER NOT NULL,            -- events.rowid
    role INTEGER NOT NULL,             -- 0 from, 1 to
    PRIMARY KEY (address, event, role)
  ) WITHOUT ROWID;
  CREATE TABLE event_indicators (
    key INTEGER NOT NULL,              -- textKey of a URL or an attachment's SHA-256
    event INTEGER NOT NULL,
    PRIMARY KEY (key, event)
  ) WITHOUT ROWID;
  CREATE VIRTUAL TABLE events_fts USING fts5(subject, content='', contentless_delete=1);
`;

const OLD_INDEXES = ['events_ts', 'events_type_ts', 'events_acode', 'events_message_id', 'events_action_ts'];

interface OldRow {
  rowid: number; id: string; hash: string; ts: number; log_type: string; log_type_source: string;
  doc: string; original: string | Buffer | null; source: string; position: number;
}

/** How a record that carried no format was written: an object is JSON, anything else a key_value line. */
function oldRecord(original: string | Buffer | null): StoredRecord {
  const raw = original === null ? '' : typeof original === 'string' ? original : decodeText(original);
  return { raw, format: raw.trimStart().startsWith('{') ? 'json' : 'key_value' };
}

/** The text keys as schema 9 wrote them, 64 bits each: schema 19 narrows them with the rest (schema.ts). */
function schema9Keys(f: IndexedFields): Pick<PreparedEvent, 'acodeKey' | 'messageKey' | 'subjectKey'> {
  const key = (kind: Parameters<typeof wideTextKey>[0], text: string | null) => (text === null || text === '' ? null : wideTextKey(kind, text));
  return { acodeKey: key('acode', f.acode), messageKey: key('message-id', f.messageId === null ? null : bareMessageId(f.messageId)), subjectKey: key('subject', f.subject) };
}

function moveOldEvents(db: Database.Database): void {
  const writer = new EventWriter(db, { schema9: true });
  // A page at a time: the connection cannot write while a statement still reads.
  const page = db.prepare('SELECT rowid, id, hash, ts, log_type, log_type_source, doc, original, source, position FROM events_v8 WHERE rowid > ? ORDER BY rowid LIMIT ?');
  let after = 0;
  for (;;) {
    const rows = page.all(after, BLOCK_RECORDS * 16) as OldRow[];
    if (rows.length === 0) return;
    const events: PreparedEvent[] = [];
    const upgrade = { rowids: [] as number[], legacyDocs: [] as (string | null)[] };
    for (const row of rows) {
      const doc = JSON.parse(row.doc) as Record<string, any>;
      const record = oldRecord(row.original);
      const candidates = (doc.mimecast?.log_type_candidates as string[] | undefined) ?? undefined;
      let rebuilt: string | undefined;
      try {
        rebuilt = JSON.stringify(rebuildDocument(record, { logType: row.log_type, source: row.log_type_source as LogTypeSource, candidates }));
      } catch {
        rebuilt = undefined;
      }
      const fields = indexedFields(doc);
      events.push({
        ...prepareStoredEvent({ id: row.id, hash: row.hash, timeMs: row.ts, logType: row.log_type, typeSource: row.log_type_source, candidates, record, fields }, row.source, row.position),
        ...schema9Keys(fields),
      });
      upgrade.rowids.push(row.rowid);
      upgrade.legacyDocs.push(rebuilt === row.doc ? null : row.doc);
    }
    writer.insert(events, upgrade);
    after = rows[rows.length - 1]!.rowid;
  }
}

export function compactEvents(db: Database.Database): void {
  db.exec('DROP TABLE events_fts; ALTER TABLE events RENAME TO events_v8; ALTER TABLE event_addresses RENAME TO event_addresses_v8;');
  for (const index of OLD_INDEXES) db.exec(`DROP INDEX IF EXISTS ${index}`);
  db.exec(TABLES);
  moveOldEvents(db);
  db.exec('DROP TABLE event_addresses_v8; DROP TABLE events_v8;');
}
