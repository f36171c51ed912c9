/**
 * A source's books in the state index (src/cluster/books.ts) against a real OpenSearch node: counts
 * move in the fenced checkpoint write, so after a take-over the engine's totals are both owners'
 * work exactly and a stale owner's refused write counts nothing; dead letters are documents with
 * deterministic ids (a redo rewrites them); `stats --config` and `dead-letters --config` read every
 * replica's sources from the engine and report, not trust, what is not believable there.
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { after, before, describe, it } from 'node:test';
import type { Unit } from '../../src/core/unit.js';
import type { V2StreamState } from '../../src/core/sink.js';
import { Logger } from '../../src/log/logger.js';
import { DeliveringSink } from '../../src/sinks/delivering-sink.js';
import type { Destination, DestinationReport } from '../../src/sinks/destination.js';
import { SearchClient } from '../../src/sinks/search/client.js';
import { Store } from '../../src/store/store.js';
import { prepareUnit } from '../../src/store/prepared.js';
import { restoreCheckpoints } from '../../src/cluster/checkpoints.js';
import { StateIndex } from '../../src/cluster/state-index.js';
import { type HeldLease, LeaseBook, LeaseLost, type SourceDoc, sourceDocId } from '../../src/cluster/leases.js';
import { EngineBooks, type SourceBooks } from '../../src/cluster/books.js';
import { leaseFence } from '../../src/service/replica.js';
import { clusterStats } from '../../src/cluster/books-report.js';
import { createConsoleApp } from '../../src/console/server.js';
import type { OverviewWithCluster } from '../../src/console/cluster-overview.js';
import { processInput, runCli, tempDir } from '../support/helpers.js';
import type { EngineCluster } from '../support/search-engine.js';
import { stateEngine, stateRunConfig } from './replica-support.js';
import { wholeDeadLetter } from './stand-in-engine.js';

const quiet = () => new Logger(new PassThrough(), 'error');

/** A destination that holds each event id once: a second copy is a duplicate, as the engine answers. */
function holdingDestination(): Destination {
  const held = new Set<string>();
  return {
    name: 'engine',
    deliver: async (unit: Unit): Promise<DestinationReport> => {
      let indexed = 0;
      let duplicates = 0;
      for (const e of unit.events) {
        if (held.has(e.id)) duplicates++;
        else (held.add(e.id), indexed++);
      }
      return { indexed, duplicates, collisions: [], rejected: [], resent: 0 };
    },
    close: async () => undefined,
  };
}

const line = (n: number) => JSON.stringify({ datetime: `2026-12-06T10:00:0${n}Z`, aCode: `acode-${n}`, Act: 'Acc', Sender: `s${n}@example.com` });
const BAD = '{"datetime": "2026-12-06T10:00:00Z", "aCode": ';

/** A unit of real events (decoded and processed) at `position`, with the bad line when asked. */
async function unitOf(key: string, position: number, events: readonly number[], bad = false): Promise<Unit> {
  const u = await processInput(`${key}.json`, [...events.map(line), ...(bad ? [BAD] : [])].join('\n') + '\n');
  return { ...u, source: key, position, last: false };
}

function handClock(): { now: () => number; advance(ms: number): void } {
  let t = 1_000;
  return { now: () => t, advance: (ms) => void (t += ms) };
}

describe('books in the state index on OpenSearch', () => {
  let os: EngineCluster;
  let client: SearchClient;
  let index: StateIndex;
  let books: EngineBooks;
  const dir = tempDir('cluster-books');
  const NAME = 'mimelog-state-books';
  before(async () => {
    ({ os, client, index } = await stateEngine(NAME));
    books = new EngineBooks(client, NAME);
  });
  after(async () => {
    await client?.close();
    await os?.stop();
  });

  const bookOf = async (lease: string, source: string) => ((await index.get<SourceDoc & { books?: Record<string, SourceBooks> }>(sourceDocId(lease)))!.doc.books ?? {})[source];
  const sinkFor = (store: Store, lease: HeldLease, source: string, destination = holdingDestination()) =>
    new DeliveringSink(store, [destination], { keepEvents: false, beforeCommit: leaseFence(lease, { engine: books, source, log: quiet() }) }, quiet());
  const stream = (key: string, token: string): V2StreamState => ({ kind: 'mimecast-v2-stream', key, token });

  /** Replicas a and b on clocks of their own (a 5 s lease), a holding the source: `takeOver()` lets b claim it by its clock. */
  async function twoOwners(source: string) {
    const [aClock, bClock] = [handClock(), handClock()];
    const a = new LeaseBook(index, { replica: 'a', leaseMs: 5_000, now: aClock.now });
    const b = new LeaseBook(index, { replica: 'b', leaseMs: 5_000, now: bClock.now });
    await a.register(source);
    const aLease = (await a.claim(source))!;
    const takeOver = async () => {
      await b.inspect(source);
      bClock.advance(5_000);
      return (await b.claim(source))!;
    };
    return { aLease, takeOver };
  }

  /** Owner a runs two units, then freezes; b takes the lease over and runs one more (with a copy of a's event): returns both sinks and leases. */
  async function takeOver(source: string) {
    const key = `stream ${source}`;
    const { aLease, takeOver } = await twoOwners(source);
    const aStore = new Store(join(dir, `${source}-a.db`));
    const destination = holdingDestination(); // one engine both owners deliver to
    const aSink = sinkFor(aStore, aLease, source, destination);
    await aSink.write(await unitOf(key, 1, [1, 2, 3], true), stream(key, 't1'));
    await aSink.write(await unitOf(key, 2, [4]), stream(key, 't2'));
    const bLease = await takeOver();
    const bStore = new Store(join(dir, `${source}-b.db`));
    const bSink = sinkFor(bStore, bLease, source, destination);
    await bSink.write(await unitOf(key, 3, [4, 5], true), stream(key, 't3')); // event 4 again: a duplicate; another bad line
    const close = async () => {
      await aSink.close();
      await bSink.close();
      aStore.close();
      bStore.close();
    };
    return { key, aSink, bSink, aLease, bLease, aStore, bStore, close };
  }

  it("after a take-over the engine's totals are the sum of both owners' work, exactly (not the new owner's local ones)", async () => {
    const t = await takeOver('sum');
    const book = await bookOf('sum', 'sum');
    assert.ok(book, 'the lease document holds the source\'s books');
    // a: 3 + 1 events, one bad line; b: event 4 again (a duplicate), event 5, another bad line.
    assert.deepEqual(book.counts, { units: 3, stored: 5, duplicates: 1, collisions: 0, dead_letters: 2, gaps: 0 });
    assert.deepEqual(book.destinations.engine, { acknowledged: 5, duplicates: 1, collisions: 0, refused: 0, resent: 0, units: 3 });
    assert.equal(t.bStore.registry.counter('indexed'), 1, "b's own store counted only b's unit");
    await t.close();
  });

  it("a stale owner's fenced write is refused and moves no count, no checkpoint", async () => {
    const t = await takeOver('stale');
    const before = await bookOf('stale', 'stale');
    await assert.rejects(t.aSink.write(await unitOf(t.key, 4, [6, 7, 8]), stream(t.key, 'stale-t4')), LeaseLost);
    const afterDoc = (await index.get<SourceDoc & { books?: Record<string, SourceBooks> }>(sourceDocId('stale')))!.doc;
    assert.deepEqual(afterDoc.books!.stale!.counts, before!.counts);
    assert.deepEqual(afterDoc.books!.stale!.destinations, before!.destinations);
    assert.equal(afterDoc.checkpoints[t.key]!.cursor, 't3');
    assert.equal(t.aStore.registry.counter('indexed'), 4, "a's store did not commit the refused unit either");
    await t.close();
  });

  it('dead-letter ids are the same on a redo: a unit done again by the next owner (the first crashed before its fenced write) leaves one document per bad line and counts it once', async () => {
    const source = 'redo';
    const key = `stream ${source}`;
    const { aLease, takeOver } = await twoOwners(source);
    // a writes the unit's documents, then its lease is taken before its fenced write (as a crash between them would leave it).
    const bLease = await takeOver();
    const aStore = new Store(join(dir, 'redo-a.db'));
    const aSink = sinkFor(aStore, aLease, source);
    await assert.rejects(aSink.write(await unitOf(key, 1, [1, 2], true), stream(key, 't1')), LeaseLost);
    const bStore = new Store(join(dir, 'redo-b.db'));
    const bSink = sinkFor(bStore, bLease, source);
    await bSink.write(await unitOf(key, 1, [1, 2], true), stream(key, 't1'));
    await bSink.write(await unitOf(key, 1, [1, 2], true), stream(key, 't1')); // and once more: the ids do not grow, nor the counts
    await books.refresh();
    const letters = (await books.list('dead-letter', 100)).filter((h) => (h.doc as { source: string }).source === source);
    assert.equal(letters.length, 1, 'one document for the bad line, whoever wrote it and how often');
    assert.match(letters[0]!.id, /^dead-letter:redo:[0-9a-f]{40}$/);
    assert.equal(Buffer.from((letters[0]!.doc as { raw_b64: string }).raw_b64, 'base64').toString(), BAD);
    // The same unit written twice in a row is one unit (books.ts unitCommitId: a redo after a crash
    // looks just like this): counted once; a's refused write not at all.
    assert.equal((await bookOf(source, source))!.counts.dead_letters, 1, "b's unit counted once, a's refused one not");
    assert.equal((await bookOf(source, source))!.counts.units, 1);
    await aSink.close();
    await bSink.close();
    aStore.close();
    bStore.close();
  });

  it('a unit read again after a crash and cut differently (its page grew) adds only its new dead letters and gaps: the engine answers which documents are new', async () => {
    const source = 'grown';
    const key = `stream ${source}`;
    const first = new LeaseBook(index, { replica: 'g', leaseMs: 30_000 });
    await first.register(source);
    const lease = (await first.claim(source))!;
    const store = new Store(join(dir, 'grown.db'));
    const sink = sinkFor(store, lease, source);
    await sink.write(await unitOf(key, 1, [1]), stream(key, 't1'));
    await sink.close();
    const page = async (lines: string[]) => ({ ...(await processInput(`${key}.json`, `${lines.join('\n')}\n`)), source: key, position: 2, last: false });
    const gap = { fromMs: Date.UTC(2026, 11, 2), toMs: Date.UTC(2026, 11, 2, 1), reason: 'aged out at Mimecast', logType: 'receipt' };
    // Unit 2 (one event, a bad line, a gap) reaches the engine under the lease; the process dies before its store commits it.
    const report = [{ destination: 'engine', report: { indexed: 1, duplicates: 0, collisions: [], rejected: [], resent: 0 } }];
    await leaseFence(lease, { engine: books, source, log: quiet() })(prepareUnit(await page([line(2), BAD]), { events: false }), { ...stream(key, 't2'), gaps: [gap] }, report, 0);
    // Its next process starts one unit back and reads the page again: it grew by an event and another bad line.
    const again = (await new LeaseBook(index, { replica: 'g', leaseMs: 30_000 }).claim(source))!;
    restoreCheckpoints(store, again.doc.checkpoints);
    assert.equal(store.registry.checkpoint(key)?.cursor, 't1', 'one unit back');
    const redo = sinkFor(store, again, source);
    await redo.write(await page([line(2), BAD, line(3), '{"aCode": ]']), { ...stream(key, 't2-grown'), gaps: [gap] });
    await redo.close();
    store.close();
    await books.refresh();
    const letters = (await books.list('dead-letter', 100)).filter((h) => (h.doc as { source: string }).source === source);
    assert.equal(letters.length, 2, 'two bad lines, two documents');
    const book = (await bookOf(source, source))!;
    assert.equal(book.counts.dead_letters, 2, 'the first bad line counted once, the new one once');
    assert.equal(book.counts.gaps, 1, 'the gap counted once');
    assert.equal(book.counts.units, 3, 'the unit cut differently is one more unit (its events come back as duplicates, as in one process)');
  });

  it("a stale owner meeting documents the new owner counted does not re-stamp them: a later redo does not count them again", async () => {
    const source = 'restamp';
    const key = `stream ${source}`;
    const { aLease, takeOver } = await twoOwners(source);
    const aStore = new Store(join(dir, 'restamp-a.db'));
    const aSink = sinkFor(aStore, aLease, source);
    await aSink.write(await unitOf(key, 1, [1]), stream(key, 't1'));
    const bLease = await takeOver();
    const bStore = new Store(join(dir, 'restamp-b.db'));
    const bSink = sinkFor(bStore, bLease, source);
    const page = async (lines: string[]) => ({ ...(await processInput(`${key}.json`, `${lines.join('\n')}\n`)), source: key, position: 2, last: false });
    await bSink.write(await page([line(2), BAD]), stream(key, 't2')); // b counts the bad line
    // a, frozen meanwhile (its lease not yet out by its clock), reads the page grown: it meets b's document.
    await assert.rejects(aSink.write(await page([line(2), BAD, line(3)]), stream(key, 't2-a')), LeaseLost);
    // b reads the page again one unit back (a crash after its fenced write), grown by another bad line.
    await bSink.write(await page([line(2), BAD, line(3), '{"aCode": ]']), stream(key, 't2-grown'));
    assert.equal((await bookOf(source, source))!.counts.dead_letters, 2, 'the first bad line counted once, the new one once');
    for (const sink of [aSink, bSink]) await sink.close();
    for (const store of [aStore, bStore]) store.close();
  });

  it("what the books add to the fence's write per unit: the checkpoint alone vs the checkpoint with the counts (measured, printed)", async () => {
    const book = new LeaseBook(index, { replica: 'm', leaseMs: 30_000 });
    await book.register('cost');
    const lease = (await book.claim('cost'))!;
    const store = new Store(join(dir, 'cost.db'));
    const key = 'stream cost';
    const units = await Promise.all(Array.from({ length: 220 }, (_, i) => unitOf(key, i + 1, [1, 2, 3])));
    let n = 0;
    const time = async (sink: DeliveringSink, count: number) => {
      const started = performance.now();
      for (let i = 0; i < count; i++, n++) await sink.write(units[n % units.length]!, stream(key, `token-${n}`));
      return (performance.now() - started) / count;
    };
    const alone = new DeliveringSink(store, [holdingDestination()], { keepEvents: false, beforeCommit: leaseFence(lease) }, quiet());
    const counted = sinkFor(store, lease, 'cost');
    await time(alone, 20);
    await time(counted, 20);
    // Alternated, so that a slow moment of the shared machine does not fall on one side only.
    let [aloneMs, countedMs] = [0, 0];
    for (let round = 0; round < 4; round++) [aloneMs, countedMs] = [aloneMs + (await time(alone, 50)) / 4, countedMs + (await time(counted, 50)) / 4];
    process.stderr.write(`fence write per unit: ${aloneMs.toFixed(2)} ms with the checkpoint alone, ${countedMs.toFixed(2)} ms with the books in the same write\n`);
    assert.equal((await bookOf('cost', 'cost'))!.counts.units, 220, 'the counted sink\'s units, each once');
    await alone.close();
    await counted.close();
    store.close();
  });

  /** A run config with cluster: whose state index is this test's (or `stateIndex`). */
  const runConfig = (stateIndex = NAME): string => stateRunConfig(join(dir, `run-${stateIndex}.yaml`), { store: join(dir, 'run.db'), urls: os.urls, stateIndex });

  it("stats --config shows every replica's sources from the state index, with the same sums as a store's stats", async () => {
    const [a, b] = [new LeaseBook(index, { replica: 'replica-a', leaseMs: 30_000 }), new LeaseBook(index, { replica: 'replica-b', leaseMs: 30_000 })];
    for (const [book, source] of [[a, 'shown-a'], [b, 'shown-b']] as const) {
      await book.register(source);
      const lease = (await book.claim(source))!;
      const store = new Store(join(dir, `${source}.db`));
      const sink = sinkFor(store, lease, source);
      const gap = { fromMs: Date.UTC(2026, 11, 1), toMs: Date.UTC(2026, 11, 1, 1), reason: 'aged out at Mimecast', logType: 'receipt' };
      await sink.write(await unitOf(`stream ${source}`, 1, [1, 2, 3], true), { ...stream(`stream ${source}`, 'tok'), gaps: [gap] });
      await sink.close();
      store.close();
    }
    await books.refresh();
    const r = await runCli(['stats', '--config', runConfig(), '--json']);
    const s = JSON.parse(r.stdout) as { sources: { source: string; owner: string; epoch: number; counts: Record<string, number> }[]; api_streams: { stream: string; caught_up: boolean }[]; gaps: { source: string; log_type: string; lost_seconds: number }[] };
    const shown = s.sources.filter((x) => x.source.startsWith('shown-'));
    assert.deepEqual(shown.map((x) => [x.source, x.owner, x.epoch, x.counts.stored, x.counts.dead_letters, x.counts.gaps]), [['shown-a', 'replica-a', 1, 3, 1, 1], ['shown-b', 'replica-b', 1, 3, 1, 1]]);
    assert.deepEqual(s.gaps.filter((g) => g.source.startsWith('shown-')).map((g) => [g.source, g.log_type, g.lost_seconds]), [['shown-a', 'receipt', 3600], ['shown-b', 'receipt', 3600]], 'the gap each source recorded');
    assert.ok(s.api_streams.some((x) => x.stream === 'stream shown-b' && x.caught_up === false));
    const text = await runCli(['stats', '--config', runConfig()]);
    assert.match(text.stdout, /shown-a +│? *replica-a/);
    assert.match(text.stdout, /shown-b +│? *replica-b/);
  });

  it("the console started with such a config: its overview's sources, counts and checkpoints are the state index's (every replica's), not its store's", async () => {
    const store = new Store(join(dir, 'console.db')); // an empty local store: every count below is the engine's
    const app = createConsoleApp({ store, allowedHosts: [], cluster: () => clusterStats(books) });
    const o = (await (await app.request('/api/overview')).json()) as OverviewWithCluster;
    const shown = o.cluster!.sources.filter((x) => x.source.startsWith('shown-'));
    assert.deepEqual(shown.map((x) => [x.source, x.owner]), [['shown-a', 'replica-a'], ['shown-b', 'replica-b']]);
    assert.ok(o.stats.dead_letters >= 2 && o.stats.indexed >= 6, `the engine's sums: ${o.stats.dead_letters}, ${o.stats.indexed}`);
    assert.ok(o.stats.api_streams.some((a) => a.stream === 'stream shown-a'));
    assert.equal(o.stats.events, 0, 'events per type stay the local store\'s');
    store.close();
  });

  it('hostile documents in the state index (counts that are a string, negative, 1e300; a dead letter of huge bytes) are reported, not trusted, and stats still answers', async () => {
    await index.put(sourceDocId('hostile'), {
      kind: 'source', source: 'hostile', owner: 'x', epoch: 3, lease_ms: 1000, renewed_at: null, handovers: 0, history: [], checkpoints: { k: { kind: 'mimecast-v2-stream', position: 'far', complete: true } },
      books: { hostile: { counts: { units: '12', stored: -4, duplicates: 1e300, dead_letters: 2 }, destinations: { engine: { acknowledged: 'many' } } } },
    });
    const huge = Buffer.alloc(3 * 1024 * 1024, 0x41);
    await index.put('dead-letter:hostile:0', { kind: 'dead-letter', source: 'hostile', position: 0, reason: 'planted', raw_b64: huge.toString('base64'), raw_is_text: true, digest: 'x', truncated_from: null, cut_short: false, created_at: 'now' });
    await books.refresh();
    const r = await runCli(['stats', '--config', runConfig(), '--json']);
    assert.equal(r.code, 1, 'values not believed: exit 1');
    const s = JSON.parse(r.stdout) as { sources: { source: string; counts: Record<string, number> }[]; indexed: number; problems: string[] };
    assert.deepEqual(s.sources.find((x) => x.source === 'hostile')!.counts, { dead_letters: 2 }, 'only the believable count is shown');
    for (const bad of ['units: "12"', 'stored: -4', 'duplicates: 1e+300', 'acknowledged: "many"', 'checkpoint k']) assert.ok(s.problems.some((p) => p.includes(bad)), `${bad} reported: ${s.problems.join(' | ')}`);
    assert.match(r.stderr, /not believed/);
    const d = await runCli(['dead-letters', '--config', runConfig(), '--json', '--limit', '1000']);
    assert.equal(d.code, 1);
    const planted = d.stdout.trim().split('\n').map((l) => JSON.parse(l) as { id: string; raw_b64: string; truncated_from: number }).find((x) => x.id === 'dead-letter:hostile:0')!;
    assert.equal(Buffer.from(planted.raw_b64, 'base64').length, 64 * 1024, 'only the head of bytes no replica would keep');
    assert.equal(planted.truncated_from, huge.length);
    assert.match(d.stderr, /more than a replica keeps/);
  });

  it("replay --config runs the engine's dead letters again into the config's sink: whole ones only (a kept head, bytes not matching their digest refused, said why), replayed ones marked and not sent again", async () => {
    const STATE = 'mimelog-state-replay';
    await new StateIndex(client, STATE).ensure();
    const engine = new EngineBooks(client, STATE);
    const letter = (position: number, raw: Buffer) => wholeDeadLetter('r', { from: 'stream r.json', position, reason: 'failed then', raw });
    const good = letter(3, Buffer.from(line(3))); // a record the pipeline takes now
    const bad = letter(4, Buffer.from(BAD)); // still not a record
    const head = letter(5, Buffer.alloc(2 * 1024 * 1024, 0x41)); // only its first 64 KiB kept
    const edited = letter(6, Buffer.from(line(6)));
    await engine.putAll([good, bad, head, { id: edited.id, doc: { ...edited.doc, digest: '0'.repeat(64), replay_attempts: 1e300 } }]);
    await engine.refresh();
    const db = join(dir, 'replay.db');
    const first = await runCli(['replay', '--config', runConfig(STATE), '--db', db, '--json']);
    assert.equal(first.code, 2, `still failing: exit 2 (${first.stderr})`);
    const r1 = JSON.parse(first.stdout) as { attempted: number; recovered: number; still_failing: number; already_replayed: number; events_stored: number; refused: { id: string; reason: string }[] };
    assert.deepEqual([r1.attempted, r1.recovered, r1.still_failing, r1.already_replayed, r1.events_stored], [4, 1, 3, 0, 1]);
    assert.deepEqual(r1.refused.map((x) => x.id).sort(), [head.id, edited.id].sort());
    assert.match(first.stderr, /only the first 65536 bytes of its 2097152 are kept in the state index: not replayed as if whole/);
    assert.match(first.stderr, /do not match its digest/);
    await client.send('POST', '/mimecast-siem-*/_refresh');
    const events = async () => ((await client.send('POST', '/mimecast-siem-*/_count')).body as { count: number }).count;
    assert.equal(await events(), 1, 'the recovered event is in the engine');
    const index = new StateIndex(client, STATE);
    assert.equal(typeof (await index.get<{ replayed_at?: string }>(good.id))!.doc.replayed_at, 'string', 'marked replayed');
    assert.equal((await index.get<{ replay_attempts: number }>(bad.id))!.doc.replay_attempts, 1);
    const second = await runCli(['replay', '--config', runConfig(STATE), '--db', db, '--json']);
    const r2 = JSON.parse(second.stdout) as typeof r1;
    assert.deepEqual([r2.attempted, r2.recovered, r2.already_replayed], [3, 0, 1], 'the replayed one is not sent again');
    assert.equal((await index.get<{ replay_attempts: number }>(bad.id))!.doc.replay_attempts, 2, 'a still-failing one keeps its count of attempts');
    const listed = await runCli(['dead-letters', '--config', runConfig(STATE)]);
    assert.match(listed.stdout, /replayed 20\d\d-/, 'dead-letters --config says which were replayed');
    // A unit done again after a crash meets the replayed document: not re-created, its mark kept.
    await engine.putAll([good], 'redo');
    assert.equal(typeof (await index.get<{ replayed_at?: string }>(good.id))!.doc.replayed_at, 'string', 'the mark survives a redo of its unit');
  });
});
