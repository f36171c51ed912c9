/**
 * The pure middle of the journey, without Java or a network: what each `_bulk` item means, how
 * bulk requests are cut, back-off bounds, the shared rate budget, and the in-order ack window.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { AckWindow } from '../../src/pipeline/ack-window.js';
import { bulkBytes, bulkItems, chunk, encodeDocs, itemOutcome, mgetSources } from '../../src/sinks/search/bulk.js';
import { backoffDelay, sleep } from '../../src/util/backoff.js';
import { RateBudget } from '../../src/util/rate-budget.js';

/**
 * `promise`'s value when it settles without waiting for a timer (before the next turn of the event
 * loop), else 'waited': "no wait" asserted without a wall-clock bound a loaded machine can break.
 */
function atOnce<T>(promise: Promise<T>): Promise<T | 'waited'> {
  return Promise.race([promise, new Promise<'waited'>((resolve) => setImmediate(() => resolve('waited')))]);
}

describe('bulk answers and requests', () => {
  it('gives each item of a bulk answer its outcome', () => {
    assert.deepEqual(itemOutcome({ status: 201 }), { kind: 'created' });
    assert.deepEqual(itemOutcome({ status: 200 }), { kind: 'created' });
    assert.deepEqual(itemOutcome({ status: 409, error: { type: 'version_conflict_engine_exception' } }), { kind: 'conflict' });
    for (const status of [429, 500, 503]) assert.equal(itemOutcome({ status, error: { type: 'es_rejected_execution_exception' } }).kind, 'retry');
    assert.equal(itemOutcome(undefined).kind, 'retry'); // an answer without the item: send it again
    const rejected = itemOutcome({ status: 400, error: { type: 'document_parsing_exception', reason: 'failed to parse field [email.subject]', caused_by: { type: 'illegal_argument_exception', reason: 'For input string' } } });
    assert.equal(rejected.kind, 'rejected');
    assert.match((rejected as { reason: string }).reason, /HTTP 400 document_parsing_exception: failed to parse field \[email\.subject\] \(illegal_argument_exception: For input string\)/);
  });

  it('reads _bulk and _mget answers through typed parsers that believe only a whole answer', () => {
    const answer = { took: 3, errors: true, items: [{ create: { status: 201 } }, { create: { status: 409, error: { type: 'version_conflict_engine_exception' } } }, { index: { status: 201 } }] };
    assert.deepEqual(bulkItems(answer, 3), [{ status: 201, error: undefined }, { status: 409, error: { type: 'version_conflict_engine_exception' } }, undefined]);
    assert.equal(bulkItems(answer, 2), undefined, 'another count than was sent');
    assert.equal(bulkItems('<html>proxy error</html>', 3), undefined);
    assert.equal(bulkItems({ items: 'nope' }, 0), undefined);
    const mget = { docs: [{ found: true, _source: { event: { hash: 'abc' } } }, { found: false }, { found: true, _source: 'x' }] };
    assert.deepEqual(mgetSources(mget, 3), [{ event: { hash: 'abc' } }, undefined, undefined]);
    assert.equal(mgetSources(mget, 2), undefined);
    assert.equal(mgetSources(null, 0), undefined);
  });

  it('cuts bulk requests by count and bytes, in order, dropping and doubling nothing (property)', () => {
    const doc = fc.record({ size: fc.nat({ max: 5000 }) }).map(({ size }) => ({ size }));
    fc.assert(fc.property(fc.array(doc, { maxLength: 200 }), fc.integer({ min: 1, max: 50 }), fc.integer({ min: 100, max: 50_000 }), (sizes, maxDocs, maxBytes) => {
      const docs = encodeDocs(sizes.map((s, i) => ({ index: 'i', id: `id${i}`, hash: 'h', json: 'x'.repeat(s.size), slot: i })));
      const chunks = chunk(docs, maxDocs, maxBytes);
      assert.deepEqual(chunks.flat().map((d) => d.slot), docs.map((d) => d.slot));
      for (const c of chunks) {
        assert.ok(c.length >= 1 && c.length <= maxDocs);
        const bytes = c.reduce((n, d) => n + bulkBytes(d), 0);
        assert.ok(c.length === 1 || bytes <= maxBytes, `a chunk of ${c.length} docs holds ${bytes} bytes`);
      }
    }));
  });
});

describe('back-off and the rate budget', () => {
  it('keeps each delay between half and all of a ceiling that doubles up to the maximum (property)', () => {
    fc.assert(fc.property(fc.nat({ max: 60 }), fc.integer({ min: 1, max: 5000 }), fc.integer({ min: 1, max: 600_000 }), fc.double({ min: 0, max: 1, maxExcluded: true, noNaN: true }), (attempt, baseMs, maxMs, r) => {
      const ceiling = Math.min(maxMs, baseMs * 2 ** Math.min(attempt, 30));
      const d = backoffDelay(attempt, { baseMs, maxMs }, () => r);
      assert.ok(d >= Math.floor(ceiling / 2) && d <= Math.ceil(ceiling), `${d} outside [${ceiling / 2}, ${ceiling}]`);
    }));
    assert.equal(backoffDelay(0, { baseMs: 1000, maxMs: 120_000 }, () => 0), 500);
    assert.equal(backoffDelay(40, { baseMs: 1000, maxMs: 120_000 }, () => 0.999999), 120_000);
  });

  it('sleep wakes early, answering false, when stopped', async () => {
    const stop = new AbortController();
    const started = Date.now();
    setTimeout(() => stop.abort(), 20);
    assert.equal(await sleep(10_000, stop.signal), false);
    assert.ok(Date.now() - started < 1000);
    assert.equal(await sleep(5), true);
  });

  it('makes every caller wait when a window is used up, and lets a stop through at once', async () => {
    const budget = new RateBudget(1);
    const stop = new AbortController();
    assert.equal(await budget.acquire(stop.signal), true);
    budget.release(new Headers({ 'x-ratelimit-remaining': '5', 'x-ratelimit-reset': '10000' }));
    assert.equal(await atOnce(budget.acquire(stop.signal)), true, 'calls left: no wait');
    const released = Date.now();
    budget.release(new Headers({ 'x-ratelimit-remaining': '1', 'x-ratelimit-reset': '150' }));
    const [a, b] = await Promise.all([budget.acquire(stop.signal), budget.acquire(stop.signal)]);
    assert.deepEqual([a, b], [true, true]);
    assert.ok(Date.now() - released >= 150, 'both callers waited for the reset');
    budget.release();
    budget.release();
    budget.pauseFor(10_000);
    budget.pauseFor(10); // a shorter pause never shortens a longer one
    setTimeout(() => stop.abort(), 20);
    const t = Date.now();
    assert.equal(await budget.acquire(stop.signal), false);
    assert.ok(Date.now() - t < 1000);
  });

  it('counts its calls in flight: with 3 calls left and 2 on their way, a third caller waits for the reset', async () => {
    const budget = new RateBudget(1);
    const stop = new AbortController();
    assert.equal(await budget.acquire(stop.signal), true);
    const released = Date.now(); // the window ends 280 ms after this at the earliest (either answer's reset)
    budget.release(new Headers({ 'x-ratelimit-remaining': '4', 'x-ratelimit-reset': '300' }));
    // Two calls go out; one answers with 3 left while the other is still on its way.
    assert.equal(await budget.acquire(stop.signal), true);
    assert.equal(await budget.acquire(stop.signal), true);
    budget.release(new Headers({ 'x-ratelimit-remaining': '3', 'x-ratelimit-reset': '280' }));
    assert.equal(await atOnce(budget.acquire(stop.signal)), true, '3 left, 1 in flight, reserve 1: one more may go');
    assert.equal(await budget.acquire(stop.signal), true);
    assert.ok(Date.now() - released >= 280, `3 left, 2 in flight: the next waits for the window's reset (${Date.now() - released} ms)`);
  });

  it('within one window, an older answer arriving late does not raise the calls left again', async () => {
    const budget = new RateBudget(1);
    const stop = new AbortController();
    for (let i = 0; i < 3; i++) assert.equal(await budget.acquire(stop.signal), true);
    const released = Date.now();
    budget.release(new Headers({ 'x-ratelimit-remaining': '2', 'x-ratelimit-reset': '300' }));
    budget.release(new Headers({ 'x-ratelimit-remaining': '4', 'x-ratelimit-reset': '299' })); // sent earlier, answered later
    assert.equal(await budget.acquire(stop.signal), true);
    assert.ok(Date.now() - released >= 300, `2 left and 1 in flight: the caller waited for the reset (${Date.now() - released} ms)`);
  });
});

describe('the ack window', () => {
  function deferred(): { promise: Promise<void>; resolve: () => void; reject: (e: Error) => void } {
    let resolve!: () => void;
    let reject!: (e: Error) => void;
    const promise = new Promise<void>((res, rej) => {
      resolve = res;
      reject = rej;
    });
    return { promise, resolve, reject };
  }

  it('keeps at most `size` writes in flight and waits for the oldest first', async () => {
    const window = new AckWindow(2);
    const writes = [deferred(), deferred(), deferred()];
    const events: string[] = [];
    await window.push(writes[0]!.promise); // 1 in flight: returns at once
    const second = window.push(writes[1]!.promise).then(() => events.push('second push returned'));
    await new Promise((r) => setTimeout(r, 10));
    assert.deepEqual(events, [], 'the window is full: pushing waits');
    writes[1]!.resolve(); // a later write finishing does not free the window...
    await new Promise((r) => setTimeout(r, 10));
    assert.deepEqual(events, []);
    writes[0]!.resolve(); // ...only the oldest does
    await second;
    assert.deepEqual(events, ['second push returned']);
    await window.push(writes[2]!.promise.then(() => undefined));
    writes[2]!.resolve();
    await window.drain();
  });

  it('surfaces a failed write at drain, after settle has waited for every write', async () => {
    const window = new AckWindow(3);
    const ok = deferred();
    const bad = deferred();
    await window.push(ok.promise);
    await window.push(bad.promise);
    bad.reject(new Error('disk full'));
    ok.resolve();
    await window.settle();
    await assert.rejects(window.drain(), /disk full/);
  });
});
