/**
 * The console's threats page: who is targeted, who sends what is rejected or held, and the
 * verdicts of URL and attachment protection over time. Every row can become a search.
 */
import type Database from 'better-sqlite3';

/** Log types that report a detection about a recipient. */
export const DETECTION_TYPES = ['avlog', 'attachment-protect', 'url-protect', 'impersonation-protect', 'internal-email-protect', 'spam'] as const;

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
  const types = DETECTION_TYPES.map(() => '?').join(', ');
  const day = "strftime('%Y-%m-%d', e.ts / 1000, 'unixepoch')";
  return {
    from: range.from ?? null,
    to: range.to ?? null,
    // Detection lines name one recipient each, so grouping the recipients column needs no join.
    top_targeted: all(`SELECT lower(e.recipients) AS address, count(*) AS detections FROM events e
      WHERE e.log_type IN (${types}) AND e.ts >= ? AND e.ts < ? AND e.recipients IS NOT NULL GROUP BY 1 ORDER BY detections DESC, address LIMIT ${TOP}`, ...DETECTION_TYPES, from, to),
    top_rejected_senders: all(`SELECT e.sender AS address, count(DISTINCT coalesce(e.acode, e.message_id, e.rowid)) AS messages FROM events e
      WHERE e.log_type = 'receipt' AND e.action = 'Rej' AND e.sender IS NOT NULL AND e.ts >= ? AND e.ts < ? GROUP BY e.sender ORDER BY messages DESC, address LIMIT ${TOP}`, from, to),
    // A process line names no sender: take it from the message's receipt.
    top_held_senders: all(`SELECT r.sender AS address, count(DISTINCT e.acode) AS messages FROM events e JOIN events r ON r.acode = e.acode AND r.log_type = 'receipt'
      WHERE e.log_type = 'process' AND e.action = 'Hld' AND r.sender IS NOT NULL AND e.ts >= ? AND e.ts < ? GROUP BY r.sender ORDER BY messages DESC, address LIMIT ${TOP}`, from, to),
    url_verdicts: all(`SELECT ${day} AS day, coalesce(e.action, 'unknown') AS verdict, count(*) AS events FROM events e
      WHERE e.log_type = 'url-protect' AND e.ts >= ? AND e.ts < ? GROUP BY day, verdict ORDER BY day, verdict`, from, to),
    attachment_verdicts: all(`SELECT ${day} AS day, CASE e.log_type WHEN 'avlog' THEN 'virus found' ELSE 'sandboxed' END AS verdict, count(*) AS events FROM events e
      WHERE e.log_type IN ('avlog', 'attachment-protect') AND e.ts >= ? AND e.ts < ? GROUP BY day, verdict ORDER BY day, verdict`, from, to),
    impersonation_hits: all<{ id: string; ts: number; sender: string | null; recipients: string | null; action: string | null; message_id: string | null }>(
      `SELECT e.id, e.ts, e.sender, e.recipients, e.action, e.message_id FROM events e WHERE e.log_type = 'impersonation-protect' AND e.ts >= ? AND e.ts < ?
       ORDER BY e.ts DESC, e.rowid DESC LIMIT 50`, from, to,
    ).map(({ ts, ...r }) => ({ ...r, time: new Date(ts).toISOString() })),
  };
}
