/** A replica that stops (SIGTERM) lets its sources finish their units in hand under leases it still renews. */
import assert from 'node:assert/strict';
import { PassThrough } from 'node:stream';
import { it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { Logger } from '../../src/log/logger.js';
import { Coordinator } from '../../src/cluster/coordinator.js';
import { LeaseBook, type SourceDoc, sourceDocId } from '../../src/cluster/leases.js';
import type { StateIndex } from '../../src/cluster/state-index.js';
import { MemoryIndex } from './memory-index.js';

it('units in hand that take longer than the lease to commit after SIGTERM still commit: the leases are renewed until released', { timeout: 10_000 }, async () => {
  const index = new MemoryIndex();
  const book = new LeaseBook(index as unknown as StateIndex, { replica: 'r1', leaseMs: 300 });
  const outcomes: string[] = [];
  const coordinator = new Coordinator(book, ['s1'], async (_group, leases, stop) => {
    await new Promise((resolve) => stop.addEventListener('abort', resolve, { once: true }));
    await sleep(700); // the last unit's destination is slow to acknowledge
    await leases.get('s1')!.commit({ k: { kind: 'mimecast-v2-stream', position: 0, cursor: 'last-unit', complete: false, newest_event_ms: null, newest_by_type: {} } })
      .then(() => outcomes.push('committed'), (err: Error) => outcomes.push(err.message));
  }, { renewMs: 100 }, new Logger(new PassThrough(), 'error'));
  await coordinator.start();
  assert.equal(coordinator.leases().length, 1);
  await coordinator.stop();
  assert.deepEqual(outcomes, ['committed']);
  const doc = (await index.get<SourceDoc>(sourceDocId('s1')))!.doc;
  assert.equal(doc.checkpoints.k?.cursor, 'last-unit');
  assert.equal(doc.owner, null, 'released once the units in hand committed');
});
