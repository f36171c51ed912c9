/**
 * Test support: the embedded store's events as plain columns. The store keeps records and rebuilds
 * documents on read, so tests that ask SQL questions about events read the temporary view
 * `stored_events` (rowid, id, ts, log_type, log_type_source, acode, message_id, sender, recipients,
 * subject, direction, action, doc, original, source, position), whose rebuilt columns come from
 * the store's own reader.
 */
import Database from 'better-sqlite3';
import { type EventRow, EventReader, STORED_COLUMNS, type StoredRow } from '../../src/store/event-rows.js';

const REBUILT = ['acode', 'message_id', 'sender', 'recipients', 'subject', 'direction', 'action', 'doc', 'original'] as const;

/** A read-only connection to the store at `path` with the view `stored_events`. */
export function openWithEventsView(path: string): Database.Database {
  const db = new Database(path, { readonly: true });
  // The view's functions read through a second connection: one cannot query itself mid-statement.
  const side = new Database(path, { readonly: true });
  const reader = new EventReader(side);
  const byRowid = side.prepare(`SELECT ${STORED_COLUMNS} FROM events e WHERE e.rowid = ?`);
  let last: EventRow | undefined;
  db.function('stored_event_field', { deterministic: true }, (rowid, field) => {
    if (last === undefined || last.rowid !== rowid) last = reader.row(byRowid.get(rowid) as StoredRow);
    return last[field as (typeof REBUILT)[number]];
  });
  db.exec(`CREATE TEMP VIEW stored_events AS SELECT e.rowid AS rowid, lower(hex(e.id)) AS id, e.ts AS ts, t.name AS log_type, s.name AS log_type_source,
    ${REBUILT.map((c) => `stored_event_field(e.rowid, '${c}') AS ${c}`).join(', ')}, src.name AS source, e.position AS position
    FROM main.events e JOIN main.names t ON t.code = e.type JOIN main.names s ON s.code = e.type_source JOIN main.names src ON src.code = e.source`);
  const close = db.close.bind(db);
  db.close = () => {
    side.close();
    return close();
  };
  return db;
}
