/**
 * What Mimecast's SIEM log types look like, as data (docs/mimecast.md §2–3).
 * The classifier, the file-name detector and the v2 type resolver read only this table;
 * users extend or override it with `--types-file` (see README "Extending the type tables").
 */
export interface LogTypeSpec {
  /** Our name, as stored in `mimecast.log_type` (Elastic's vocabulary). */
  readonly name: string;
  /** API 1.0 file-name prefixes (also zip member names). */
  readonly filePrefixes: readonly string[];
  /** API 2.0 `type` / `eventType` values, compared after lower-casing and `_`/`-` → space. */
  readonly v2Types: readonly string[];
  /** API 1.0 keys this type carries, case-sensitive, besides the common ones. */
  readonly keys: readonly string[];
}

/** Keys every API 1.0 line carries; they say nothing about the type. */
export const COMMON_V1_KEYS: readonly string[] = ['datetime', 'acc'];

export const LOG_TYPES: readonly LogTypeSpec[] = [
  {
    name: 'receipt',
    filePrefixes: ['receipt_'],
    v2Types: ['receipt'],
    keys: ['aCode', 'SpamLimit', 'IP', 'Dir', 'MsgId', 'Subject', 'headerFrom', 'Sender', 'Rcpt', 'Act', 'TlsVer', 'Cphr',
      'SpamInfo', 'SpamScore', 'SpamProcessingDetail', 'Virus', 'Error', 'RejType', 'RejCode', 'RejInfo'],
  },
  {
    name: 'process',
    filePrefixes: ['process_'],
    v2Types: ['process'],
    keys: ['aCode', 'AttNames', 'AttCnt', 'AttSize', 'MsgSize', 'MsgId', 'Act', 'Hld', 'IPNewDomain', 'IPReplyMismatch',
      'IPSimilarDomain', 'IPThreadDict', 'IPInternalName', 'Sender', 'Subject'],
  },
  {
    name: 'delivery',
    filePrefixes: ['delivery_'],
    v2Types: ['delivery'],
    keys: ['aCode', 'Delivered', 'IP', 'AttCnt', 'Dir', 'ReceiptAck', 'MsgId', 'Subject', 'Latency', 'Sender', 'Rcpt',
      'AttSize', 'Attempt', 'TlsVer', 'Cphr', 'Snt', 'UseTls', 'Route', 'Err', 'RejType', 'RejCode', 'RejInfo'],
  },
  {
    name: 'jrnl',
    filePrefixes: ['jrnl_'],
    v2Types: ['journal', 'jrnl'],
    keys: ['aCode', 'Sender', 'Rcpt', 'Dir', 'RcptActType', 'RcptHdrType'],
  },
  {
    name: 'avlog',
    filePrefixes: ['av_'],
    v2Types: ['av'],
    keys: ['Sender', 'Recipient', 'SenderDomain', 'SenderDomainInternal', 'IP', 'CustomerIP', 'MimecastIP', 'Route', 'Virus',
      'fileName', 'fileExt', 'fileMime', 'md5', 'sha1', 'sha256', 'Size', 'MsgId', 'Subject'],
  },
  {
    name: 'spam',
    filePrefixes: ['spameventthread_'],
    v2Types: ['spam'],
    keys: ['aCode', 'Sender', 'headerFrom', 'SourceIP', 'Recipient', 'SenderDomain', 'Subject', 'MsgId', 'Route'],
  },
  {
    name: 'internal-email-protect',
    filePrefixes: ['iep_'],
    v2Types: ['internal email protect'],
    keys: ['aCode', 'Sender', 'Recipient', 'Route', 'URL', 'UrlCategory', 'ScanResultInfo', 'MsgId', 'Subject'],
  },
  {
    name: 'impersonation-protect',
    filePrefixes: ['impersonation_'],
    v2Types: ['impersonation protect'],
    // `Receipient` is how Mimecast's own documented example spells it.
    keys: ['aCode', 'Sender', 'Recipient', 'Receipient', 'IP', 'Route', 'Action', 'Definition', 'Hits', 'CustomName',
      'CustomThreatDictionary', 'InternalName', 'NewDomain', 'ReplyMismatch', 'SimilarCustomExternalDomain',
      'SimilarInternalDomain', 'SimilarMimecastExternalDomain', 'TaggedExternal', 'TaggedMalicious', 'ThreatDictionary',
      'MsgId', 'Subject'],
  },
  {
    name: 'url-protect',
    filePrefixes: ['ttp_url_'],
    v2Types: ['url protect'],
    keys: ['reason', 'url', 'urlCategory', 'route', 'sourceIp', 'sender', 'senderDomain', 'recipient', 'action', 'subject',
      'msgid', 'credentialTheft'],
  },
  {
    name: 'attachment-protect',
    filePrefixes: ['ttp_ap_'],
    v2Types: ['attachment protect'],
    keys: ['Sender', 'SenderDomain', 'Recipient', 'IP', 'Route', 'fileName', 'fileExt', 'fileMime', 'md5', 'sha1', 'sha256',
      'Size'],
  },
];

/** The names a document may carry in `mimecast.log_type` besides the table's. */
export const UNKNOWN_LOG_TYPE = 'unknown';

/** Normalizes an API 2.0 type value: `Url_Protect`, `url-protect`, `url protect` → `url protect`. */
export function normalizeV2Type(value: string): string {
  return value.trim().toLowerCase().replace(/[_-]+/g, ' ').replace(/\s+/g, ' ');
}

/** Log types that report a detection about a recipient. */
export const DETECTION_TYPES = ['avlog', 'attachment-protect', 'url-protect', 'impersonation-protect', 'internal-email-protect', 'spam'] as const;
