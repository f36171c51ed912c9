/**
 * "Who else received it?": from one message (message id, aCode or an event id), every message
 * that shares its sender, subject, URL or attachment, each recipient, and what became of it
 * (rejected, held, delivered, not delivered, clicked). The answer to a phishing report.
 *
 * Each message says which indicators matched it, and the answer is ranked by how specific they
 * are (an attachment hash or URL before a sender, a sender before a subject). The analyst may pick
 * the indicators (`by`); otherwise a common subject alone does not bring a message in.
 */
import type Database from 'better-sqlite3';
import { bareMessageId, idBytes, textKey } from './documents.js';
import { EVENT_BY_ID, type EventRow, EventReader, ROLE, STORED_COLUMNS, type StoredRow, byId, hasKeyedText } from './event-rows.js';
import { ftsQuery } from './queries.js';
import type { DamagedBlocks } from './record-blocks.js';

export type RecipientStatus = 'rejected' | 'held' | 'delivered' | 'not delivered' | 'clicked' | 'received';
export type Indicator = 'sender' | 'subject' | 'url' | 'attachment';
export const INDICATORS: readonly Indicator[] = ['sender', 'subject', 'url', 'attachment'];

/** How specific a match on each indicator is: a message's rank is the sum over its matches. */
const SPECIFICITY: Readonly<Record<Indicator, number>> = { attachment: 8, url: 4, sender: 2, subject: 1 };

/**
 * Unless the analyst picks it, an indicator shared by more messages than this brings no message in
 * on its own: a subject like "Invoice" alone would flood the answer with ordinary mail.
 */
const ALONE_LIMIT: Readonly<Partial<Record<Indicator, number>>> = { subject: 25 };

/** Which indicators to match on; by default all (with ALONE_LIMIT). */
export interface WhoOptions {
  readonly by?: readonly Indicator[];
}

/** `url,attachment` as indicators; throws on a name that is none (listing the ones there are). */
export function parseIndicators(text: string): Indicator[] {
  const names = text.split(',').map((n) => n.trim().toLowerCase()).filter((n) => n !== '');
  const wrong = names.filter((n) => !(INDICATORS as readonly string[]).includes(n));
  if (names.length === 0 || wrong.length > 0) throw new Error(`indicators: ${wrong.length ? `unknown ${wrong.map((w) => JSON.stringify(w)).join(', ')}; ` : ''}expected a comma-separated list of ${INDICATORS.join(', ')}`);
  return [...new Set(names as Indicator[])];
}

export interface WhoMessage {
  /** The aCode, or the message id when the logs carry no aCode for it. */
  readonly key: string;
  readonly acode: string | null;
  readonly message_id: string | null;
  readonly first_seen: string;
  readonly sender: string | null;
  readonly subject: string | null;
  readonly matched_by: Indicator[];
  /** The sum of SPECIFICITY over matched_by: the answer is ranked by it, highest first. */
  readonly specificity: number;
  readonly recipients: { address: string; statuses: RecipientStatus[] }[];
}

export interface WhoResult {
  readonly query: string;
  /** What the seed message carries, and so what the others were matched on. */
  readonly indicators: { senders: string[]; subjects: string[]; urls: string[]; attachments: string[] };
  /** The indicators matched on (the analyst's pick, or all). */
  readonly by: Indicator[];
  /** Most specific first, then by time. */
  readonly messages: WhoMessage[];
  /** Every recipient across the messages, with every status it had and its most specific message's rank; highest first, then by address. */
  readonly recipients: { address: string; messages: number; statuses: RecipientStatus[]; specificity: number }[];
  /** Messages that shared only a common indicator, not shown (see ALONE_LIMIT): pick that indicator to see them. */
  readonly left_out: { indicator: Indicator; messages: number; limit: number }[];
  /** True when a cap below cut the answer short (the UI says so). */
  readonly truncated: boolean;
}

/** Caps that keep one question cheap on a store of months. */
const MAX_MATCHES_PER_INDICATOR = 2000;
const MAX_MESSAGES = 500;
/** Events of other subjects sharing the subject's key that one indicator reads past at most, as a multiple of its cap. */
const READ_PAST_SHARED_KEY = 8;
/** Log types whose documents carry a URL a user clicked or was sent. */
const URL_TYPES: string[] = ['url-protect', 'internal-email-protect'];
/** Log types whose documents carry attachment hashes. */
const ATTACHMENT_TYPES: string[] = ['attachment-protect', 'avlog'];
const STATUS_ORDER: readonly RecipientStatus[] = ['rejected', 'held', 'not delivered', 'delivered', 'clicked', 'received'];

type Doc = { event?: { action?: string; outcome?: string }; email?: { to?: { address?: string[] }; attachments?: { file?: { name?: string; hash?: { sha256?: string } } }[] }; url?: { full?: string } };

interface Row extends EventRow {
  parsed?: Doc;
}

function docOf(row: Row): Doc {
  row.parsed ??= JSON.parse(row.doc) as Doc;
  return row.parsed;
}

const unique = <T>(items: Iterable<T | null | undefined>): T[] => [...new Set([...items].filter((x): x is T => x !== null && x !== undefined && x !== ''))];

/** Reads events: the SQL after `SELECT <columns> FROM`, its parameters; `keyed`: by an aCode or message id (EventReader.byKeyedText). */
interface Read {
  (sql: string, ...params: unknown[]): Row[];
  readonly keyed: EventReader['byKeyedText'];
}

function reading(db: Database.Database, damaged?: DamagedBlocks): Read {
  const reader = new EventReader(db, damaged);
  const read = (sql: string, ...params: unknown[]) => reader.rows(db.prepare(`SELECT ${STORED_COLUMNS} FROM ${sql}`).all(...params) as StoredRow[]);
  return Object.assign(read, { keyed: reader.byKeyedText.bind(reader) });
}

/** The reported message's events: found by message id, aCode or one event's id, then widened to the whole message. */
function seedRows(read: Read, query: string): Row[] {
  const bare = bareMessageId(query);
  const id = idBytes(bare);
  for (const find of [
    // byKeyedText takes the <> off a message id once, as the stored key did: given the query, not `bare` (<<x>> is not x).
    () => read.keyed('message-id', query),
    () => read.keyed('acode', bare),
    ...(id ? [() => read(`events e WHERE ${EVENT_BY_ID}`, ...byId(id))] : []),
  ]) {
    const rows = find();
    if (rows.length === 0) continue;
    // A click names the message id only, a process line the aCode only: take both.
    const acode = rows.find((r) => r.acode)?.acode ?? null;
    const messageId = rows.find((r) => r.message_id)?.message_id ?? null;
    const whole = messageRows(read, acode, messageId);
    return whole.length ? whole : rows;
  }
  return [];
}

/** Every event of one message: by aCode and by message id. */
function messageRows(read: Read, acode: string | null, messageId: string | null): Row[] {
  const rows = new Map<number, Row>();
  if (acode) for (const r of read.keyed('acode', acode)) rows.set(r.rowid, r);
  if (messageId) for (const r of read.keyed('message-id', messageId)) rows.set(r.rowid, r);
  return [...rows.values()];
}

function indicatorsOf(rows: Row[]): WhoResult['indicators'] {
  return {
    senders: unique(rows.map((r) => r.sender?.toLowerCase())),
    subjects: unique(rows.map((r) => r.subject)),
    urls: unique(rows.map((r) => docOf(r).url?.full)),
    attachments: unique(rows.flatMap((r) => (docOf(r).email?.attachments ?? []).map((a) => a.file?.hash?.sha256))),
  };
}

function matchingRows(read: Read, ind: WhoResult['indicators'], by: readonly Indicator[]): { rows: Row[]; by: Indicator; truncated: boolean }[] {
  const out: { rows: Row[]; by: Indicator; truncated: boolean }[] = [];
  /**
   * `keep`: of the events found, those that hold the text a narrow key stands for (a subject's 8 bits
   * are shared by one in 256 subjects holding the same words, which anyone can send). The dropped ones
   * are read past, twice as many events a time, up to READ_PAST_SHARED_KEY times the cap, so that
   * newer mail of another subject cannot crowd the subject's own out of the answer.
   */
  const run = (by: Indicator, sql: string, params: unknown[], keep: (row: Row) => boolean = () => true) => {
    for (let want = MAX_MATCHES_PER_INDICATOR + 1; ; want *= 2) {
      const found = read(`${sql} LIMIT ${want}`, ...params);
      const rows = found.filter(keep);
      const more = found.length >= want;
      if (rows.length > MAX_MATCHES_PER_INDICATOR || !more || want >= READ_PAST_SHARED_KEY * MAX_MATCHES_PER_INDICATOR) {
        out.push({ rows: rows.slice(0, MAX_MATCHES_PER_INDICATOR), by, truncated: more || rows.length > MAX_MATCHES_PER_INDICATOR });
        return;
      }
    }
  };
  const placeholders = (list: string[]) => list.map(() => '?').join(', ');
  for (const [indicator, types, values] of [['attachment', ATTACHMENT_TYPES, ind.attachments], ['url', URL_TYPES, ind.urls]] as const) {
    if (!by.includes(indicator)) continue;
    for (const v of values) {
      run(indicator, `event_indicators i JOIN events e ON e.rowid = i.event WHERE i.key = ? AND e.type IN (SELECT code FROM names WHERE name IN (${placeholders(types)})) ORDER BY e.ts DESC`,
        [textKey('indicator', v), ...types]);
    }
  }
  if (by.includes('sender')) {
    for (const s of ind.senders) {
      run('sender', `event_addresses a JOIN events e ON e.rowid = a.event WHERE a.address = (SELECT code FROM addresses WHERE address = ?) AND a.role = ${ROLE.from} ORDER BY e.ts DESC`, [s]);
    }
  }
  if (by.includes('subject')) {
    for (const s of ind.subjects) {
      const fts = ftsQuery(s);
      if (fts === '') continue;
      run('subject', 'events e WHERE e.rowid IN (SELECT rowid FROM events_fts WHERE events_fts MATCH ?) AND e.subject_key = ? ORDER BY e.ts DESC', [fts, textKey('subject', s)], hasKeyedText('subject', s));
    }
  }
  return out;
}

/** What became of each recipient of one message, from all its events. */
function recipientsOf(rows: Row[]): WhoMessage['recipients'] {
  const statuses = new Map<string, Set<RecipientStatus>>();
  const add = (address: string, s: RecipientStatus) => {
    const key = address.toLowerCase();
    if (!statuses.has(key)) statuses.set(key, new Set());
    statuses.get(key)!.add(s);
  };
  const held = rows.some((r) => r.log_type === 'process' && r.action === 'Hld');
  const delivered = new Set<string>();
  for (const r of rows) {
    const to = docOf(r).email?.to?.address ?? [];
    for (const address of to) {
      if (r.log_type === 'receipt') add(address, r.action === 'Rej' ? 'rejected' : held ? 'held' : 'received');
      else if (r.log_type === 'delivery') {
        const ok = docOf(r).event?.outcome === 'success';
        if (ok) delivered.add(address.toLowerCase());
        add(address, ok ? 'delivered' : 'not delivered');
      } else if (URL_TYPES.includes(r.log_type)) add(address, 'clicked');
      else add(address, held ? 'held' : 'received');
    }
  }
  return [...statuses.entries()]
    .map(([address, set]) => {
      // A later successful attempt settles earlier failures; a delivery settles "received".
      if (delivered.has(address)) set.delete('not delivered');
      if (set.size > 1) set.delete('received');
      return { address, statuses: STATUS_ORDER.filter((s) => set.has(s)) };
    })
    .sort((a, b) => a.address.localeCompare(b.address));
}

type Found = { acode: string | null; messageId: string | null; by: Set<Indicator> };

/** Messages that only a common indicator brought in, left out unless the analyst picked it (ALONE_LIMIT). */
function leaveOutCommon(messages: Map<string, Found>, picked: boolean): WhoResult['left_out'] {
  if (picked) return [];
  const out: WhoResult['left_out'] = [];
  for (const [indicator, limit] of Object.entries(ALONE_LIMIT) as [Indicator, number][]) {
    const shared = [...messages.values()].filter((m) => m.by.has(indicator)).length;
    if (shared <= limit) continue;
    let n = 0;
    for (const [key, m] of messages) {
      if (m.by.size === 1 && m.by.has(indicator)) {
        messages.delete(key);
        n++;
      }
    }
    if (n > 0) out.push({ indicator, messages: n, limit });
  }
  return out;
}

const specificityOf = (by: Iterable<Indicator>) => [...by].reduce((n, b) => n + SPECIFICITY[b], 0);

/** Given `damaged`, events whose record block is damaged are left out and noted there (the rest answers). */
export function whoElse(db: Database.Database, query: string, damaged?: DamagedBlocks, options: WhoOptions = {}): WhoResult {
  const read = reading(db, damaged);
  const seed = seedRows(read, query);
  const indicators = indicatorsOf(seed);
  const by = INDICATORS.filter((b) => (options.by ?? INDICATORS).includes(b));
  // Group every matching event by its message; remember which indicators brought it in.
  const messages = new Map<string, Found>();
  const cut = new Set<Indicator>();
  for (const { rows, by: indicator, truncated } of matchingRows(read, indicators, by)) {
    if (truncated) cut.add(indicator);
    for (const r of rows) {
      const key = r.acode ?? r.message_id;
      if (!key) continue;
      if (!messages.has(key)) messages.set(key, { acode: r.acode, messageId: r.message_id, by: new Set() });
      const m = messages.get(key)!;
      m.by.add(indicator);
      m.acode ??= r.acode;
      m.messageId ??= r.message_id;
    }
  }
  // Two keys for one message (a URL click knows only the message id; its receipt has the aCode): merge by message id.
  const byMessageId = new Map<string, string>();
  for (const [key, m] of messages) {
    if (!m.messageId) continue;
    const other = byMessageId.get(m.messageId);
    if (other === undefined) byMessageId.set(m.messageId, key);
    else if (other !== key) {
      const kept = messages.get(other)!;
      for (const b of m.by) kept.by.add(b);
      kept.acode ??= m.acode;
      messages.delete(key);
    }
  }
  const leftOut = leaveOutCommon(messages, options.by !== undefined);
  // The most specific first; the cap keeps those (at most MATCHES_PER_INDICATOR events per indicator were read).
  const ranked = [...messages.entries()].sort(([, a], [, b]) => specificityOf(b.by) - specificityOf(a.by));
  // An indicator read only in part cuts the answer short, unless what it alone brought was left out anyway.
  const truncated = ranked.length > MAX_MESSAGES || [...cut].some((i) => !leftOut.some((l) => l.indicator === i));
  const list: WhoMessage[] = [];
  for (const [key, m] of ranked.slice(0, MAX_MESSAGES)) {
    const rows = messageRows(read, m.acode, m.messageId).sort((a, b) => a.ts - b.ts || a.rowid - b.rowid);
    if (rows.length === 0) continue;
    const first = rows[0]!;
    const matchedBy = INDICATORS.filter((b) => m.by.has(b));
    list.push({
      key: m.acode ?? key,
      acode: m.acode,
      message_id: m.messageId,
      first_seen: new Date(first.ts).toISOString(),
      sender: rows.find((r) => r.sender)?.sender ?? null,
      subject: rows.find((r) => r.subject)?.subject ?? null,
      matched_by: matchedBy,
      specificity: specificityOf(matchedBy),
      recipients: recipientsOf(rows),
    });
  }
  list.sort((a, b) => b.specificity - a.specificity || a.first_seen.localeCompare(b.first_seen) || a.key.localeCompare(b.key));
  const all = new Map<string, { messages: number; statuses: Set<RecipientStatus>; specificity: number }>();
  for (const m of list) {
    for (const r of m.recipients) {
      const entry = all.get(r.address) ?? { messages: 0, statuses: new Set<RecipientStatus>(), specificity: 0 };
      entry.messages++;
      entry.specificity = Math.max(entry.specificity, m.specificity);
      for (const s of r.statuses) entry.statuses.add(s);
      all.set(r.address, entry);
    }
  }
  return {
    query,
    indicators,
    by,
    messages: list,
    recipients: [...all.entries()].sort(([a, x], [b, y]) => y.specificity - x.specificity || a.localeCompare(b))
      .map(([address, e]) => ({ address, messages: e.messages, statuses: STATUS_ORDER.filter((s) => e.statuses.has(s)), specificity: e.specificity })),
    left_out: leftOut,
    truncated,
  };
}
