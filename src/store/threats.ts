/**
 * The console's threats page: who is targeted, who sends what is rejected or held, and the
 * verdicts of URL and attachment protection over time. Every row can become a search.
 */
import type Database from 'better-sqlite3';
import { DETECTION_TYPES } from '../mimecast/log-types.js';
import { EventReader, ROLE, STORED_COLUMNS, type StoredRow } from './event-rows.js';


export interface Threats {
  readonly from: number | null;
  readonly to: number | null;
  readonly top_targeted: { address: string; detections: number }[];
  readonly top_rejected_senders: { address: string; messages: number }[];
  readonly top_held_senders: { address: string; messages: number }[];
  /** Per UTC day and url-protect action (block, warn, allow…). */
  readonly url_verdicts: { day: string; verdict: string; events: number }[];
  /** Per UTC day: avlog (a virus found) and attachment-protect (sandboxed) events. */
  readonly attachment_verdicts: { day: string; verdict: string; events: number }[];
  readonly impersonation_hits: { id: string; time: string; sender: string | null; recipients: string | null; action: string | null; message_id: string | null }[];
}

const TOP = 10;

export function threats(db: Database.Database, range: { from?: number; to?: number } = {}): Threats {
  const from = range.from ?? -8.64e15;
  const to = range.to ?? 8.64e15;
  const all = <T>(sql: string, ...params: unknown[]) => db.prepare(sql).all(...params) as T[];
  const typeCodes = (types: readonly string[]) => `(SELECT code FROM names WHERE name IN (${types.map(() => '?').join(', ')}))`;
  const code = '(SELECT code FROM names WHERE name = ?)';
  const day = "strftime('%Y-%m-%d', e.ts / 1000, 'unixepoch')";
  const reader = new EventReader(db);
  return {
    from: range.from ?? null,
    to: range.to ?? null,
    top_targeted: all(`SELECT lower(a.address) AS address, count(*) AS detections FROM events e
      JOIN event_addresses ea ON ea.event = e.rowid AND ea.role = ${ROLE.to} JOIN addresses a ON a.code = ea.address
      WHERE e.type IN ${typeCodes(DETECTION_TYPES)} AND e.ts >= ? AND e.ts < ? GROUP BY 1 ORDER BY detections DESC, address LIMIT ${TOP}`, ...DETECTION_TYPES, from, to),
    top_rejected_senders: all(`SELECT a.address, count(DISTINCT coalesce('a' || e.acode_key, 'm' || e.message_key, 'r' || e.rowid)) AS messages FROM events e JOIN addresses a ON a.code = e.sender
      WHERE e.type = ${code} AND e.action = ${code} AND e.ts >= ? AND e.ts < ? GROUP BY e.sender ORDER BY messages DESC, a.address LIMIT ${TOP}`, 'receipt', 'Rej', from, to),
    // A process line names no sender: take it from the message's receipt. The aCode's key is 32 bits
    // (documents.ts KEY_BITS): where both lines name a message id, its key has to agree too.
    top_held_senders: all(`SELECT a.address, count(DISTINCT e.acode_key) AS messages FROM events e
      JOIN events r ON r.acode_key = e.acode_key AND r.type = ${code} AND (r.message_key = e.message_key OR r.message_key IS NULL OR e.message_key IS NULL)
      JOIN addresses a ON a.code = r.sender
      WHERE e.type = ${code} AND e.action = ${code} AND e.ts >= ? AND e.ts < ? GROUP BY r.sender ORDER BY messages DESC, a.address LIMIT ${TOP}`, 'receipt', 'process', 'Hld', from, to),
    url_verdicts: all(`SELECT ${day} AS day, coalesce((SELECT name FROM names WHERE code = e.action), 'unknown') AS verdict, count(*) AS events FROM events e
      WHERE e.type = ${code} AND e.ts >= ? AND e.ts < ? GROUP BY day, verdict ORDER BY day, verdict`, 'url-protect', from, to),
    attachment_verdicts: all(`SELECT ${day} AS day, CASE e.type WHEN ${code} THEN 'virus found' ELSE 'sandboxed' END AS verdict, count(*) AS events FROM events e
      WHERE e.type IN ${typeCodes(['avlog', 'attachment-protect'])} AND e.ts >= ? AND e.ts < ? GROUP BY day, verdict ORDER BY day, verdict`, 'avlog', 'avlog', 'attachment-protect', from, to),
    impersonation_hits: reader.rows(db.prepare(`SELECT ${STORED_COLUMNS} FROM events e WHERE e.type = ${code} AND e.ts >= ? AND e.ts < ?
       ORDER BY e.ts DESC, e.rowid DESC LIMIT 50`).all('impersonation-protect', from, to) as StoredRow[])
      .map((r) => ({ id: r.id, sender: r.sender, recipients: r.recipients, action: r.action, message_id: r.message_id, time: new Date(r.ts).toISOString() })),
  };
}
