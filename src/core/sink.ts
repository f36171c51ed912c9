/** Where units go. A sink acknowledges a unit only when every record in it has a final outcome. */
import type { SinkCounts } from './counts.js';
import type { Unit } from './unit.js';

/** What kind of source a checkpoint follows (`stats` lists the API ones with their work queues). */
export type SourceKind = SourceState['kind'];
// A record over every kind, so that a new kind of state cannot be left out of the list.
const KINDS: Record<SourceKind, true> = { file: true, 'mimecast-v1': true, 'mimecast-v2': true, 'mimecast-v2-stream': true, 'mimecast-v2-feed': true };
export const SOURCE_KINDS = Object.keys(KINDS) as readonly SourceKind[];

/** What every source state may carry: intervals whose events can no longer be fetched, recorded with it. */
interface StateGaps {
  readonly gaps?: readonly Gap[];
}

/** A local input (a file, a spool file, stdin): its checkpoint is the unit's source and position. */
export interface FileState extends StateGaps {
  readonly kind: 'file';
  /** What the input looked like (size, head digest): `--resume` goes on only in the same input. */
  readonly identity?: string;
}

/** API 1.0: the mc-siem-token after the unit's file, and how many files are done. */
export interface V1State extends StateGaps {
  readonly kind: 'mimecast-v1';
  readonly key: string;
  readonly filesDone: number;
  /** Undefined: from the oldest retained data. */
  readonly token?: string;
}

/** API 2.0 batch files, one state per log type: the listing's page token and its work queue. */
export interface V2BatchState extends StateGaps {
  readonly kind: 'mimecast-v2';
  readonly key: string;
  /** The page token to list from; undefined: the checkpoint does not move (only the work queue changes). */
  readonly pageToken?: string;
  /** A work item (a batch file) this unit finishes, in the same transaction. */
  readonly workItem?: { readonly stream: string; readonly key: string; readonly state: 'done' | 'dead'; readonly detail?: string };
  /** Files just listed, queued as pending unless already finished. */
  readonly listed?: { readonly stream: string; readonly pageToken: string; readonly items: readonly { readonly key: string; readonly expiry?: string }[] };
  /** Every item of the stream still pending aged out at the source and will never be fetched (a new listing queues the rest again). */
  readonly agedOut?: { readonly stream: string };
}

/** The API 2.0 stream: the token to go on from. */
export interface V2StreamState extends StateGaps {
  readonly kind: 'mimecast-v2-stream';
  readonly key: string;
  readonly token: string;
}

/** An API 2.0 `POST` feed: the end of the time window collected (ms). */
export interface V2FeedState extends StateGaps {
  readonly kind: 'mimecast-v2-feed';
  readonly key: string;
  readonly windowEndMs: number;
}

/**
 * A source's state after a unit, committed with the unit's events: one member per kind of source
 * (the registry turns each into its checkpoint row). A sink handed no state stores the unit and
 * moves nothing (replay of dead letters).
 */
export type SourceState = FileState | V1State | V2BatchState | V2StreamState | V2FeedState;

/** Events that aged out at Mimecast before they were collected: every one lies strictly between from and to. */
export interface Gap {
  readonly fromMs: number;
  readonly toMs: number;
  /** The one log type the interval is about; undefined: every type of the source. */
  readonly logType?: string;
  readonly reason: string;
}

export interface Sink {
  /**
   * Stores a unit (events, dead letters and the source's state) and reports what happened.
   * Resolves only when every record of the unit has a final outcome. Units commit in the order
   * they are written, and once a write fails no later unit commits (its write fails too): the
   * driver hands over the next unit before the last one is acknowledged, and a checkpoint must
   * never move past a unit that was not stored.
   */
  write(unit: Unit, state?: SourceState): Promise<SinkCounts>;
  close(): Promise<void>;
}
