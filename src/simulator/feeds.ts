/**
 * The API 2.0 `POST` feeds in the simulator (docs/mimecast.md §6; the table is mimecast/feeds.ts):
 * seeded records per feed, the request shape `{meta:{pagination:{pageSize,pageToken}},data:[{…}]}`,
 * the time window from the feed's own filter keys (ISO 8601 with an offset), newest first unless
 * `oldestFirst`, pages with `meta.pagination.next`, and errors as HTTP 200 with `fail[]`: a feed
 * the account does not license answers `err_feature_not_licensed` every time.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { FEEDS, type FeedSpec } from '../mimecast/feeds.js';
import { ZONE_OFFSETS_MIN, parseIsoTime } from '../decode/time.js';
import { Rng } from './generate.js';

type FeedRecord = Record<string, string | number | boolean | string[] | Record<string, string>[]>;

export interface FeedSimOptions {
  /** Records per feed (default 400). */
  readonly records?: number;
  /** The first record's time (default: 3 days before the simulator starts). */
  readonly startMs?: number;
  /** Records are spread over this long (default 2 days). */
  readonly spanMs?: number;
  /** Feeds the account does not license: they answer `fail[]` with `err_feature_not_licensed`. */
  readonly unlicensed?: readonly string[];
  /** Feeds whose first record holds a value nested 200 deep (hostile input: no page with it parses within bounds). */
  readonly deepRecordIn?: readonly string[];
  /**
   * Late indexing, as Mimecast does it: this fraction of the records becomes visible only up to
   * `maxDelayMs` after its own time, so a window read early misses it and the same window read
   * later has it. Visibility follows `now` (default the real time).
   */
  readonly late?: { readonly fraction: number; readonly maxDelayMs: number };
  readonly now?: () => number;
}

const DOMAINS = ['example.com', 'example.org', 'corp.example.net'];
const OFFSETS = ['+0000', '+0100', '-0500', '+0530', 'Z'];

/** An ISO time with one of several offsets, all naming the same instant (Mimecast mixes them). */
function isoWithOffset(ms: number, rng: Rng): string {
  const offset = rng.pick(OFFSETS);
  if (offset === 'Z') return new Date(ms).toISOString();
  const sign = offset[0] === '-' ? -1 : 1;
  const minutes = sign * (Number(offset.slice(1, 3)) * 60 + Number(offset.slice(3, 5)));
  return `${new Date(ms + minutes * 60_000).toISOString().slice(0, 19)}${offset}`;
}

export function person(rng: Rng): string {
  return `${rng.pick(['alice', 'bob', 'carol', 'dave', 'erin', 'frank', 'grace'])}.${rng.token(4, 'abcdefghijklmnopqrstuvwxyz')}@${rng.pick(DOMAINS)}`;
}

export function messageId(rng: Rng): string {
  return `<${rng.token(16, 'abcdefghijklmnopqrstuvwxyz0123456789')}@${rng.pick(DOMAINS)}>`;
}

/** Zones the audit text names its time in; the account's zone, so not UTC as a rule. */
const TEXT_ZONES = ['BST', 'GMT', 'UTC', 'EDT', 'CEST', 'AEST'];

/** `Date: 2026-05-18, Time: 13:50:19 EDT`: the instant `ms` as a wall clock in that zone. */
function textTime(ms: number, zone: string): string {
  const wall = new Date(ms + ZONE_OFFSETS_MIN[zone]! * 60_000).toISOString();
  return `Date: ${wall.slice(0, 10)}, Time: ${wall.slice(11, 19)} ${zone}`;
}

/** One record of a feed at `ms`, in the shape the feed answers. */
const RECORD: Readonly<Record<string, (ms: number, rng: Rng) => FeedRecord>> = {
  audit: (ms, rng) => ({
    id: `eNqrVi${rng.token(40)}`,
    auditType: rng.pick(['Logon Authentication Failed', 'User Logged On', 'Policy Changed', 'Held Message Released', 'Account Role Changed']),
    category: rng.pick(['authentication_logs', 'policy_logs', 'account_logs']),
    eventInfo: `${rng.pick(['Logon from', 'Change by', 'Release by'])} ${rng.pick(['10.1.2.3', '192.0.2.10'])}, ${textTime(ms, rng.pick(TEXT_ZONES))}`,
    eventTime: isoWithOffset(ms, rng),
    user: person(rng),
  }),
  'ttp-url': (ms, rng) => {
    const malicious = rng.chance(0.2);
    return {
      date: isoWithOffset(ms, rng),
      userEmailAddress: person(rng),
      fromUserEmailAddress: person(rng),
      url: `https://${rng.pick(['login', 'docs', 'files'])}.${rng.token(6, 'abcdefghijklmnopqrstuvwxyz')}.example/${rng.token(8)}`,
      action: malicious ? 'block' : 'allow',
      scanResult: malicious ? 'malicious' : 'clean',
      category: malicious ? 'Phishing & Fraud' : 'Business',
      ttpDefinition: 'Default URL Protection Definition',
      adminOverride: 'N/A',
      userOverride: 'None',
      userAwarenessAction: 'NA',
      route: rng.pick(['inbound', 'internal']),
      emailPartsDescription: ['Body'],
      messageId: messageId(rng),
      sendingIp: `198.51.100.${rng.int(1, 254)}`,
    };
  },
  'ttp-attachment': (ms, rng) => {
    const malicious = rng.chance(0.15);
    return {
      date: isoWithOffset(ms, rng),
      senderAddress: person(rng),
      recipientAddress: person(rng),
      fileName: `${rng.pick(['invoice', 'report', 'scan'])}-${rng.int(1, 999)}.${rng.pick(['pdf', 'docx', 'xlsm'])}`,
      fileType: rng.pick(['application/pdf', 'application/vnd.ms-excel.sheet.macroEnabled.12']),
      result: malicious ? 'malicious' : 'safe',
      actionTriggered: malicious ? 'sandbox' : 'none',
      definition: 'Default Attachment Protection Definition',
      details: malicious ? 'Malicious behaviour detected' : 'Safe',
      route: 'inbound',
      messageId: messageId(rng),
      subject: `Document ${rng.int(1, 9999)}`,
      sha256: rng.hex(64),
    };
  },
  'ttp-impersonation': (ms, rng) => {
    const hits = rng.int(0, 4);
    return {
      id: `MTOKEN:${rng.token(30)}`,
      eventTime: isoWithOffset(ms, rng),
      action: hits >= 2 ? 'hold' : 'none',
      definition: 'Default Impersonation Definition',
      hits,
      identifiers: ['similar_internal_domain', 'newly_observed_domain'].slice(0, Math.min(hits, 2)),
      impersonationResults: hits > 0 ? [{ impersonationDetail: 'similar_internal_domain', checkerResult: 'hit' }] : [],
      messageId: messageId(rng),
      senderAddress: person(rng),
      senderIpAddress: `203.0.113.${rng.int(1, 254)}`,
      recipientAddress: person(rng),
      subject: `Urgent wire ${rng.int(1, 999)}`,
      taggedExternal: true,
      taggedMalicious: hits >= 2,
    };
  },
  'held-release': (ms, rng) => {
    const spamScore = rng.int(0, 20);
    return {
      released: isoWithOffset(ms, rng),
      operator: person(rng),
      heldReason: rng.pick(['Spam', 'Policy: attachment type', 'Suspected impersonation']),
      spamScore,
      status: rng.pick(['released', 'released', 'rejected']),
      from: person(rng),
      to: person(rng),
      subject: `Held ${rng.int(1, 9999)}`,
      messageId: messageId(rng),
      route: 'inbound',
    };
  },
  'archive-search': (ms, rng) => ({
    createTime: isoWithOffset(ms, rng),
    emailAddr: person(rng),
    description: rng.pick(['Message search', 'Saved search run']),
    searchText: rng.pick(['invoice', 'from:ceo@example.com', 'project x']),
    searchReason: rng.pick(['', 'Legal hold', 'HR request']),
    source: rng.pick(['archive', 'discovery']),
    searchPath: '/Inbox',
    isAdmin: rng.chance(0.3),
  }),
  'archive-view': (ms, rng) => ({
    viewer: person(rng),
    viewed: isoWithOffset(ms, rng),
    from: person(rng),
    to: person(rng),
    subject: `Archived ${rng.int(1, 9999)}`,
    messageDate: isoWithOffset(ms - rng.int(1, 90) * 86_400_000, rng),
    contentViewed: rng.chance(0.7),
    discoveryCase: rng.chance(0.2),
  }),
  // The shape is the simulator's guess (mimecast/feeds.ts): Mimecast does not document it.
  rejections: (ms, rng) => {
    const deferred = rng.chance(0.2);
    return {
      eventTime: isoWithOffset(ms, rng),
      action: deferred ? 'defer' : 'reject',
      senderAddress: person(rng),
      recipientAddress: person(rng),
      senderIpAddress: `192.0.2.${rng.int(1, 254)}`,
      rejectionType: deferred ? 'Greylisting' : rng.pick(['Spam Signature', 'RBL', 'Invalid Recipient']),
      rejectionCode: deferred ? '451' : '550',
      rejectionInfo: deferred ? 'Temporary error, try again later' : 'Rejected by policy',
      subject: `Offer ${rng.int(1, 9999)}`,
      route: 'inbound',
    };
  },
  dlp: (ms, rng) => ({
    eventTime: isoWithOffset(ms, rng),
    action: rng.pick(['notify', 'hold', 'block']),
    policy: rng.pick(['PCI numbers', 'Customer list']),
    senderAddress: person(rng),
    recipientAddress: person(rng),
    subject: `Quarterly ${rng.int(1, 99)}`,
    messageId: messageId(rng),
    route: 'outbound',
  }),
};

interface TimedRecord {
  readonly ms: number;
  /** When the record shows up in answers (its time, or later when it is indexed late). */
  readonly visibleAt: number;
  readonly record: FeedRecord;
}

type Json = (status: number, value: unknown, headers?: Record<string, string>) => void;

const MAX_PAGE = 500;

export class FeedApi {
  private readonly records = new Map<string, TimedRecord[]>();
  private readonly unlicensed: ReadonlySet<string>;
  private readonly now: () => number;

  constructor(seed: number, options: FeedSimOptions = {}) {
    this.now = options.now ?? Date.now;
    const start = options.startMs ?? Date.now() - 3 * 86_400_000;
    const span = options.spanMs ?? 2 * 86_400_000;
    const n = options.records ?? 400;
    for (const [i, feed] of FEEDS.entries()) {
      const rng = new Rng(seed ^ (0xfeed + i * 7919));
      const lateness = new Rng(seed ^ (0x1a7e + i * 7919)); // its own draws: the records are the same with or without it
      const list: TimedRecord[] = [];
      for (let k = 0; k < n; k++) {
        // Whole seconds (the feeds' times carry no milliseconds); some records share a second.
        const ms = Math.floor((start + Math.floor((span * k) / n) + rng.int(0, 60_000)) / 1000) * 1000;
        const late = options.late !== undefined && lateness.chance(options.late.fraction);
        list.push({ ms, visibleAt: late ? ms + lateness.int(1000, options.late!.maxDelayMs) : ms, record: RECORD[feed.name]!(ms, rng) });
      }
      list.sort((a, b) => a.ms - b.ms);
      if (options.deepRecordIn?.includes(feed.name)) list[0] = { ...list[0]!, record: { ...list[0]!.record, nested: JSON.parse(`${'['.repeat(200)}${']'.repeat(200)}`) as string[] } };
      this.records.set(feed.name, list);
    }
    this.unlicensed = new Set(options.unlicensed ?? []);
  }

  /** The feed a request path belongs to. */
  feedAt(path: string): FeedSpec | undefined {
    return FEEDS.find((f) => f.path === path);
  }

  /** Every record of a licensed feed, one JSON line each: `mimelog ingest` of these (per feed) is the expected set. */
  writeExpected(dir: string): void {
    mkdirSync(dir, { recursive: true });
    for (const [name, list] of this.records) {
      if (this.unlicensed.has(name)) continue;
      writeFileSync(join(dir, `${name}.ndjson`), `${list.map((r) => JSON.stringify(r.record)).join('\n')}\n`);
    }
  }

  /** A licensed feed's records as written by `writeExpected`, with their time and when they became visible. */
  expectedRecords(feed: string): { line: string; ms: number; visibleAt: number }[] {
    if (this.unlicensed.has(feed)) return [];
    return (this.records.get(feed) ?? []).map((r) => ({ line: JSON.stringify(r.record), ms: r.ms, visibleAt: r.visibleAt }));
  }

  /** Answers one feed request (authorized and within the rate limit already). */
  answer(feed: FeedSpec, body: Buffer, json: Json, failRetryable: boolean): void {
    const fail = (code: string, message: string, retryable: boolean) => json(200, { meta: { status: 200 }, data: [], fail: [{ errors: [{ code, message, retryable }] }] });
    if (this.unlicensed.has(feed.name)) return fail('err_feature_not_licensed', `${feed.name}: the account is not licensed for this product`, false);
    if (failRetryable) return fail('err_internal_server_error', 'temporary failure, try again', true);
    let request: { meta?: { pagination?: { pageSize?: number; pageToken?: string } }; data?: Record<string, unknown>[] };
    try {
      request = JSON.parse(body.toString() || '{}');
    } catch {
      return fail('err_validation_bad_json', 'request body is not JSON', false);
    }
    const filters = request.data?.[0] ?? {};
    const fromText = filters[feed.window.from];
    const toText = filters[feed.window.to];
    // Explicit offsets only: a time without one would be read in some server zone.
    const withOffset = (v: unknown) => typeof v === 'string' && /(Z|[+-]\d{2}:?\d{2})$/.test(v) ? parseIsoTime(v) : NaN;
    const fromMs = withOffset(fromText);
    const toMs = withOffset(toText);
    if (Number.isNaN(fromMs) || Number.isNaN(toMs) || toMs < fromMs) {
      return fail('err_validation_date_range', `${feed.window.from} and ${feed.window.to} must be ISO 8601 times with an offset, ${feed.window.from} first`, false);
    }
    const pageSize = Math.max(1, Math.min(MAX_PAGE, Number(request.meta?.pagination?.pageSize ?? 100)));
    const token = request.meta?.pagination?.pageToken;
    const offset = token ? Number(/^page:(\d+)$/.exec(Buffer.from(token, 'base64url').toString())?.[1] ?? NaN) : 0;
    if (!Number.isInteger(offset)) return fail('err_validation_page_token', 'invalid pageToken', false);
    const now = this.now();
    let inWindow = this.records.get(feed.name)!.filter((r) => r.ms >= fromMs && r.ms < toMs && r.visibleAt <= now);
    if (feed.oldestFirst && filters.oldestFirst !== true) inWindow = [...inWindow].reverse(); // newest first unless asked
    const page = inWindow.slice(offset, offset + pageSize).map((r) => r.record);
    const next = offset + page.length < inWindow.length ? Buffer.from(`page:${offset + page.length}`).toString('base64url') : undefined;
    const data = feed.recordsAt === undefined ? page : [{ [feed.recordsAt]: page, resultCount: page.length }];
    json(200, { meta: { status: 200, pagination: { pageSize, ...(next ? { next } : {}) } }, data, fail: [] });
  }
}
