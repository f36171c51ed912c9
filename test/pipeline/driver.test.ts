/**
 * The one driver, without Java or a network: units reach the sink in publication order with at
 * most two in flight, `run` returns only once every unit is acknowledged, a state may be computed
 * from the processed events, counts come from what was published, and a failed write surfaces.
 * The sink here is the real embedded store, wrapped to hold acknowledgements back at random.
 */
import assert from 'node:assert/strict';
import { readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import fc from 'fast-check';
import type { SinkCounts } from '../../src/core/counts.js';
import type { Sink, SourceState, V1State } from '../../src/core/sink.js';
import type { Unit } from '../../src/core/unit.js';
import { type DecodedBatch, deadLetterBatch, decodeBytes } from '../../src/decode/input.js';
import { Driver } from '../../src/pipeline/driver.js';
import { Transformer } from '../../src/pipeline/transform.js';
import { SqliteSink } from '../../src/sinks/sqlite.js';
import { Store } from '../../src/store/store.js';
import { SAMPLES, tempDir, transformer } from '../support/helpers.js';

const dir = tempDir('mimelog-driver-');
after(() => rmSync(dir, { recursive: true, force: true }));

async function sampleBatches(): Promise<DecodedBatch[]> {
  const bytes = readFileSync(join(SAMPLES, 'understanding-siem-logs.kv'));
  const batches: DecodedBatch[] = [];
  for await (const b of decodeBytes('sample.kv', bytes)) batches.push(b);
  // One batch per line: many small units.
  return batches.flatMap((b) => b.items.map((item, i) => ({ ...b, items: [item], last: b.last && i === b.items.length - 1 })));
}

/**
 * The real store behind a remote-like sink: each unit is acknowledged `delays[i]` ms after the
 * one before it committed (in order, as the Sink contract asks), unit `failAt` fails, and nothing
 * after a failure commits. Records what it was handed.
 */
class HeldBackSink implements Sink {
  readonly written: { unit: Unit; checkpoint?: SourceState }[] = [];
  acked = 0;
  inFlight = 0;
  maxInFlight = 0;
  private tail: Promise<unknown> = Promise.resolve();
  constructor(
    private readonly inner: Sink,
    private readonly delays: readonly number[],
    private readonly failAt = -1,
  ) {}
  write(unit: Unit, checkpoint?: SourceState): Promise<SinkCounts> {
    const i = this.written.length;
    this.written.push({ unit, checkpoint });
    this.inFlight++;
    this.maxInFlight = Math.max(this.maxInFlight, this.inFlight);
    const committed = this.tail.then(async () => {
      await new Promise((r) => setTimeout(r, this.delays[i % this.delays.length]));
      if (i === this.failAt) throw new Error(`disk full at unit ${i}`);
      const counts = await this.inner.write(unit, checkpoint);
      this.acked++;
      return counts;
    });
    this.tail = committed; // a failure poisons every later write
    return committed.finally(() => this.inFlight--);
  }
  async close(): Promise<void> {}
}

describe('the driver', () => {
  it('hands units over in publication order, at most two in flight, and returns once all are acknowledged', async () => {
    const batches = await sampleBatches();
    let run = 0;
    await fc.assert(
      fc.asyncProperty(fc.array(fc.integer({ min: 0, max: 8 }), { minLength: 1, maxLength: 6 }), async (delays) => {
        const store = new Store(join(dir, `order-${run++}.db`));
        try {
          const sink = new HeldBackSink(new SqliteSink(store), delays);
          const driver = new Driver(transformer(), sink, { kind: 'mimecast-v1' });
          await driver.run(async (publisher) => {
            for (const [i, batch] of batches.entries()) {
              await publisher.publish({ batch, last: batch.last, checkpoint: { kind: 'mimecast-v1', key: 'sample', filesDone: i + 1 } });
            }
          });
          assert.equal(sink.acked, batches.length, 'run returned before every unit was acknowledged');
          assert.ok(sink.maxInFlight <= 2, `${sink.maxInFlight} units in flight`);
          assert.deepEqual(sink.written.map((w) => (w.checkpoint as V1State | undefined)?.filesDone), batches.map((_, i) => i + 1));
          assert.equal(store.registry.checkpoint('sample')?.position, batches.length);
          assert.equal(driver.summary.records, batches.length);
          assert.equal(driver.summary.sink.stored + driver.summary.sink.deadLetters + driver.summary.sink.duplicates, batches.length);
        } finally {
          store.close();
        }
      }),
      { numRuns: 15 },
    );
  });

  it('computes a state from the processed events, and counts inputs, gaps and dead letters from what was published', async () => {
    const store = new Store(join(dir, 'state.db'));
    try {
      const driver = new Driver(transformer(), new SqliteSink(store), { kind: 'mimecast-v1' });
      const batches = await sampleBatches();
      const seen: number[] = [];
      const sources: string[] = [];
      await driver.run(async (publisher) => {
        await publisher.publish({
          batch: batches,
          source: 'file-1',
          last: false,
          endsInput: true,
          checkpoint: (u: Unit): SourceState => {
            seen.push(u.events.length);
            sources.push(u.source);
            const oldest = Math.min(...u.events.map((e) => e.timeMs));
            return { kind: 'mimecast-v1', key: 'api', filesDone: 1, token: 'token-2', gaps: [{ fromMs: oldest - 60_000, toMs: oldest, reason: 'aged out' }] };
          },
        });
        await publisher.publish({ batch: deadLetterBatch('file-2', 'does not decode', Buffer.from([0xff, 0x00])), last: false, endsInput: true, checkpoint: { kind: 'mimecast-v1', key: 'api', filesDone: 2, token: 'token-3' } });
        await publisher.publish({ source: 'api', last: true, minPosition: 2, checkpoint: { kind: 'mimecast-v1', key: 'api', filesDone: 2, token: 'token-3' } });
      });
      assert.equal(seen.length, 1, 'the state function runs once');
      assert.deepEqual(sources, ['file-1'], 'the unit is named by the publication');
      assert.ok(seen[0]! > 0);
      const s = driver.summary;
      assert.equal(s.inputs, 2);
      assert.equal(s.gaps, 1);
      assert.equal(s.sink.deadLetters, 1);
      assert.equal(s.records, seen[0]! + 1);
      const cp = store.registry.checkpoint('api');
      assert.equal(cp?.cursor, 'token-3');
      assert.equal(cp?.complete, true);
      assert.equal(cp?.kind, 'mimecast-v1', 'the driver records its source kind with every state');
      assert.equal((store.db.prepare('SELECT count(*) AS n FROM gaps').get() as { n: number }).n, 1);
    } finally {
      store.close();
    }
  });

  it('surfaces a failed write: run rejects with it, and what was published before it is committed', async () => {
    const store = new Store(join(dir, 'fail.db'));
    try {
      const batches = await sampleBatches();
      const sink = new HeldBackSink(new SqliteSink(store), [3, 0, 5], 4);
      const driver = new Driver(transformer(), sink, { kind: 'mimecast-v1' });
      await assert.rejects(
        driver.run(async (publisher) => {
          for (const [i, batch] of batches.entries()) await publisher.publish({ batch, last: false, checkpoint: { kind: 'mimecast-v1', key: 'f', filesDone: i + 1 } });
        }),
        /disk full at unit 4/,
      );
      assert.equal(store.registry.checkpoint('f')?.position, 4, 'the units before the failed one are committed, none after it moves the state');
    } finally {
      store.close();
    }
  });

  it('flush waits for every unit published so far, also when two callers flush at once', async () => {
    const store = new Store(join(dir, 'flush.db'));
    try {
      const batches = await sampleBatches();
      const sink = new HeldBackSink(new SqliteSink(store), [20]);
      const driver = new Driver(transformer(), sink, { kind: 'mimecast-v1' });
      await driver.run(async (publisher) => {
        await publisher.publish({ batch: batches[0]!, last: false, checkpoint: { kind: 'mimecast-v1', key: 'a', filesDone: 1 } });
        await publisher.publish({ batch: batches[1]!, last: false, checkpoint: { kind: 'mimecast-v1', key: 'b', filesDone: 1 } });
        await Promise.all([publisher.flush(), publisher.flush()]);
        assert.equal(sink.acked, 2);
        assert.equal(store.registry.checkpoint('a')?.position, 1);
        assert.equal(store.registry.checkpoint('b')?.position, 1);
      });
    } finally {
      store.close();
    }
  });

  it('with worker threads, hands the sink the same units in the same order as one thread does, whatever order the workers finish in', async () => {
    const batches = await sampleBatches();
    const bytes = readFileSync(join(SAMPLES, 'understanding-siem-logs.kv'));
    // Units of very different sizes, so that workers finish out of publication order.
    const big: DecodedBatch[] = [];
    for await (const b of decodeBytes('big.kv', Buffer.concat(Array.from({ length: 40 }, () => bytes)))) big.push(b);
    const publications = batches.flatMap((b, i) => (i % 3 === 0 ? [b, ...big] : [b]));
    const spec = { keepOriginal: true, unknownTypes: 'store' as const };
    const handed = async (workers: number) => {
      const store = new Store(join(dir, `workers-${workers}.db`));
      try {
        const sink = new HeldBackSink(new SqliteSink(store), [0, 2, 1]);
        const driver = new Driver(Transformer.fromSpec(spec), sink, { kind: 'mimecast-v1', workers });
        await driver.run(async (publisher) => {
          for (const [i, batch] of publications.entries()) await publisher.publish({ batch, last: false, checkpoint: { kind: 'mimecast-v1', key: 'k', filesDone: i + 1 } });
        });
        assert.ok(sink.maxInFlight <= 2 * (workers - 1) + 6, `${sink.maxInFlight} units in flight with ${workers} workers`);
        assert.equal(store.registry.checkpoint('k')?.position, publications.length);
        return sink.written.map(({ unit, checkpoint }) => ({
          position: (checkpoint as V1State | undefined)?.filesDone, source: unit.source,
          events: unit.events.map((e) => [e.id, e.hash, JSON.stringify(e.doc), e.raw]),
          deadLetters: unit.deadLetters.map((d) => [d.position, d.reason, Buffer.isBuffer(d.raw) ? `bytes:${d.raw.toString('hex')}` : d.raw]),
        }));
      } finally {
        store.close();
      }
    };
    const one = await handed(1);
    assert.ok(one.some((u) => u.events.length >= 500), 'some units are large');
    assert.deepEqual(await handed(3), one);
  });

  it('with worker threads, a worker that fails fails the run, and no state moves past the unit it held', async () => {
    const store = new Store(join(dir, 'worker-fails.db'));
    try {
      const batches = await sampleBatches();
      // The worker cannot build its transformer (the types file is gone): every unit it is given fails.
      const missing = join(dir, 'no-such-types.json');
      const inline = Transformer.fromSpec({ keepOriginal: true, unknownTypes: 'store' });
      const broken = Object.assign(Object.create(Transformer.prototype) as Transformer, inline, { spec: { keepOriginal: true, unknownTypes: 'store', typesFile: missing } });
      const driver = new Driver(broken, new SqliteSink(store), { kind: 'mimecast-v1', workers: 2 });
      await assert.rejects(
        driver.run(async (publisher) => {
          await publisher.publish({ source: 'x', last: false, checkpoint: { kind: 'mimecast-v1', key: 'f', filesDone: 1 } });
          for (const [i, batch] of batches.entries()) await publisher.publish({ batch, last: false, checkpoint: { kind: 'mimecast-v1', key: 'f', filesDone: i + 2 } });
        }),
        /no-such-types\.json/,
      );
      assert.equal(store.registry.checkpoint('f')?.position, 1, 'the step without records committed; nothing after the failed unit did');
    } finally {
      store.close();
    }
  });
});
