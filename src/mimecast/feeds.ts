/**
 * The API 2.0 `POST` feeds beyond the SIEM logs (docs/mimecast.md §6), as data: where each one is,
 * how its time window is asked for, where its records sit in the answer, which field is their
 * time, and how long Mimecast keeps them. A collector and the simulator both read this table.
 */
import { CLOUD_INTEGRATED_DATASET, CLOUD_INTEGRATED_TYPES } from './products.js';

const DAY_MS = 86_400_000;
const CLOUD_INTEGRATED_NAMES = new Set(CLOUD_INTEGRATED_TYPES.map((t) => t.name));

export interface FeedSpec {
  /** The feed's name on the command line and in the config; also its `mimecast.log_type`. */
  readonly name: string;
  /** `event.dataset`, close to Elastic's data stream of the same feed. */
  readonly dataset: string;
  readonly path: string;
  /** The window's filter keys in `data[0]`. */
  readonly window: { readonly from: string; readonly to: string };
  /** The feed takes `oldestFirst` (otherwise it answers oldest first, or in one order only). */
  readonly oldestFirst: boolean;
  /** The key of the record list inside `data[0]`; undefined: `data[]` holds the records. */
  readonly recordsAt?: string;
  /** The record's own event time (ISO 8601 with an offset, or epoch ms). */
  readonly timeField: string;
  /** How far back the feed can be asked (its horizon). */
  readonly lookBackMs: number;
  readonly category: readonly string[];
}

export const FEEDS: readonly FeedSpec[] = [
  {
    name: 'audit', dataset: 'mimecast.audit_events', path: '/api/audit/get-audit-events', window: { from: 'startDateTime', to: 'endDateTime' },
    oldestFirst: false, timeField: 'eventTime', lookBackMs: 60 * DAY_MS, category: ['configuration', 'iam'],
  },
  {
    name: 'ttp-url', dataset: 'mimecast.ttp_url_logs', path: '/api/ttp/url/get-logs', window: { from: 'from', to: 'to' },
    oldestFirst: true, recordsAt: 'clickLogs', timeField: 'date', lookBackMs: 30 * DAY_MS, category: ['email', 'threat'],
  },
  {
    name: 'ttp-attachment', dataset: 'mimecast.ttp_ap_logs', path: '/api/ttp/attachment/get-logs', window: { from: 'from', to: 'to' },
    oldestFirst: true, recordsAt: 'attachmentLogs', timeField: 'date', lookBackMs: 30 * DAY_MS, category: ['email', 'threat', 'malware'],
  },
  {
    name: 'ttp-impersonation', dataset: 'mimecast.ttp_ip_logs', path: '/api/ttp/impersonation/get-logs', window: { from: 'from', to: 'to' },
    oldestFirst: true, recordsAt: 'impersonationLogs', timeField: 'eventTime', lookBackMs: 30 * DAY_MS, category: ['email', 'threat'],
  },
  {
    name: 'dlp', dataset: 'mimecast.dlp_logs', path: '/api/dlp/get-logs', window: { from: 'from', to: 'to' },
    oldestFirst: true, recordsAt: 'dlpLogs', timeField: 'eventTime', lookBackMs: 30 * DAY_MS, category: ['email'],
  },
  {
    name: 'held-release', dataset: 'mimecast.message_release_logs', path: '/api/gateway/get-held-release-logs', window: { from: 'start', to: 'end' },
    oldestFirst: false, recordsAt: 'heldReleaseLogs', timeField: 'released', lookBackMs: 30 * DAY_MS, category: ['email'],
  },
  {
    // Mimecast documents the path, its filters and the ~7 days it keeps rejections, not the record's
    // shape: records in `data[]` with an `eventTime` is a guess. A record without a known time field
    // is dead-lettered with its bytes (replayable), never dropped; see README "Feeds".
    name: 'rejections', dataset: 'mimecast.rejection_logs', path: '/api/gateway/get-rejections', window: { from: 'from', to: 'to' },
    oldestFirst: true, timeField: 'eventTime', lookBackMs: 7 * DAY_MS, category: ['email'],
  },
  {
    name: 'archive-search', dataset: 'mimecast.archive_search_logs', path: '/api/archive/get-archive-search-logs', window: { from: 'start', to: 'end' },
    oldestFirst: false, recordsAt: 'logs', timeField: 'createTime', lookBackMs: 30 * DAY_MS, category: ['email', 'iam'],
  },
  {
    name: 'archive-view', dataset: 'mimecast.archive_view_logs', path: '/api/archive/get-view-logs', window: { from: 'start', to: 'end' },
    oldestFirst: false, timeField: 'viewed', lookBackMs: 30 * DAY_MS, category: ['email', 'iam'],
  },
];

const BY_NAME = new Map(FEEDS.map((f) => [f.name, f]));

export function feedNamed(name: string): FeedSpec | undefined {
  return BY_NAME.get(name);
}

/** `event.dataset` of a log type: a feed's own, Cloud Integrated's, else the SIEM logs'. */
export function datasetOf(logType: string): string {
  return BY_NAME.get(logType)?.dataset ?? (CLOUD_INTEGRATED_NAMES.has(logType) ? CLOUD_INTEGRATED_DATASET : 'mimecast.siem_logs');
}

/** `event.category` of a log type: a feed's own, else the SIEM logs' (`email`). */
export function categoryOf(logType: string): readonly string[] {
  return BY_NAME.get(logType)?.category ?? ['email'];
}

/**
 * Error codes in `fail[]` that are configuration facts, not failures to retry: the product is not
 * licensed or the API application lacks the role. Reported once per feed with what the admin must
 * do; the other feeds go on. (The simulator's codes; extend the list when real ones are seen.)
 */
export const FEED_NOT_AVAILABLE_CODES: ReadonlyMap<string, string> = new Map([
  ['err_feature_not_licensed', 'the Mimecast account does not license this product: license it, or remove the feed from --feeds'],
  ['err_insufficient_permissions', 'the API application lacks the role for this feed: give its role read access to these logs in the Mimecast administration console'],
]);

/** Time filters as Mimecast documents them: ISO 8601 with an explicit offset, `+0000`. */
export function feedTime(ms: number): string {
  return new Date(ms).toISOString().replace(/\.\d{3}Z$/, '+0000');
}
