/** Where units go. A sink acknowledges a unit only when every record in it has a final outcome. */
import type { SinkCounts } from '../pipeline/summary.js';
import type { Unit } from '../pipeline/transform.js';

export interface Sink {
  /** Stores a unit (events, dead letters and the input's checkpoint) and reports what happened. */
  write(unit: Unit): Promise<SinkCounts>;
  close(): Promise<void>;
}
