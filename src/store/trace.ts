/**
 * `mimelog trace`: the journey of one email across log types (receipt → process → delivery
 * attempts → journal, plus the security events that name it), from a message id, aCode or address.
 */
import type Database from 'better-sqlite3';
import { bareMessageId } from './documents.js';
import { type EventRow, EventReader, STORED_COLUMNS, type StoredRow } from './event-rows.js';
import type { DamagedBlocks } from './record-blocks.js';

/** Order of stages within one second, so a timeline reads as the email travelled. */
const STAGE: Readonly<Record<string, number>> = {
  receipt: 0, 'impersonation-protect': 1, spam: 1, avlog: 1, 'attachment-protect': 1, process: 2, 'internal-email-protect': 3,
  delivery: 4, jrnl: 5, 'url-protect': 6,
};

export interface TraceStep {
  time: string;
  log_type: string;
  action: string | null;
  summary: string;
  id: string;
}

/** One email's own timeline and outcome (an address names many emails: each is told apart). */
export interface TraceMessage {
  acodes: string[];
  message_ids: string[];
  steps: TraceStep[];
  outcome: string[];
}

export interface TraceResult {
  query: string;
  matched_by: 'message_id' | 'acode' | 'address' | 'none';
  acodes: string[];
  message_ids: string[];
  /** Every step of every email found, in time order. */
  steps: TraceStep[];
  outcome: string[];
  /** Per email (events joined by aCode or message id), first seen first. */
  messages: TraceMessage[];
}

const MAX_EMAILS_PER_ADDRESS = 20;

type Doc = Record<string, any>;

function describe(row: EventRow, doc: Doc): string {
  const parts: string[] = [];
  const ev = doc.event ?? {};
  const m = doc.mimecast ?? {};
  const to = doc.email?.to?.address as string[] | undefined;
  switch (row.log_type) {
    case 'receipt':
      parts.push(`from ${row.sender ?? '?'} to ${to?.join(', ') ?? '?'}`);
      if (doc.source?.ip) parts.push(`ip ${doc.source.ip}`);
      if (ev.reason) parts.push(`rejected: ${ev.reason}`);
      if (m.SpamScore !== undefined) parts.push(`spam score ${m.SpamScore}`);
      break;
    case 'process':
      if (ev.reason) parts.push(`held: ${ev.reason}`);
      if (doc.email?.attachments) parts.push(`attachments: ${doc.email.attachments.map((a: Doc) => a.file?.name).join(', ')}`);
      break;
    case 'delivery':
      parts.push(`attempt ${m.Attempt ?? m.deliveryAttempts ?? '?'} to ${to?.join(', ') ?? '?'}: ${ev.outcome === 'success' ? 'delivered' : ev.outcome === 'failure' ? 'not delivered' : 'unknown'}`);
      if (doc.error?.message) parts.push(doc.error.message);
      break;
    default:
      if (ev.reason) parts.push(String(ev.reason));
      if (doc.url?.full) parts.push(doc.url.full);
      if (doc.email?.attachments?.[0]?.file?.name) parts.push(doc.email.attachments[0].file.name);
      if (m.Virus) parts.push(`virus ${m.Virus}`);
  }
  return parts.join('; ');
}

function outcome(rows: { row: EventRow; doc: Doc }[]): string[] {
  const out: string[] = [];
  const lastDelivery = new Map<string, Doc>();
  for (const { row, doc } of rows) {
    if (row.log_type === 'receipt' && doc.event?.action === 'Rej') out.push(`rejected at receipt for ${row.recipients ?? '?'}: ${doc.event.reason ?? ''}`.trim());
    if (row.log_type === 'process' && doc.event?.action === 'Hld') out.push(`held: ${doc.event.reason ?? 'unknown reason'}`);
    if (row.log_type === 'delivery') lastDelivery.set(row.recipients ?? '?', doc);
  }
  for (const [rcpt, doc] of lastDelivery) {
    out.push(doc.event?.outcome === 'success' ? `delivered to ${rcpt} at ${doc['@timestamp']}` : `not delivered to ${rcpt} (last attempt ${doc.mimecast?.Attempt ?? '?'}: ${doc.error?.message ?? 'no reason given'})`);
  }
  return out;
}

type Traced = { row: EventRow; doc: Doc };

const stepOf = ({ row, doc }: Traced): TraceStep => ({ time: new Date(row.ts).toISOString(), log_type: row.log_type, action: row.action, summary: describe(row, doc), id: row.id });

/** The events (in time order) grouped by email: two events are one email when they share an aCode or a message id. */
function byEmail(ordered: Traced[]): TraceMessage[] {
  const parent = new Map<string, string>();
  const root = (k: string): string => {
    let r = k;
    while (parent.get(r) !== r) r = parent.get(r)!;
    parent.set(k, r);
    return r;
  };
  const keysOf = ({ row }: Traced) => [row.acode ? `a:${row.acode}` : '', row.message_id ? `m:${bareMessageId(row.message_id)}` : ''].filter((k) => k !== '');
  for (const t of ordered) {
    const keys = keysOf(t);
    for (const k of keys) if (!parent.has(k)) parent.set(k, k);
    for (const k of keys.slice(1)) parent.set(root(k), root(keys[0]!));
  }
  // Events naming neither (an attachment or impersonation line names only the addresses): one group, last.
  const LOOSE = '';
  const groups = new Map<string, Traced[]>();
  for (const t of ordered) {
    const first = keysOf(t)[0];
    const key = first === undefined ? LOOSE : root(first);
    groups.set(key, [...(groups.get(key) ?? []), t]);
  }
  const loose = groups.get(LOOSE);
  if (loose) {
    groups.delete(LOOSE);
    groups.set(LOOSE, loose);
  }
  return [...groups.values()].map((rows) => ({
    acodes: [...new Set(rows.map((t) => t.row.acode).filter((a): a is string => !!a))],
    message_ids: [...new Set(rows.map((t) => t.row.message_id).filter((m): m is string => !!m))],
    steps: rows.map(stepOf),
    outcome: outcome(rows),
  }));
}

/** Given `damaged`, events whose record block is damaged are left out and noted there (the rest is traced). */
export function trace(db: Database.Database, query: string, damaged?: DamagedBlocks): TraceResult {
  const bare = bareMessageId(query);
  const reader = new EventReader(db, damaged);
  const read = (sql: string, ...params: unknown[]) => reader.rows(db.prepare(`SELECT ${STORED_COLUMNS} FROM ${sql}`).all(...params) as StoredRow[]);
  const byMessageStmt = (id: string) => reader.byKeyedText('message-id', id);
  const byAcodeStmt = (acode: string) => reader.byKeyedText('acode', acode);
  const byMessageId = byMessageStmt(query); // takes the <> off once, as the stored key did (`bare` twice would take <<x>> to x)
  const byAcode = byAcodeStmt(bare);
  let matchedBy: TraceResult['matched_by'] = byMessageId.length ? 'message_id' : byAcode.length ? 'acode' : 'none';
  let seed = byMessageId.length ? byMessageId : byAcode;
  if (seed.length === 0 && bare.includes('@')) {
    seed = read('event_addresses a JOIN events e ON e.rowid = a.event WHERE a.address = (SELECT code FROM addresses WHERE address = ?) ORDER BY e.ts DESC LIMIT 500', bare);
    if (seed.length) matchedBy = 'address';
  }
  const acodes = [...new Set(seed.map((r) => r.acode).filter((a): a is string => !!a))].slice(0, MAX_EMAILS_PER_ADDRESS);
  const messageIds = new Set(seed.map((r) => r.message_id).filter((m): m is string => !!m));
  const rows = new Map<number, EventRow>(seed.map((r) => [r.rowid, r]));
  for (const a of acodes) {
    for (const r of byAcodeStmt(a)) {
      rows.set(r.rowid, r);
      if (r.message_id) messageIds.add(r.message_id);
    }
  }
  for (const m of [...messageIds].slice(0, MAX_EMAILS_PER_ADDRESS)) for (const r of byMessageStmt(m)) rows.set(r.rowid, r);
  const ordered = [...rows.values()]
    .map((row) => ({ row, doc: JSON.parse(row.doc) as Doc }))
    .sort((a, b) => a.row.ts - b.row.ts || (STAGE[a.row.log_type] ?? 9) - (STAGE[b.row.log_type] ?? 9) || a.row.rowid - b.row.rowid);
  return {
    query,
    matched_by: matchedBy,
    acodes,
    message_ids: [...messageIds],
    steps: ordered.map(stepOf),
    outcome: outcome(ordered),
    messages: byEmail(ordered),
  };
}
