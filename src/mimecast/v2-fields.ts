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
  return V1_TO_V2_KEYS_BY_TYPE[logType]?.[v1Key] ?? V1_TO_V2_KEYS[v1Key] ?? v1Key.charAt(0).toLowerCase() + v1Key.slice(1);
}
