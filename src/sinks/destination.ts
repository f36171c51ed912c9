/**
 * A destination outside mimelog (a search engine, Splunk, a syslog relay, Kafka, Sentinel): it
 * delivers a unit's events and says what became of each. It never commits anything: the
 * delivering sink (`delivering-sink.ts`) waits for every destination's report and then commits
 * the unit's bookkeeping and checkpoint to the local store, in unit order. So a checkpoint moves
 * only after each destination acknowledged each event of the unit.
 */
import type { z } from 'zod';
import type { Logger } from '../log/logger.js';
import type { ProcessedEvent, Unit } from '../core/unit.js';
import { type PreparedDeadLetter, prepareDeadLetter } from '../store/prepared.js';
import type { Delivery } from '../store/store.js';

/** What one destination did with a unit's events: each event is acknowledged, a duplicate, a collision or rejected. */
export interface DestinationReport extends Delivery {
  /** Events sent more than once before the destination acknowledged them (retries, acks that never came, reconnects). */
  readonly resent: number;
}

/**
 * An event a destination refused, as the dead letter it becomes: its record's bytes where it was
 * read, and its API feed when the feed decided its type, so that replay reads it as that feed's.
 */
export function refusedEvent(unit: Pick<Unit, 'source'>, e: ProcessedEvent, reason: string): PreparedDeadLetter {
  const feed = e.classification.source === 'feed' ? e.classification.logType : undefined;
  return prepareDeadLetter({ source: unit.source, position: e.position, reason, raw: e.raw, feed });
}

export interface Destination {
  /** The name `stats`, `/metrics` and the console show (the config's `name`, else its kind). */
  readonly name: string;
  /**
   * Delivers every event of the unit. Resolves when each has a final outcome: acknowledged by
   * the destination (`indexed`), recognised as already held (`duplicates`, `collisions`), or
   * refused for a reason that sending again cannot cure (`rejected`: a dead letter with the
   * destination's reason and the record's bytes). Busy or unreachable: retries with back-off,
   * counting `resent`. Rejects when a person must act (bad credentials, a give-up bound
   * passed): the run stops and the checkpoint stays where it was.
   *
   * Called in unit order, and for the next unit before the last one resolved (pipelining); a
   * destination that must not interleave units serializes inside.
   */
  deliver(unit: Unit): Promise<DestinationReport>;
  close(): Promise<void>;
}

/** What opening a destination may use. */
export interface DestinationContext {
  readonly log: Logger;
  /** Where secrets given as environment variables are read (the service passes its config's). */
  readonly env: NodeJS.ProcessEnv;
}

/**
 * One kind of destination, as its folder declares it: the keys it takes under `sink:` (besides
 * `kind` and `name`), and how it opens. Opening checks what can be checked before the first
 * event is read (reachability, credentials, TLS), so a wrong config fails at once.
 */
export interface DestinationKind<S extends z.ZodRawShape = z.ZodRawShape> {
  readonly kind: string;
  /** One line for `--help` and the docs. */
  readonly summary: string;
  /** What an acknowledgement means at this destination (README's guarantee table, `stats`). */
  readonly acknowledgement: string;
  /** Its keys under `sink:` (zod; `kind` and `name` are added by the registry). Secret keys are listed in config/settings.ts SECRET_SETTINGS, so they may be given as `<key>_file` and are masked. */
  readonly keys: S;
  /** The fewest keys that make a working entry (docs, `--help`, and the settings tests fill the rest with defaults). */
  readonly example: Readonly<Record<string, unknown>>;
  /** A rule across keys (for example "one credential, not two"); a message when broken. */
  check?(config: z.infer<z.ZodObject<S>>): string | undefined;
  open(config: z.infer<z.ZodObject<S>>, name: string, ctx: DestinationContext): Promise<Destination>;
}

export function noReport(): { indexed: number; duplicates: number; resent: number; collisions: never[]; rejected: never[] } {
  return { indexed: 0, duplicates: 0, resent: 0, collisions: [], rejected: [] };
}
