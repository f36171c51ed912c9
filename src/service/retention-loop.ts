/**
 * The service's retention: a pass when it starts and then every hour (store/retention.ts), on a
 * connection of its own, so the collectors' writes wait at most one small batch.
 */
import type { Logger } from '../log/logger.js';
import { retain } from '../store/retention.js';
import { Store } from '../store/store.js';

const EVERY_MS = 3_600_000;

/** Passes until `stop` (`once`: a single pass). */
export function startRetention(path: string, days: number, log: Logger, stop: AbortSignal, options: { once?: boolean } = {}): { done: Promise<void> } {
  const store = new Store(path);
  const done = (async () => {
    try {
      while (!stop.aborted) {
        try {
          const r = await retain(store.db, days, { stop });
          log.info('retention pass', { days, cutoff: new Date(r.cutoffMs).toISOString(), events_removed: r.eventsRemoved, longest_batch_ms: r.longestBatchMs, bytes_before: r.bytesBefore, bytes_after: r.bytesAfter });
        } catch (err) {
          // A failed pass removes nothing more; the next one tries again. Collection goes on either way.
          log.error('retention pass failed; trying again in an hour', { reason: (err as Error).message });
        }
        if (options.once) break;
        await new Promise<void>((resolve) => {
          const timer = setTimeout(resolve, EVERY_MS);
          stop.addEventListener('abort', () => { clearTimeout(timer); resolve(); }, { once: true });
        });
      }
    } finally {
      store.close();
    }
  })();
  return { done };
}
