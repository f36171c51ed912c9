/**
 * Seeded, realistic Mimecast SIEM events for all ten log types: the receipt, process and
 * delivery lines of one email share aCode, message id and plausible times; several recipients,
 * retries, holds, rejections, AV, TTP and journal lines. Used by `mimelog simulate`, the
 * benchmarks and the tests. Events are distinct by construction (no two share all fields).
 */
import { BOOLEAN_FIELDS, NUMBER_FIELDS } from '../mimecast/ecs-fields.js';
import { createHash } from 'node:crypto';
import { V1_ONLY_KEYS, V2_NULL_WHEN_ABSENT, V2_SUBTYPE_FROM, v2KeyFor } from '../mimecast/v2-fields.js';
import { LOG_TYPES } from '../mimecast/log-types.js';

export interface GeneratedEvent {
  readonly logType: string;
  readonly timeMs: number;
  /** API 1.0 keys and text values, `datetime` first, in Mimecast's usual order. */
  readonly fields: readonly (readonly [string, string])[];
  /** The time served instead of `timeMs` by an event whose time lies (see `misdated`). */
  readonly servedTimeMs?: number;
  /** The event's time to the millisecond, as API 2.0 serves it (API 1.0 cuts it to the second: `timeMs`). */
  readonly preciseMs?: number;
  /** When Mimecast received the email the event belongs to (whole seconds): API 2.0's aggregateId suffix. */
  readonly emailSecond?: number;
}

/** Small, fast, seeded PRNG (mulberry32). */
export class Rng {
  private state: number;
  constructor(seed: number) {
    this.state = seed >>> 0;
  }
  next(): number {
    this.state = (this.state + 0x6d2b79f5) >>> 0;
    let t = this.state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }
  int(min: number, max: number): number {
    return min + Math.floor(this.next() * (max - min + 1));
  }
  pick<T>(items: readonly T[]): T {
    return items[Math.floor(this.next() * items.length)]!;
  }
  chance(p: number): boolean {
    return this.next() < p;
  }
  token(length: number, alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_'): string {
    let s = '';
    for (let i = 0; i < length; i++) s += alphabet[Math.floor(this.next() * alphabet.length)];
    return s;
  }
  hex(length: number): string {
    return this.token(length, '0123456789abcdef');
  }
}

const DOMAINS = ['example.com', 'contoso.org', 'fabrikam.net', 'northwind.io', 'tailspin.co.uk', 'adatum.de'];
const INTERNAL = 'acme-corp.com';
const USERS = ['alice', 'bob', 'carol', 'dave', 'erin', 'frank', 'grace', 'heidi', 'ivan', 'judy', 'mallory', 'oscar'];
const SUBJECTS = [
  'Quarterly report', 'Invoice #%n attached', 'RE: lunch | friday?', 'Meeting moved to 3pm', 'Password expiry notice',
  'Your parcel = delivered', 'FW: contract draft v%n', 'Welcome aboard', 'Urgent: wire transfer', '[EXTERNAL] Newsletter %n',
];
const FILES = [
  ['report.pdf', 'pdf', 'application/pdf'], ['invoice.xlsm', 'xlsm', 'application/vnd.ms-excel.sheet.macroEnabled.12'],
  ['photo.jpg', 'jpg', 'image/jpeg'], ['contract.docx', 'docx', 'application/vnd.openxmlformats-officedocument.wordprocessingml.document'],
  ['setup.exe', 'exe', 'application/x-msdownload'], ['notes.txt', 'txt', 'text/plain'],
] as const;
const CIPHERS = ['TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384', 'TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA', 'TLS_AES_256_GCM_SHA384'];
const TLS = ['TLSv1.2', 'TLSv1.3', 'TLSv1'];

export interface GenerateOptions {
  readonly seed: number;
  /** Time of the first event, ms since the epoch. */
  readonly startMs: number;
  /** Average spacing between emails, ms. */
  readonly spacingMs?: number;
}

interface Email {
  aCode: string;
  msgId: string;
  sender: string;
  headerFrom: string;
  recipients: string[];
  subject: string;
  dir: 'Inbound' | 'Outbound' | 'Internal';
  ip: string;
  size: number;
  attachments: (typeof FILES)[number][];
  t: number;
}

function ip(rng: Rng): string {
  return `${rng.int(11, 223)}.${rng.int(0, 255)}.${rng.int(0, 255)}.${rng.int(1, 254)}`;
}

function address(rng: Rng, domain?: string): string {
  return `${rng.pick(USERS)}${rng.int(1, 999)}@${domain ?? rng.pick(DOMAINS)}`;
}

const datetime = (ms: number) => new Date(ms).toISOString().replace(/\.\d{3}Z$/, '+0000');

/** Generates events forever (take what you need); deterministic for a seed. */
export function* generateEvents(options: GenerateOptions): Generator<GeneratedEvent> {
  const rng = new Rng(options.seed);
  const spacing = options.spacingMs ?? 700;
  let t = options.startMs;
  let serial = 0;
  for (;;) {
    t += rng.int(0, spacing * 2);
    serial++;
    const dir = rng.pick(['Inbound', 'Inbound', 'Outbound', 'Internal'] as const);
    const email: Email = {
      aCode: rng.token(22),
      msgId: `<${rng.hex(16)}.${serial}@${rng.pick(DOMAINS)}>`,
      sender: dir === 'Inbound' ? address(rng) : address(rng, INTERNAL),
      headerFrom: '',
      recipients: [...new Set(Array.from({ length: rng.chance(0.2) ? rng.int(2, 4) : 1 }, () => (dir === 'Outbound' ? address(rng) : address(rng, INTERNAL))))],
      subject: rng.pick(SUBJECTS).replace('%n', String(rng.int(1, 9999))),
      dir,
      ip: ip(rng),
      size: rng.int(1200, 900_000),
      attachments: rng.chance(0.3) ? Array.from({ length: rng.int(1, 3) }, () => rng.pick(FILES)) : [],
      t,
    };
    email.headerFrom = rng.chance(0.9) ? email.sender : address(rng);
    yield* emailEvents(rng, email);
    // Security events arrive between emails.
    if (rng.chance(0.08)) yield avEvent(rng, email, 'avlog');
    if (rng.chance(0.06)) yield avEvent(rng, email, 'attachment-protect');
    if (rng.chance(0.05)) yield spamEvent(rng, email);
    if (rng.chance(0.05)) yield urlEvent(rng, email);
    if (rng.chance(0.03)) yield iepEvent(rng, email);
    if (rng.chance(0.03)) yield impersonationEvent(rng, email);
  }
}

/**
 * The event serving `servedTimeMs` as its time (API 1.0 `datetime`, API 2.0 `timestamp`) while it
 * stays where its true time puts it: in its file, in the stream's order and window.
 */
export function misdated(e: GeneratedEvent, servedTimeMs: number): GeneratedEvent {
  return { ...e, servedTimeMs, fields: e.fields.map(([k, v]) => [k, k === 'datetime' ? datetime(servedTimeMs) : v] as const) };
}

function ev(logType: string, ms: number, fields: [string, string][], emailMs: number = ms): GeneratedEvent {
  const timeMs = ms - (ms % 1000); // API 1.0 times have 1 s resolution
  return { logType, timeMs, preciseMs: ms, emailSecond: Math.floor(emailMs / 1000), fields: [['datetime', datetime(timeMs)], ['acc', 'C0A0'], ...fields] };
}

function* emailEvents(rng: Rng, e: Email): Generator<GeneratedEvent> {
  const rejected = e.dir === 'Inbound' && rng.chance(0.1);
  for (const rcpt of e.recipients) {
    const base: [string, string][] = [['aCode', e.aCode], ['IP', e.ip], ['Dir', e.dir], ['MsgId', e.msgId], ['Subject', e.subject],
      ['headerFrom', e.headerFrom], ['Sender', e.sender], ['Rcpt', rcpt]];
    if (rejected) {
      yield ev('receipt', e.t, [...base, ['Act', 'Rej'], ['RejType', 'Invalid Recipient Address'], ['Error', 'Failed Known address verification'],
        ['RejCode', '550'], ['RejInfo', 'Invalid Recipient'], ['TlsVer', rng.pick(TLS)], ['Cphr', rng.pick(CIPHERS)]], e.t);
      continue;
    }
    const score = rng.int(0, 12);
    yield ev('receipt', e.t, [...base, ['SpamLimit', String(rng.pick([0, 10, 28]))], ['SpamInfo', '[]'], ['Act', 'Acc'],
      ['TlsVer', rng.pick(TLS)], ['Cphr', rng.pick(CIPHERS)],
      ['SpamProcessingDetail', JSON.stringify({ spf: { info: rng.pick(['SPF_PASS', 'SPF_FAIL']), allow: true }, dkim: { info: 'DKIM_UNKNOWN', allow: true } })],
      ['SpamScore', String(score)]], e.t);
  }
  if (rejected) return;
  const held = rng.chance(0.07);
  const att = e.attachments;
  const attSize = att.length * rng.int(1000, 90_000);
  const processFields = (names: readonly string[], cnt: number, size: number): [string, string][] => [
    ['aCode', e.aCode], ['AttSize', String(size)], ['Act', held ? 'Hld' : 'Acc'], ['AttCnt', String(cnt)],
    ['AttNames', names.map((n) => `"${n}"`).join(', ')], ['MsgSize', String(e.size)], ['MsgId', e.msgId],
    ...(held ? ([['Hld', 'Spm'], ['IPNewDomain', 'false'], ['IPReplyMismatch', 'false'], ['IPInternalName', 'false'],
      ['IPThreadDict', 'false'], ['IPSimilarDomain', 'false']] as [string, string][]) : []),
  ];
  const tp = e.t + rng.int(0, 1500);
  yield ev('process', tp, processFields(att.map((a) => a[0]), att.length, attSize), e.t);
  // Mimecast's documented example: a second process line, same second, differing only in attachments.
  if (att.length > 0 && rng.chance(0.5)) yield ev('process', tp, processFields([], 0, 0), e.t);
  if (held) return;
  for (const rcpt of e.recipients) {
    const attempts = rng.chance(0.1) ? rng.int(2, 3) : 1;
    for (let attempt = 1; attempt <= attempts; attempt++) {
      const ok = attempt === attempts && rng.chance(0.97);
      // Retries can fall in the same second as the previous attempt.
      const td = e.t + 1000 + (attempt - 1) * rng.int(0, 1200);
      yield ev('delivery', td, [['aCode', e.aCode], ['Delivered', String(ok)], ['IP', ip(rng)], ['AttCnt', String(att.length)], ['Dir', e.dir],
        ['ReceiptAck', ok ? `250 2.6.0 ${e.msgId} [InternalId=${rng.int(1, 1e9)}] Queued mail for delivery` : 'null'],
        ['MsgId', e.msgId], ['Subject', e.subject], ['Latency', String(rng.int(200, 60_000))], ['Sender', e.sender], ['Rcpt', rcpt],
        ['AttSize', String(attSize)], ['Attempt', String(attempt)], ['TlsVer', rng.pick(TLS)], ['Cphr', rng.pick(CIPHERS)],
        ['Snt', String(ok ? e.size : 0)], ['UseTls', rng.chance(0.9) ? 'Yes' : 'No'], ['Route', 'Mimecast Exchange Route'],
        ...(ok ? [] : ([['Err', 'Connection timed out'], ['RejType', 'Recipient server unavailable or busy']] as [string, string][]))], e.t);
    }
    if (e.dir === 'Internal' && rng.chance(0.5)) {
      yield ev('jrnl', e.t + 2000, [['aCode', e.aCode], ['Sender', e.sender], ['Rcpt', rcpt], ['Dir', e.dir], ['RcptActType', 'Jnl'], ['RcptHdrType', 'Unknown']], e.t);
    }
  }
}

function avEvent(rng: Rng, e: Email, logType: 'avlog' | 'attachment-protect'): GeneratedEvent {
  const [name, ext, mime] = rng.pick(FILES);
  const rcpt = e.recipients[0]!;
  const common: [string, string][] = [['Sender', e.sender], ['SenderDomain', e.sender.split('@')[1]!], ['Recipient', rcpt], ['IP', e.ip],
    ['Route', e.dir], ['fileName', name], ['fileExt', ext], ['fileMime', mime], ['md5', rng.hex(32)], ['sha1', rng.hex(40)],
    ['sha256', rng.hex(64)], ['Size', String(rng.int(100, 5_000_000))]];
  if (logType === 'attachment-protect') return ev(logType, e.t + 900, common);
  return ev(logType, e.t + 900, [...common, ['Virus', rng.pick(['Anomali:Phishing', 'Eicar-Test-Signature', 'Trojan.Agent'])],
    ['SenderDomainInternal', 'false'], ['CustomerIP', 'true'], ['MimecastIP', 'false'], ['MsgId', e.msgId], ['Subject', e.subject]]);
}

function spamEvent(rng: Rng, e: Email): GeneratedEvent {
  return ev('spam', e.t + 500, [['aCode', e.aCode], ['Sender', e.sender], ['headerFrom', e.headerFrom], ['SourceIP', e.ip],
    ['Recipient', e.recipients[0]!], ['SenderDomain', e.sender.split('@')[1]!], ['Subject', e.subject], ['MsgId', e.msgId], ['Route', e.dir]], e.t);
}

function urlEvent(rng: Rng, e: Email): GeneratedEvent {
  return ev('url-protect', e.t + rng.int(60_000, 3_600_000), [['reason', rng.pick(['malicious', 'suspicious', 'clean'])],
    ['url', `https://${rng.token(8, 'abcdefghijklmnopqrstuvwxyz')}.${rng.pick(DOMAINS)}/login?id=${rng.int(1, 1e6)}`],
    ['urlCategory', rng.pick(['Blocked', 'Phishing & Fraud', 'Allowed'])], ['route', e.dir.toLowerCase()], ['sourceIp', e.ip],
    ['sender', e.sender], ['senderDomain', e.sender.split('@')[1]!], ['recipient', e.recipients[0]!], ['action', rng.pick(['block', 'allow', 'warn'])],
    ['subject', e.subject], ['msgid', e.msgId], ['credentialTheft', String(rng.chance(0.1))]], e.t);
}

function iepEvent(rng: Rng, e: Email): GeneratedEvent {
  return ev('internal-email-protect', e.t + 700, [['aCode', e.aCode], ['Sender', e.sender], ['Recipient', e.recipients[0]!], ['Route', 'Internal'],
    ['URL', `https://${rng.pick(DOMAINS)}/p/${rng.token(10)}`], ['UrlCategory', rng.pick(['Phishing & Fraud', 'Malware'])],
    ['ScanResultInfo', 'Blocked URL Category'], ['MsgId', e.msgId], ['Subject', e.subject]], e.t);
}

function impersonationEvent(rng: Rng, e: Email): GeneratedEvent {
  const flag = () => String(rng.chance(0.2));
  return ev('impersonation-protect', e.t + 400, [['aCode', e.aCode], ['Sender', e.sender], ['Recipient', e.recipients[0]!], ['IP', e.ip],
    ['Route', 'Inbound'], ['Action', rng.pick(['Hold', 'None', 'Tag'])], ['Definition', 'Default Impersonation Definition'], ['Hits', String(rng.int(1, 4))],
    ['CustomName', flag()], ['CustomThreatDictionary', flag()], ['InternalName', flag()], ['NewDomain', flag()], ['ReplyMismatch', flag()],
    ['SimilarCustomExternalDomain', flag()], ['SimilarInternalDomain', flag()], ['SimilarMimecastExternalDomain', flag()],
    ['TaggedExternal', flag()], ['TaggedMalicious', flag()], ['ThreatDictionary', flag()], ['MsgId', e.msgId], ['Subject', e.subject]], e.t);
}

export type CampaignOutcome = 'rejected' | 'held' | 'delivered';

export interface Campaign {
  readonly sender: string;
  readonly subject: string;
  readonly url: string;
  readonly attachmentSha256: string;
  /** Every recipient, what became of its message, and whether it clicked the link. */
  readonly recipients: readonly { address: string; acode: string; outcome: CampaignOutcome; clicked: boolean }[];
  readonly events: readonly GeneratedEvent[];
}

/**
 * A phishing campaign: one sender (a domain the ordinary generator never uses), one subject, one
 * link and one attachment, sent as separate messages to `recipients` people; some messages are
 * rejected at receipt, some held, the rest delivered, and some recipients click. The answer key
 * for "who else received it?".
 */
export function generateCampaign(options: GenerateOptions & { readonly recipients: number }): Campaign {
  const rng = new Rng(options.seed);
  const tag = rng.int(1000, 9999);
  const sender = `billing${tag}@invoice-payments-secure.biz`;
  const subject = `Action required: invoice ${tag} overdue`;
  const url = `https://invoice-payments-secure.biz/pay?ref=${rng.token(12)}`;
  const [name, ext, mime] = FILES[1];
  const cipher = CIPHERS[0]!;
  const sha256 = rng.hex(64);
  const ip0 = ip(rng);
  const users = [...new Set(Array.from({ length: options.recipients * 3 }, () => address(rng, INTERNAL)))].slice(0, options.recipients);
  const events: GeneratedEvent[] = [];
  const recipients: Campaign['recipients'][number][] = [];
  let t = options.startMs;
  for (const rcpt of users) {
    t += rng.int(1000, options.spacingMs ?? 20_000);
    const acode = rng.token(22);
    const msgId = `<${rng.hex(16)}.campaign@invoice-payments-secure.biz>`;
    const outcome: CampaignOutcome = rng.chance(0.2) ? 'rejected' : rng.chance(0.25) ? 'held' : 'delivered';
    const clicked = outcome === 'delivered' && rng.chance(0.4);
    recipients.push({ address: rcpt, acode, outcome, clicked });
    const base: [string, string][] = [['aCode', acode], ['IP', ip0], ['Dir', 'Inbound'], ['MsgId', msgId], ['Subject', subject], ['headerFrom', sender], ['Sender', sender], ['Rcpt', rcpt]];
    if (outcome === 'rejected') {
      events.push(ev('receipt', t, [...base, ['Act', 'Rej'], ['RejType', 'Message Bounced'], ['Error', 'Spam signature'], ['RejCode', '554'], ['RejInfo', 'Spam'], ['TlsVer', 'TLSv1.2'], ['Cphr', cipher]], t));
      continue;
    }
    events.push(ev('receipt', t, [...base, ['SpamLimit', '28'], ['SpamInfo', '[]'], ['Act', 'Acc'], ['TlsVer', 'TLSv1.2'], ['Cphr', cipher], ['SpamScore', String(rng.int(5, 20))]], t));
    events.push(ev('process', t + 500, [['aCode', acode], ['AttSize', '48211'], ['Act', outcome === 'held' ? 'Hld' : 'Acc'], ['AttCnt', '1'], ['AttNames', `"${name}"`],
      ['MsgSize', '61234'], ['MsgId', msgId], ...(outcome === 'held' ? ([['Hld', 'Spm']] as [string, string][]) : [])], t));
    events.push(ev('attachment-protect', t + 700, [['Sender', sender], ['SenderDomain', 'invoice-payments-secure.biz'], ['Recipient', rcpt], ['IP', ip0], ['Route', 'Inbound'],
      ['fileName', name], ['fileExt', ext], ['fileMime', mime], ['md5', sha256.slice(0, 32)], ['sha1', sha256.slice(0, 40)], ['sha256', sha256], ['Size', '48211']], t));
    if (outcome === 'held') continue;
    events.push(ev('delivery', t + 1500, [['aCode', acode], ['Delivered', 'true'], ['IP', ip(rng)], ['AttCnt', '1'], ['Dir', 'Inbound'],
      ['ReceiptAck', `250 2.6.0 ${msgId} Queued mail for delivery`], ['MsgId', msgId], ['Subject', subject], ['Latency', String(rng.int(200, 5000))],
      ['Sender', sender], ['Rcpt', rcpt], ['AttSize', '48211'], ['Attempt', '1'], ['TlsVer', 'TLSv1.2'], ['Cphr', cipher], ['Snt', '61234'], ['UseTls', 'Yes'], ['Route', 'Mimecast Exchange Route']], t));
    if (clicked) {
      events.push(ev('url-protect', t + rng.int(60_000, 600_000), [['reason', 'malicious'], ['url', url], ['urlCategory', 'Phishing & Fraud'], ['route', 'inbound'],
        ['sourceIp', ip0], ['sender', sender], ['senderDomain', 'invoice-payments-secure.biz'], ['recipient', rcpt], ['action', 'block'], ['subject', subject], ['msgid', msgId], ['credentialTheft', 'true']], t));
    }
  }
  return { sender, subject, url, attachmentSha256: sha256, recipients, events: events.sort((a, b) => a.timeMs - b.timeMs) };
}

/** Takes `count` events. */
export function takeEvents(options: GenerateOptions, count: number): GeneratedEvent[] {
  const out: GeneratedEvent[] = [];
  for (const e of generateEvents(options)) {
    if (out.length >= count) break;
    out.push(e);
  }
  return out;
}

// ---- Serializers: the three shapes Mimecast serves ----

const NEEDS_QUOTES = /[|=\\]|^\s|\s$|^\{/;
/** Keys Mimecast writes in backslash quotes (its examples quote these even without `|`). */
const QUOTED_KEYS = new Set(['Subject', 'RejType', 'Error', 'RejInfo', 'ReceiptAck', 'Route', 'Err', 'AttNames']);

export function toKeyValueLine(e: GeneratedEvent): string {
  return e.fields
    .map(([k, v]) => {
      const isJson = v.startsWith('{') || v === '[]';
      const quote = !isJson && v !== '' && v !== 'null' && (QUOTED_KEYS.has(k) || NEEDS_QUOTES.test(v));
      return `${k}=${quote ? `\\${v}\\` : v}`;
    })
    .join('|');
}

const numberKeys = new Set(NUMBER_FIELDS.concat(['Size', 'RejCode']));
const booleanKeys = new Set(BOOLEAN_FIELDS.concat(['Delivered']));

function typedValue(key: string, v: string): unknown {
  if (v === 'null') return null;
  if (numberKeys.has(key) && /^\d+$/.test(v)) return Number(v);
  if (booleanKeys.has(key) && (v === 'true' || v === 'false')) return v === 'true';
  if (v.startsWith('{') || v === '[]') return JSON.parse(v);
  return v;
}

/** An element of an API 1.0 json file's `data` array (typed values). */
export function toV1JsonRecord(e: GeneratedEvent): Record<string, unknown> {
  return Object.fromEntries(e.fields.map(([k, v]) => [k, typedValue(k, v)]));
}

/** The API 1.0 json file: `{"type":"MTA","data":[…]}`, with `<`/`>` escaped as Mimecast does. */
export function toV1JsonFile(events: readonly GeneratedEvent[]): string {
  return JSON.stringify({ type: 'MTA', data: events.map(toV1JsonRecord) }).replace(/</g, '\\u003c').replace(/>/g, '\\u003e');
}

const V2_TYPE = new Map(LOG_TYPES.map((t) => [t.name, t.v2Types[0]!]));

export interface V2Transport {
  readonly shape: 'batch' | 'stream';
  readonly partition?: number;
  readonly offset?: number;
}

/** An API 2.0 record's values: text, the epoch-millisecond time as a number, transport numbers, `null`. */
export type V2Record = Record<string, string | number | null>;

/** A stable base64url digest of an event (no draw from the generator's random stream). */
function digestOf(e: GeneratedEvent, salt: string): string {
  return createHash('sha256').update(salt).update(JSON.stringify(e.fields)).digest('base64url');
}

/**
 * An API 2.0 event as Mimecast serves it (docs/mimecast.md §5c), not a renaming of the API 1.0
 * line: lowerCamelCase keys (`v2KeyFor`), text values, `timestamp` in epoch milliseconds (a
 * number, to the millisecond), `aggregateId` as `<aCode>_<epoch seconds of the email>` (for one
 * email in four without the suffix, as samples also show), a `processingId` per line, the type's
 * API 2.0-only keys written `null` when empty, API 1.0-only keys left out, JSON-in-string fields as
 * text; batch shape `type`/`subtype` plus `_partition`/`_offset`, stream shape `eventType`/`subType`.
 */
export function toV2Record(e: GeneratedEvent, transport: V2Transport): V2Record {
  const out: V2Record = {};
  const batch = transport.shape === 'batch';
  const second = e.emailSecond ?? Math.floor(e.timeMs / 1000);
  const values = new Map(e.fields);
  const subtypeFrom = V2_SUBTYPE_FROM[e.logType];
  out[batch ? 'type' : 'eventType'] = V2_TYPE.get(e.logType) ?? e.logType;
  out[batch ? 'subtype' : 'subType'] = subtypeFrom === undefined ? null : (values.get(subtypeFrom) ?? null);
  for (const key of V2_NULL_WHEN_ABSENT[e.logType] ?? []) out[key] = null;
  const v1Only = new Set(V1_ONLY_KEYS[e.logType] ?? []);
  for (const [k, v] of e.fields) {
    if (v1Only.has(k)) continue;
    const key = v2KeyFor(e.logType, k);
    if (k === 'datetime') out[key] = e.servedTimeMs ?? e.preciseMs ?? e.timeMs;
    else if (k === 'aCode') out[key] = digestOf({ ...e, fields: [['aCode', v]] }, 'suffix').charCodeAt(0) % 4 === 0 ? v : `${v}_${second}`;
    else out[key] = v === '' || v === 'null' ? null : v;
  }
  out.processingId = `${digestOf(e, 'processing').slice(0, 43)}_${second}`;
  if (batch) {
    out._partition = transport.partition ?? 0;
    out._offset = transport.offset ?? 0;
  }
  return out;
}
