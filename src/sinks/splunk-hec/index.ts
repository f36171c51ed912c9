/**
 * `kind: splunk-hec`: Splunk's HTTP Event Collector, with indexer acknowledgement by default.
 * Keys, what an acknowledgement means, and the limits: README.md in this folder.
 */
import { z } from 'zod';
import { caFile, numberKeys, url } from '../../config/zod-keys.js';
import type { DestinationKind } from '../destination.js';

/** The Mimecast for Splunk app reads its events from an index named `mimecast`. */
export const DEFAULT_INDEX = 'mimecast';
/** The app's `mimecast:siem` family, marked as mimelog's ECS shape (not the raw records the app's own extractions parse). */
export const DEFAULT_SOURCETYPE = 'mimecast:siem:ecs';

const keys = {
  /** The collector's base URL: `https://splunk.example.com:8088`. */
  url,
  /** Else `token_file`, else MIMELOG_HEC_TOKEN. */
  token: z.string().min(1).optional(),
  /** Indexer acknowledgement: an event counts as delivered only when Splunk says it is indexed. */
  ack: z.boolean().default(true),
  ca_file: caFile.optional(),
  /** Accept any certificate: for tests only, said loudly at open. */
  insecure: z.boolean().default(false),
  /** `{log_type}` is replaced by each event's log type (`mimecast:siem:{log_type}`). */
  sourcetype: z.string().min(1).default(DEFAULT_SOURCETYPE),
  /** Empty: the token's default index. */
  index: z.string().default(DEFAULT_INDEX),
  /** Default: the input the event came from (a file, or the API source's name). */
  source: z.string().min(1).optional(),
  /** Default: this machine's name. */
  host: z.string().min(1).optional(),
  ...numberKeys(['hecBatchEvents', 'hecBatchBytes', 'hecInFlight', 'hecAckTimeout', 'hecAckPoll', 'searchTimeout', 'searchGiveUp']),
};

export type HecConfig = z.infer<z.ZodObject<typeof keys>>;

export const ACKNOWLEDGEMENT = {
  on: "Splunk's ack endpoint answered true for the request's ackId: the events are indexed (and replicated, where the indexer cluster is set to)",
  off: 'HTTP 200 from HEC: Splunk received the events and they looked valid; not that they were indexed (ack: false)',
} as const;

export const splunkHecKind: DestinationKind<typeof keys> = {
  kind: 'splunk-hec',
  summary: "Splunk HTTP Event Collector (/services/collector/event, gzip), with indexer acknowledgement unless ack: false",
  acknowledgement: `${ACKNOWLEDGEMENT.on}; with ack: false, ${ACKNOWLEDGEMENT.off}`,
  keys,
  example: { url: 'https://splunk.example.com:8088' },
  check(c) {
    if (c.insecure && c.ca_file !== undefined) return 'ca_file and insecure: true together: choose one';
    return undefined;
  },
  async open(c, name, ctx) {
    // Loaded only for this destination: its HTTP client is heavy to load.
    const { openHec } = await import('./connect.js');
    return openHec(c, name, ctx);
  },
};
