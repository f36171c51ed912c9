/** Where units go. A sink acknowledges a unit only when every record in it has a final outcome. */
import type { SinkCounts } from './counts.js';
import type { Unit } from './unit.js';

/** What kind of source a checkpoint follows (`stats` lists the API ones with their work queues). */
export const SOURCE_KINDS = ['file', 'mimecast-v1', 'mimecast-v2', 'mimecast-v2-stream', 'mimecast-v2-feed'] as const;
export type SourceKind = (typeof SOURCE_KINDS)[number];

/** What a source adds to a unit's checkpoint: the input's identity, an API cursor. */
export interface CheckpointUpdate {
  /** The kind of source (the driver sets it for every unit of its source); default: file. */
  readonly kind?: SourceKind;
  /** Checkpoint row to move; default: the unit's source. Collectors keep one row per API stream. */
  readonly key?: string;
  /** Position to record instead of the unit's (collectors: files done). */
  readonly position?: number;
  readonly identity?: string;
  /** The API cursor to resume from (API 1.0: the mc-siem-token after this unit). */
  readonly cursor?: string;
  /** A work-queue item this unit finishes (API 2.0: a batch file), recorded in the same transaction. */
  readonly workItem?: { readonly stream: string; readonly key: string; readonly state: 'done' | 'dead'; readonly detail?: string };
  /** false: store the unit, move no checkpoint (replay of dead letters). */
  readonly moveCheckpoint?: false;
  /** Intervals whose events can no longer be fetched, recorded with this checkpoint move. */
  readonly gaps?: readonly Gap[];
  /** Every item of the stream still pending aged out at the source and will never be fetched (a new listing queues the rest again). */
  readonly agedOut?: { readonly stream: string };
  /** Items just listed (API 2.0: a page's files), queued as pending unless already finished. */
  readonly listed?: { readonly stream: string; readonly pageToken: string; readonly items: readonly { readonly key: string; readonly expiry?: string }[] };
}

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
   * Stores a unit (events, dead letters and the input's checkpoint) and reports what happened.
   * Resolves only when every record of the unit has a final outcome. Units commit in the order
   * they are written, and once a write fails no later unit commits (its write fails too): the
   * driver hands over the next unit before the last one is acknowledged, and a checkpoint must
   * never move past a unit that was not stored.
   */
  write(unit: Unit, checkpoint?: CheckpointUpdate): Promise<SinkCounts>;
  close(): Promise<void>;
}
