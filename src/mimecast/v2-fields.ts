/**
 * API 1.0 key → API 2.0 key (docs/mimecast.md §5), used by the simulator to write v2 events
 * and by readers of the data. Keys not listed become lowerCamelCase of the v1 key.
 */
export const V1_TO_V2_KEYS: Readonly<Record<string, string>> = {
  datetime: 'timestamp',
  acc: 'accountId',
  aCode: 'aggregateId',
  MsgId: 'messageId',
  msgid: 'messageId',
  Sender: 'senderEnvelope',
  sender: 'senderEnvelope',
  headerFrom: 'senderHeader',
  Rcpt: 'recipients',
  Recipient: 'recipients',
  Receipient: 'recipients',
  recipient: 'recipients',
  IP: 'senderIp',
  SourceIP: 'senderIp',
  sourceIp: 'senderIp',
  Dir: 'direction',
  Act: 'action',
  Action: 'action',
  TlsVer: 'tlsVersion',
  Cphr: 'tlsCipher',
  RejType: 'rejectionType',
  RejCode: 'rejectionCode',
  RejInfo: 'rejectionInfo',
  Error: 'receiptErrors',
  Err: 'deliveryErrors',
  Virus: 'virusFound',
  SpamLimit: 'spamDetectionLevel',
  AttCnt: 'numberAttachments',
  AttSize: 'totalSizeAttachments',
  AttNames: 'attachments',
  MsgSize: 'emailSize',
  Hld: 'holdReason',
  Delivered: 'delivered',
  Attempt: 'deliveryAttempts',
  Latency: 'deliveryTime',
  UseTls: 'tlsUsed',
  fileExt: 'fileExtension',
  Definition: 'policyDefinition',
  Hits: 'itemsDetected',
  reason: 'blockReason',
  URL: 'url',
  Subject: 'subject',
};

/** On delivery lines the v1 `IP` is the receiving server. */
export const V1_TO_V2_KEYS_BY_TYPE: Readonly<Record<string, Readonly<Record<string, string>>>> = {
  delivery: { IP: 'destinationIp' },
};

export function v2KeyFor(logType: string, v1Key: string): string {
  const own = <T>(table: Readonly<Record<string, T>> | undefined, key: string): T | undefined => (table !== undefined && Object.hasOwn(table, key) ? table[key] : undefined);
  return own(own(V1_TO_V2_KEYS_BY_TYPE, logType), v1Key) ?? own(V1_TO_V2_KEYS, v1Key) ?? v1Key.charAt(0).toLowerCase() + v1Key.slice(1);
}

/**
 * How a field is compared across the two APIs (docs/mimecast.md §5c): `text` as the decoded text
 * (numbers, booleans and embedded JSON already read alike from either API); `acode` without the
 * `_<epoch seconds>` API 2.0 appends to aggregateId; `list` as a set of lower-cased addresses or
 * names, whichever way the API writes the list (one value, `a, b`, `"a", "b"` or a JSON array).
 */
export type CrossVersionForm = 'text' | 'acode' | 'list';

/** API 2.0 writes aggregateId as `<aCode>_<epoch seconds>` in samples [seen]; API 1.0 the aCode alone. */
export const ACODE_SUFFIX = /_\d{9,11}$/;

/** The message's aCode, as API 1.0 writes it, from either API's value. */
export function bareACode(value: string): string {
  return value.replace(ACODE_SUFFIX, '');
}

/** One field both APIs carry for a log type: its API 1.0 names (first present wins) and its API 2.0 name. */
export interface CrossVersionField {
  readonly v1: readonly string[];
  readonly v2: string;
  readonly as: CrossVersionForm;
}

const field = (v1: string | readonly string[], v2: string, as: CrossVersionForm = 'text'): CrossVersionField => ({ v1: typeof v1 === 'string' ? [v1] : v1, v2, as });
const ACODE = field('aCode', 'aggregateId', 'acode');
const MSGID = field(['MsgId', 'msgid'], 'messageId');
const SUBJECT = field(['Subject', 'subject'], 'subject');
const SENDER = field(['Sender', 'sender'], 'senderEnvelope', 'list');
const RECIPIENTS = field(['Rcpt', 'Recipient', 'Receipient', 'recipient'], 'recipients', 'list');
const FILE = [field('fileName', 'fileName'), field('md5', 'md5'), field('sha1', 'sha1'), field('sha256', 'sha256')];

/**
 * Per log type, the fields that say which email event a record is, in both APIs: the cross-version
 * identity (fingerprint/cross-version.ts) is the log type, the time in whole seconds (API 1.0's
 * precision) and these. Only fields both APIs carry with the same meaning are listed; a field one
 * API leaves out (or writes null) makes the two copies differ, which costs a duplicate, never an
 * event. API 2.0-only fields (processingId, accountId, Hostname) and API 1.0-only ones (ReceiptAck,
 * Snt) are not listed. Which fields each type carries in API 2.0 is seen in public sample data for
 * receipt, process, delivery, journal, internal email protect and attachment protect [seen], and
 * assumed from the renames for the others [assumed].
 */
export const CROSS_VERSION_FIELDS: Readonly<Record<string, readonly CrossVersionField[]>> = {
  receipt: [ACODE, MSGID, SUBJECT, SENDER, RECIPIENTS, field('Act', 'action'), field('IP', 'senderIp'), field('TlsVer', 'tlsVersion'), field('Cphr', 'tlsCipher'),
    field('SpamScore', 'spamScore'), field('SpamInfo', 'spamInfo'), field('SpamProcessingDetail', 'spamProcessingDetail'), field('RejCode', 'rejectionCode'), field('RejType', 'rejectionType')],
  process: [ACODE, MSGID, SUBJECT, SENDER, field('Act', 'action'), field('AttCnt', 'numberAttachments'), field('AttSize', 'totalSizeAttachments'), field('MsgSize', 'emailSize'),
    field('AttNames', 'attachments', 'list'), field('Hld', 'holdReason')],
  delivery: [ACODE, MSGID, SUBJECT, SENDER, RECIPIENTS, field('Delivered', 'delivered'), field('Attempt', 'deliveryAttempts'), field('IP', 'destinationIp'),
    field('Latency', 'deliveryTime'), field('TlsVer', 'tlsVersion'), field('Cphr', 'tlsCipher'), field('RejType', 'rejectionType')],
  jrnl: [ACODE, SENDER, RECIPIENTS, field('Dir', 'direction')],
  avlog: [MSGID, SENDER, RECIPIENTS, ...FILE, field('Virus', 'virusFound')],
  spam: [ACODE, MSGID, SUBJECT, SENDER, RECIPIENTS],
  'internal-email-protect': [ACODE, MSGID, SUBJECT, SENDER, RECIPIENTS, field('URL', 'url'), field('UrlCategory', 'urlCategory')],
  'impersonation-protect': [ACODE, MSGID, SUBJECT, SENDER, RECIPIENTS, field('Action', 'action'), field('Definition', 'policyDefinition'), field('Hits', 'itemsDetected')],
  'url-protect': [MSGID, SUBJECT, SENDER, RECIPIENTS, field('url', 'url'), field('action', 'action'), field('urlCategory', 'urlCategory')],
  'attachment-protect': [...FILE, field('fileExt', 'fileExtension')],
};

/** API 1.0 keys that the API 2.0 lines of a type do not carry [seen in public API 2.0 samples]. */
export const V1_ONLY_KEYS: Readonly<Record<string, readonly string[]>> = {
  delivery: ['ReceiptAck', 'Snt'],
  jrnl: ['RcptActType', 'RcptHdrType'],
};

/** API 2.0 keys written as `null` when the event has no value (API 1.0 leaves the key out) [seen]. */
export const V2_NULL_WHEN_ABSENT: Readonly<Record<string, readonly string[]>> = {
  receipt: ['receiptErrors', 'rejectionCode', 'rejectionInfo', 'rejectionType', 'senderHeader', 'spamDetectionLevel', 'spamInfo', 'spamProcessingDetail', 'spamScore', 'virusFound', 'tlsCipher', 'tlsVersion'],
  process: ['attachments', 'holdReason'],
  delivery: ['deliveryErrors', 'rejectionCode', 'rejectionInfo', 'rejectionType', 'tlsCipher', 'tlsVersion'],
};

/** The API 1.0 key whose value API 2.0 repeats as `subtype` (`subType` in the stream); `null` for the other types [seen]. */
export const V2_SUBTYPE_FROM: Readonly<Record<string, string>> = { receipt: 'Act', process: 'Act', delivery: 'Delivered' };
