/** The `sink:` keys of `kind: splunk-hec` (README.md in this folder says what each does). */
import { z } from 'zod';
import { caFile, numberKeys, url } from '../../config/zod-keys.js';

/** The Mimecast for Splunk app reads its events from an index named `mimecast`. */
export const DEFAULT_INDEX = 'mimecast';
/** The app's `mimecast:siem` family, marked as mimelog's ECS shape (not the raw records the app's own extractions parse). */
export const DEFAULT_SOURCETYPE = 'mimecast:siem:ecs';

export const keys = {
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
