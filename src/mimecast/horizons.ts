/**
 * How long Mimecast keeps what a collector has not fetched yet (docs/mimecast.md, "Horizons").
 * Past its horizon, data is gone at the source. Keyed by the checkpoint name's kind, the first
 * word of the names the collectors give their checkpoints.
 */
const HOUR_MS = 3_600_000;

export interface Horizon {
  readonly kind: string;
  readonly feed: string;
  readonly horizonMs: number;
}

export const HORIZONS: readonly Horizon[] = [
  { kind: 'mimecast-v1', feed: 'API 1.0 get-siem-logs files', horizonMs: 7 * 24 * HOUR_MS },
  { kind: 'mimecast-v2', feed: 'API 2.0 SIEM batch files', horizonMs: 7 * 24 * HOUR_MS },
  { kind: 'mimecast-v2-stream', feed: 'API 2.0 SIEM stream', horizonMs: 24 * HOUR_MS },
  // The shortest look-back among the POST feeds (audit: 60 days); mimecast/feeds.ts has each one's.
  { kind: 'mimecast-v2-feed', feed: 'API 2.0 POST feeds', horizonMs: 30 * 24 * HOUR_MS },
];

const BY_KIND = new Map(HORIZONS.map((h) => [h.kind, h]));

/** The horizon of a checkpoint named `<kind> <origin> …`; undefined for local inputs, which never age out. */
export function horizonOf(checkpointName: string): Horizon | undefined {
  return BY_KIND.get(checkpointName.split(' ', 1)[0]!);
}

/**
 * Error codes with which the API 2.0 stream refuses a page token older than its window. Mimecast
 * does not document its answer; this is the simulator's (extend it when the real code is seen).
 * The stream collector then starts again from a date and records the gap.
 */
export const STREAM_TOKEN_EXPIRED_CODES: readonly string[] = ['err_stream_token_outside_window'];

/**
 * Error codes with which the API 2.0 batch listing refuses a page token whose files aged out
 * (the simulator's; Mimecast does not document its answer). The collector lists the type again
 * from the oldest file still kept and records the gap.
 */
export const BATCH_TOKEN_EXPIRED_CODES: readonly string[] = ['err_batch_token_outside_window'];
