/**
 * How a source hands its records on (after Beats' input cursor: `Publish(event, cursorUpdate)`).
 * A source publishes decoded records together with the state their commit moves to; it never
 * classifies, calls a sink, counts or commits. The driver (pipeline/driver.ts) does that for every
 * source, in one place: parse → classify → fingerprint → normalize → sink → acknowledge → commit
 * the state.
 */
import type { DecodedBatch } from '../decode/input.js';
import type { SourceState } from './sink.js';
import type { Unit } from './unit.js';

export interface Publication {
  /**
   * Decoded records of one stretch of one input, or several batches committed as one unit (a
   * file's zip members); absent for a step without records (a listed page, an empty page that
   * moves a token).
   */
  readonly batch?: DecodedBatch | readonly DecodedBatch[];
  /** The unit's source name; default: the first batch's source. */
  readonly source?: string;
  /**
   * The state committed in the same transaction as the unit's events. A function when the state
   * depends on the processed events (a gap that ends at the first event still held): the driver
   * calls it once the records are processed, once per unit and in publication order, so it may
   * also follow the events into the source's own state. Undefined: none moves.
   */
  readonly checkpoint?: SourceState | ((unit: Unit) => SourceState | undefined);
  /** Whether the unit ends what its checkpoint follows (an input read to its end, an API caught up). */
  readonly last: boolean;
  /** The unit's position is at least this (a resumed input never moves its checkpoint backwards). */
  readonly minPosition?: number;
  /** The API feed the records come from: its log type is the feed's. */
  readonly feed?: string;
  /** The unit ends one input (a file, a page, a window): counted in the run's inputs. */
  readonly endsInput?: boolean;
}

export interface Publisher {
  /**
   * Takes a publication: its records are processed (maybe on another thread) and its unit handed
   * to the sink in publication order. Resolves once the driver can take the next one (a few units
   * are in flight); a failure surfaces at a later `publish` or at `flush`.
   */
  publish(publication: Publication): Promise<void>;
  /** Resolves once every unit published so far is acknowledged; throws the first failure. A source that reads back what it wrote calls it first. */
  flush(): Promise<void>;
}
