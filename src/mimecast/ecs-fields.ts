/**
 * How Mimecast fields become ECS fields (docs/mimecast.md §5 v1→v2 names, §8 ECS names), as data.
 * A field named in `from` is moved to `to` with the `as` conversion; every other field stays
 * under `mimecast.<original name>`, converted by the value tables below.
 */
import { FEEDS } from './feeds.js';

const FEED_TYPES = FEEDS.map((f) => f.name);

/** A released message with a spam score at least this is an alert (a policy choice: tune it to the account). */
export const HIGH_SPAM_SCORE = 10;

export type Conversion =
  | 'text' // as it is
  | 'acode' // the message's aCode: API 2.0's aggregateId without its `_<epoch seconds>` (the whole value stays under mimecast.*)
  | 'lowercase'
  | 'address' // one email address; `<>` and empty values dropped
  | 'addresses' // a list of addresses, comma or semicolon separated
  | 'ip'
  | 'number'
  | 'boolean' // true/false, yes/no
  | 'outcome' // delivered true/false → success/failure
  | 'tls_version' // `TLSv1.2` → version 1.2, protocol tls
  | 'file_names' // AttNames: `"a.docx", "b.xlsx"` → a list
  | 'time_in_text'; // `…, Date: 2026-05-18, Time: 13:50:19 EDT, …` → its UTC instant; absent when none

export interface EcsMapping {
  readonly from: readonly string[];
  /** Dotted ECS path; `attachment.*` is the single file of AV/AP/v2 lines, `attachments` the AttNames list. */
  readonly to: string;
  readonly as: Conversion;
  /** Restrict to (or exclude) log types, when a key means different things per type. */
  readonly onlyTypes?: readonly string[];
  readonly exceptTypes?: readonly string[];
}

export const ECS_MAPPINGS: readonly EcsMapping[] = [
  { from: ['MsgId', 'messageId', 'msgid'], to: 'email.message_id', as: 'text' },
  { from: ['Subject', 'subject'], to: 'email.subject', as: 'text' },
  { from: ['aCode', 'aggregateId'], to: 'email.local_id', as: 'acode' },
  { from: ['headerFrom', 'senderHeader'], to: 'email.from.address', as: 'address' },
  { from: ['Sender', 'senderEnvelope', 'sender'], to: 'email.from.address', as: 'address' },
  { from: ['Rcpt', 'Recipient', 'Receipient', 'recipient', 'recipients'], to: 'email.to.address', as: 'addresses' },
  { from: ['IP'], to: 'destination.ip', as: 'ip', onlyTypes: ['delivery'] },
  { from: ['IP', 'SourceIP', 'sourceIp', 'senderIp'], to: 'source.ip', as: 'ip', exceptTypes: ['delivery'] },
  { from: ['destinationIp'], to: 'destination.ip', as: 'ip' },
  { from: ['SenderDomain', 'senderDomain'], to: 'source.domain', as: 'text' },
  { from: ['Dir', 'direction'], to: 'email.direction', as: 'lowercase' },
  // On delivery lines `Route` names a delivery route, elsewhere it is the direction.
  { from: ['Route', 'route'], to: 'email.direction', as: 'lowercase', exceptTypes: ['delivery'] },
  { from: ['Act', 'Action', 'action'], to: 'event.action', as: 'text' },
  { from: ['Delivered', 'delivered'], to: 'event.outcome', as: 'outcome' },
  { from: ['RejInfo', 'rejectionInfo', 'Hld', 'holdReason', 'reason', 'blockReason'], to: 'event.reason', as: 'text' },
  { from: ['TlsVer', 'tlsVersion'], to: 'tls', as: 'tls_version' },
  { from: ['Cphr', 'tlsCipher'], to: 'tls.cipher', as: 'text' },
  { from: ['UseTls', 'tlsUsed'], to: 'tls.established', as: 'boolean' },
  { from: ['Err', 'Error', 'receiptErrors', 'deliveryErrors'], to: 'error.message', as: 'text' },
  { from: ['RejCode', 'rejectionCode'], to: 'error.code', as: 'text' },
  { from: ['RejType', 'rejectionType'], to: 'error.type', as: 'text' },
  { from: ['URL', 'url'], to: 'url.full', as: 'text' },
  { from: ['Definition', 'policyDefinition'], to: 'rule.name', as: 'text' },
  { from: ['fileName'], to: 'attachment.name', as: 'text' },
  { from: ['fileExt', 'fileExtension'], to: 'attachment.extension', as: 'text' },
  { from: ['fileMime', 'fileMimeType'], to: 'attachment.mime_type', as: 'text' },
  { from: ['Size', 'size', 'fileSize'], to: 'attachment.size', as: 'number' },
  { from: ['md5'], to: 'attachment.hash.md5', as: 'text' },
  { from: ['sha1'], to: 'attachment.hash.sha1', as: 'text' },
  { from: ['sha256'], to: 'attachment.hash.sha256', as: 'text' },
  { from: ['AttNames', 'attachments'], to: 'attachments', as: 'file_names' },
  // The other API 2.0 feeds (mimecast/feeds.ts): their own names for the same things.
  { from: ['senderAddress', 'fromUserEmailAddress'], to: 'email.from.address', as: 'address', onlyTypes: FEED_TYPES },
  { from: ['recipientAddress', 'userEmailAddress'], to: 'email.to.address', as: 'addresses', onlyTypes: FEED_TYPES },
  { from: ['userEmailAddress', 'user'], to: 'user.email', as: 'address', onlyTypes: FEED_TYPES },
  { from: ['senderIpAddress', 'sendingIp'], to: 'source.ip', as: 'ip', onlyTypes: FEED_TYPES },
  { from: ['auditType', 'actionTriggered'], to: 'event.action', as: 'text', onlyTypes: FEED_TYPES },
  { from: ['policy', 'definition', 'ttpDefinition'], to: 'rule.name', as: 'text', onlyTypes: FEED_TYPES },
  { from: ['eventInfo'], to: 'message', as: 'text', onlyTypes: ['audit'] },
  // The time the free text names, in its short zone, as an instant (the record's own is `eventTime`).
  { from: ['eventInfo'], to: 'event.start', as: 'time_in_text', onlyTypes: ['audit'] },
  { from: ['from'], to: 'email.from.address', as: 'address', onlyTypes: ['held-release', 'archive-view'] },
  { from: ['to'], to: 'email.to.address', as: 'addresses', onlyTypes: ['held-release', 'archive-view'] },
  { from: ['operator', 'emailAddr', 'viewer'], to: 'user.email', as: 'address', onlyTypes: FEED_TYPES },
  { from: ['heldReason'], to: 'event.reason', as: 'text', onlyTypes: ['held-release'] },
  { from: ['searchText'], to: 'message', as: 'text', onlyTypes: ['archive-search'] },
  // Cloud Integrated (mimecast/products.ts): the SIEM names above cover its messages; a URL click has its own.
  { from: ['originalUrl'], to: 'url.full', as: 'text', onlyTypes: ['ci-urlclick'] },
];

/** Fields kept under `mimecast.*` that are numbers (all values arrive as text in key_value and v2). */
export const NUMBER_FIELDS: readonly string[] = [
  'SpamLimit', 'SpamScore', 'AttCnt', 'AttSize', 'MsgSize', 'Latency', 'Attempt', 'Snt', 'Hits',
  'spamScore', 'spamDetectionLevel', 'numberAttachments', 'totalSizeAttachments', 'emailSize', 'deliveryAttempts',
  'deliveryTime', 'itemsDetected', 'sizeAttachment', 'hits',
];

/** Fields kept under `mimecast.*` that are booleans (`"true"`/`"false"` in the source). */
export const BOOLEAN_FIELDS: readonly string[] = [
  'IPNewDomain', 'IPReplyMismatch', 'IPSimilarDomain', 'IPThreadDict', 'IPInternalName', 'SenderDomainInternal',
  'CustomerIP', 'MimecastIP', 'CustomName', 'CustomThreatDictionary', 'InternalName', 'NewDomain', 'ReplyMismatch',
  'SimilarCustomExternalDomain', 'SimilarInternalDomain', 'SimilarMimecastExternalDomain', 'TaggedExternal',
  'TaggedMalicious', 'ThreatDictionary', 'credentialTheft', 'taggedExternal', 'taggedMalicious', 'newDomain',
  'replyMismatch', 'internalName', 'customName', 'threatDictionary', 'customThreatDictionary', 'similarInternalDomain',
  'similarCustomExternalDomain', 'similarMimecastExternalDomain', 'senderDomainInternal', 'customerIp', 'mimecastIp',
  'isAdmin', 'contentViewed', 'discoveryCase', 'historicalMail',
];

/** Fields that never reach the document: transport metadata. */
export const DROPPED_FIELDS: readonly string[] = ['_partition', '_offset'];

/** When `event.kind` is `alert` rather than `event`: rejections, holds, detections. */
export interface AlertRule {
  readonly keys?: readonly string[];
  /** Matches when the value (case-insensitive) is one of these; absent: any non-empty value. */
  readonly values?: readonly string[];
  readonly logTypes?: readonly string[];
  /** Matches when the value is a number at least this (instead of `values`). */
  readonly atLeast?: number;
}

export const ALERT_RULES: readonly AlertRule[] = [
  { keys: ['Act', 'action', 'Action'], values: ['rej', 'hld', 'hold', 'reject', 'block', 'blocked', 'sdbx'] },
  { keys: ['Hld', 'holdReason', 'Virus', 'virusFound'] },
  { keys: ['TaggedMalicious', 'taggedMalicious'], values: ['true'] },
  { logTypes: ['avlog'] },
  // Detections of the other feeds: a malicious URL click or sandbox verdict, a DLP block (above).
  { keys: ['scanResult'], values: ['malicious'], logTypes: ['ttp-url'] },
  { keys: ['result'], values: ['malicious'], logTypes: ['ttp-attachment'] },
  // A held message released although its spam score was high: users alert on these.
  { keys: ['spamScore'], atLeast: HIGH_SPAM_SCORE, logTypes: ['held-release'] },
  // Cloud Integrated: a message it blocked, quarantined or held (a blocked URL click is `action: block`, above).
  { keys: ['threatState'], values: ['blocked', 'quarantined', 'held'], logTypes: ['ci-entities'] },
];
