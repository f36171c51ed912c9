/**
 * A unit whose fence write fails for a passing reason (the engine answers 503 or 429, or the
 * request times out: the lease is not lost) fails the source, which starts again from its
 * checkpoint under the same lease, through the same sink. The units of the run that failed never
 * commit; the units of the new run must. Against the in-memory state index, through runReplica
 * and the real openSink: no engine.
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { it } from 'node:test';
import type { Unit } from '../../src/core/unit.js';
import type { V2StreamState } from '../../src/core/sink.js';
import { Logger } from '../../src/log/logger.js';
import { openSink } from '../../src/sinks/open.js';
import { Store } from '../../src/store/store.js';
import { LeaseBook, type SourceDoc, sourceDocId } from '../../src/cluster/leases.js';
import type { StateIndex } from '../../src/cluster/state-index.js';
import { type Replica, type ServiceSource, runReplica } from '../../src/service/replica.js';
import type { SourceStarter } from '../../src/service/source-starter.js';
import type { SourceStatus } from '../../src/service/health.js';
import { tempDir } from '../support/helpers.js';
import { MemoryIndex } from './memory-index.js';

const KEY = 'mimecast-v2-stream https://sim.test s1';
const unit = (position: number): Unit => ({ source: KEY, events: [], deadLetters: [], position, last: false });
const stream = (token: string): V2StreamState => ({ kind: 'mimecast-v2-stream', key: KEY, token });

it('a fence write refused for a passing reason (HTTP 503) fails one run of the source; the run started after it commits again', async () => {
  const dir = tempDir('cluster-fence-restart');
  const db = join(dir, 'r.db');
  const store = new Store(db);
  const index = new MemoryIndex();
  const log = new Logger(new PassThrough(), 'error');
  const book = new LeaseBook(index as unknown as StateIndex, { replica: 'r1', leaseMs: 30_000 });
  const replica = { id: 'r1', book, settings: { replica: 'r1', lease_s: 30, renew_s: 10, state_index: index.name }, view: () => undefined } as unknown as Replica;
  const source: ServiceSource = {
    starter: { name: 's1', kind: 'mimecast-v2-stream', checkpointNames: [] } as unknown as SourceStarter,
    status: { name: 's1', kind: 'mimecast-v2-stream', checkpointNames: [], running: 'starting', restarts: 0 } as SourceStatus,
  };
  const stop = new AbortController();
  const runs: string[] = [];
  let ran!: () => void;
  const allRan = new Promise<void>((resolve) => (ran = resolve));
  // As service/run.ts runs a source: a failed run starts again (here at once), through the same sink.
  const runOne = async (_s: ServiceSource, run: { sink: { write(u: Unit, s: V2StreamState): Promise<unknown> }; stop: AbortSignal; beforeStart?: () => void }) => {
    index.failNext(); // the first unit's fence write meets a busy engine
    for (let attempt = 1; attempt <= 3 && runs.at(-1) !== 'committed'; attempt++) {
      run.beforeStart?.();
      try {
        await run.sink.write(unit(attempt), stream(`token-${attempt}`));
        runs.push('committed');
      } catch (err) {
        runs.push((err as Error).message);
      }
    }
    ran();
    await new Promise((resolve) => run.stop.addEventListener('abort', resolve, { once: true }));
    return { name: 's1', stored: 0, duplicates: 0, collisions: 0, dead_letters: 0, gaps: 0 };
  };
  const done = runReplica(replica, [source], runOne as never, store, (l, fence) => openSink([], db, l, {}, fence), log, stop.signal);
  await allRan;
  stop.abort();
  await done;
  assert.match(runs[0]!, /HTTP 503/, 'the first run fails');
  assert.equal(runs[1], 'committed', `the next run commits (runs: ${JSON.stringify(runs)})`);
  assert.equal((await index.get<SourceDoc>(sourceDocId('s1')))!.doc.checkpoints[KEY]?.cursor, 'token-2');
  assert.equal(store.registry.checkpoint(KEY)?.cursor, 'token-2');
  store.close();
});
