/**
 * Cloud Integrated in the simulator (docs/mimecast.md §6): seeded messages of Mimecast's API-based
 * product, each an `entities` record (the message summary and its verdict) and a `mailflow`
 * record (its SPF/DKIM/DMARC results, `authResults[]`) sharing its `messageId`, `processingId` and
 * `aggregateId`; some get a blocked `urlclick`. Cut into batch files one type per file, like the
 * Cloud Gateway catalog, and served by the same listing and pre-signed URLs (v2.ts).
 */
import { Rng } from './generate.js';
import { messageId, person } from './feeds.js';
import { CLOUD_INTEGRATED_TYPES } from '../mimecast/products.js';

export interface CloudIntegratedOptions {
  /** Messages to generate (each gives 2 or 3 records). */
  readonly messages: number;
  /** Records per file at most (default 40). */
  readonly recordsPerFile?: number;
}

export interface CiFile {
  readonly index: number;
  /** Our log type (`ci-entities` …). */
  readonly logType: string;
  readonly lastMs: number;
  readonly records: readonly Record<string, unknown>[];
}

const THREATS = [
  { threatType: 'NO_DETECTIONS', threatState: 'DELIVERED', tags: null },
  { threatType: 'NO_DETECTIONS', threatState: 'DELIVERED', tags: null },
  { threatType: 'NO_DETECTIONS', threatState: 'DELIVERED', tags: null },
  { threatType: 'SPAM', threatState: 'QUARANTINED', tags: ['SPAM'] },
  { threatType: 'MALWARE', threatState: 'BLOCKED', tags: ['MALWARE'] },
  { threatType: 'PHISHING', threatState: 'BLOCKED', tags: ['UNTRUSTWORTHY', 'PHISHING'] },
] as const;

const AUTH = ['pass', 'pass', 'pass', 'fail', 'none'];

/** The records of one message at `ms`: entities, mailflow and, sometimes, a blocked URL click (none after `endMs`). */
function messageRecords(ms: number, rng: Rng, n: number, endMs: number): Record<string, unknown>[] {
  const ids = {
    accountId: 'CI0A1',
    aggregateId: `${rng.token(14)}_${Math.floor(ms / 1000)}`,
    processingId: `${rng.hex(64)}_${Math.floor(ms / 1000)}`,
    messageId: messageId(rng),
  };
  const threat = rng.pick(THREATS);
  const transport = { _partition: 7, _offset: 100_000 + n };
  const records: Record<string, unknown>[] = [
    {
      ...transport, ...ids, type: 'entities', subtype: threat.threatType, timestamp: ms,
      attachments: rng.chance(0.3) ? [`${rng.pick(['invoice', 'report', 'photo'])}-${rng.int(1, 99)}.${rng.pick(['pdf', 'xlsx', 'png'])}`] : [],
      direction: rng.pick(['INBOUND', 'INBOUND', 'INTERNAL']), historicalMail: rng.chance(0.05),
      policiesApplied: [{ action: threat.threatState === 'BLOCKED' ? 'BLOCK' : 'DO_NOTHING', mode: 'ACTIVE', name: 'Default O365 Mail policy' }],
      recipients: Array.from({ length: rng.int(1, 3) }, () => person(rng)),
      senderEnvelope: person(rng), senderHeader: person(rng), senderIp: `198.51.100.${rng.int(1, 254)}`,
      source: 'OFFICE_365_MAIL', subject: `${rng.pick(['Quarterly', 'Invoice', 'Re: plans', 'Shared file'])} ${rng.int(1, 9999)}`,
      tags: threat.tags, threatState: threat.threatState, threatType: threat.threatType,
    },
    {
      ...transport, ...ids, _offset: transport._offset + 1, type: 'mailflow', subtype: null, timestamp: Math.min(endMs, ms + rng.int(0, 2000)),
      authResults: ['SPF', 'DKIM', 'DMARC'].map((type) => ({ aligned: type === 'DMARC' ? null : rng.chance(0.6), result: rng.pick(AUTH), type })),
    },
  ];
  if (rng.chance(0.15)) {
    records.push({
      ...transport, ...ids, _offset: transport._offset + 2, type: 'urlclick', subtype: null, timestamp: Math.min(endMs, ms + rng.int(60_000, 3_600_000)),
      action: 'block', originalUrl: `https://${rng.token(8, 'abcdefghijklmnopqrstuvwxyz')}.example/${rng.token(10)}`,
      redirectUrl: `https://protect.example/${rng.token(12)}`, sourceIp: `203.0.113.${rng.int(1, 254)}`,
    });
  }
  return records;
}

/** Seeded Cloud Integrated files over [startMs, endMs], in the order Mimecast would publish them. */
export function buildCiCatalog(seed: number, options: CloudIntegratedOptions, startMs: number, endMs: number): CiFile[] {
  const rng = new Rng(seed ^ 0xc1c1);
  const perFile = options.recordsPerFile ?? 40;
  const byType = new Map<string, Record<string, unknown>[]>();
  const span = Math.max(1, endMs - startMs);
  for (let n = 0; n < options.messages; n++) {
    const ms = startMs + Math.floor((span * n) / Math.max(1, options.messages));
    for (const record of messageRecords(ms, rng, n * 3, endMs)) {
      const logType = CLOUD_INTEGRATED_TYPES.find((t) => t.v2Types[0] === record.type)!.name;
      const list = byType.get(logType) ?? [];
      list.push(record);
      byType.set(logType, list);
    }
  }
  const files: Omit<CiFile, 'index'>[] = [];
  for (const [logType, records] of byType) {
    records.sort((a, b) => (a.timestamp as number) - (b.timestamp as number));
    for (let i = 0; i < records.length; i += perFile) {
      const chunk = records.slice(i, i + perFile);
      files.push({ logType, lastMs: chunk.at(-1)!.timestamp as number, records: chunk });
    }
  }
  files.sort((a, b) => a.lastMs - b.lastMs || (a.logType < b.logType ? -1 : 1));
  return files.map((f, index) => ({ ...f, index }));
}

/** A file's body as served: NDJSON, one record per line. */
export function ciFileBody(file: CiFile): string {
  return `${file.records.map((r) => JSON.stringify(r)).join('\n')}\n`;
}
