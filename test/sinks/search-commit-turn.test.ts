/**
 * When a unit's bookkeeping commits, next to a search engine's requests: undici writes the next
 * request on a kept-alive connection in the event loop's check phase (setImmediate), after the
 * microtasks of the answer that freed it. A commit run in those microtasks (SQLite, synchronous,
 * milliseconds per unit) held that request back, and the engine worked with one request less
 * meanwhile; the commit now waits for the turn to end.
 */
import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import type { Unit } from '../../src/core/unit.js';
import { Logger } from '../../src/log/logger.js';
import { DeliveringSink } from '../../src/sinks/delivering-sink.js';
import type { Destination, DestinationReport } from '../../src/sinks/destination.js';
import { Store } from '../../src/store/store.js';
import { processInput, tempDir } from '../support/helpers.js';

/** Acknowledges every event, and at that moment schedules what undici would: the next request's write, as an immediate. */
class AnsweringEngine implements Destination {
  readonly name = 'engine';
  constructor(private readonly order: string[]) {}
  async deliver(unit: Unit): Promise<DestinationReport> {
    await new Promise<void>((r) => setTimeout(r, 5)); // the answer comes back in a later turn, as from a socket
    setImmediate(() => this.order.push('next request written'));
    return { indexed: unit.events.length, duplicates: 0, collisions: [], rejected: [], resent: 0 };
  }
  async close(): Promise<void> {}
}

describe('search sink: a unit commits after the turn that wrote the next request', () => {
  const dir = tempDir('mimelog-commit-turn-');
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('runs the commit after the immediates scheduled when the delivery ended, and still commits the checkpoint', async () => {
    const store = new Store(join(dir, 'turn.db'));
    const order: string[] = [];
    const sink = new DeliveringSink(store, [new AnsweringEngine(order)], { keepEvents: false, beforeCommit: async () => void order.push('commit') }, new Logger(process.stderr, 'error'));
    const unit = await processInput('a.log', 'datetime=2026-11-02T10:00:00+0000|acc=C0A0|aCode=A1|Subject=s1');
    const counts = await sink.write(unit, { kind: 'file', identity: 'i' });
    await sink.close();
    assert.deepEqual(order, ['next request written', 'commit']);
    assert.equal(counts.stored, 1);
    assert.equal(store.registry.checkpoint(unit.source)?.position, unit.position);
    store.close();
  });
});
