/** The embedded SQLite store as a sink: each unit is one transaction (see store/store.ts). */
import type { SinkCounts } from '../pipeline/summary.js';
import type { Unit } from '../pipeline/transform.js';
import type { Store } from '../store/store.js';
import type { CheckpointUpdate, Sink } from './sink.js';

export class SqliteSink implements Sink {
  constructor(private readonly store: Store) {}

  async write(unit: Unit, checkpoint?: CheckpointUpdate): Promise<SinkCounts> {
    return this.store.writeUnit(unit, checkpoint);
  }

  async close(): Promise<void> {
    // The store's owner closes it; it may still be queried after the run.
  }
}
