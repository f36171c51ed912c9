/**
 * Red-team round 5: `replay --config` against a loopback stand-in for the state index (its
 * `_search` lists the dead letters, `_doc` reads and replaces them). A dead letter goes the way
 * its source's events went on the replica: that source's tenant stamped, its pipeline settings.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { EngineBooks, engineDeadLetter } from '../../src/cluster/books.js';
import { replayEngineDeadLetters } from '../../src/cluster/replay.js';
import { noCounts } from '../../src/core/counts.js';
import { DEFAULT_LIMITS } from '../../src/decode/limits.js';
import { type DecodedBatch, deadLetterBatch } from '../../src/decode/input.js';
import { decodeRecords } from '../../src/decode/records.js';
import { feedNamed } from '../../src/mimecast/feeds.js';
import { prepareDeadLetter } from '../../src/store/prepared.js';
import type { Sink } from '../../src/core/sink.js';
import type { Unit } from '../../src/core/unit.js';
import { buildTransformer } from '../../src/cli/ingest.js';
import { replayRoutes, writeAll } from '../../src/cli/replay-routes.js';
import type { ServiceConfig } from '../../src/service/config.js';
import { clientOfStandIn, wholeDeadLetter } from './stand-in-engine.js';
import { STATE, StateStandIn } from './state-stand-in.js';

/** A sink that keeps what it is given. */
function keeping(): Sink & { units: Unit[] } {
  const units: Unit[] = [];
  return { units, write: async (u) => (units.push(u), { ...noCounts(), stored: u.events.length }), close: async () => undefined };
}

const record = (n: number) => JSON.stringify({ datetime: `2026-12-06T10:00:0${n % 10}Z`, aCode: `acode-${n}`, Act: 'Acc', Sender: `s${n}@example.com` });
const letter = (source: string, position: number, raw: Buffer) =>
  wholeDeadLetter(source, { from: 'stream r.json', position, reason: 'failed then', raw });

describe('replay --config: each dead letter the way of its source', () => {
  const engine = new StateStandIn();
  const client = clientOfStandIn(engine, 10_000);

  it("a tenant's source: its events stamped with the tenant and made with its settings (no event.original); a source the config has not: the command line's way", async () => {
    const L = DEFAULT_LIMITS;
    const bounds = { max_record_bytes: L.maxRecordBytes, max_document_bytes: L.maxDocumentBytes, max_member_bytes: L.maxMemberBytes, max_zip_bytes: L.maxZipBytes, max_archive_depth: L.maxArchiveDepth, max_json_depth: L.maxJsonDepth, max_record_keys: L.maxRecordKeys };
    const config = { sources: [{ name: 'initech-v1', kind: 'mimecast-v1', tenant: 'initech', original: false, unknown_types: 'store', ...bounds }] } as unknown as Pick<ServiceConfig, 'sources'>;
    for (const [source, n] of [['initech-v1', 1], ['gone', 2]] as const) {
      const d = letter(source, n, Buffer.from(record(n)));
      engine.put(d.id, d.doc);
    }
    const sink = keeping();
    const report = await replayEngineDeadLetters(new EngineBooks(client(), STATE), buildTransformer({ original: true }).transformer, (units) => writeAll(sink, units), { route: replayRoutes(config, sink) });
    assert.equal(report.recovered, 2);
    assert.equal(sink.units.flatMap((u) => u.events).length, 2);
    const events = sink.units.flatMap((u) => u.events).sort((a, b) => a.position - b.position);
    const docs = events.map((e) => e.doc as { organization?: { name?: string }; event?: { original?: string } });
    assert.equal(docs[0]!.organization?.name, 'initech', "the tenant's name on its source's replayed event");
    assert.equal(docs[0]!.event?.original, undefined, "its source's original: false");
    assert.equal(docs[1]!.organization, undefined, 'a source the config has not: no tenant');
    assert.equal(typeof docs[1]!.event?.original, 'string', "the command line's settings for it");
  });

  it('a dead letter refused (its kept bytes not whole) moves behind the others in the listing: refused ones never keep later ones from being replayed', async () => {
    engine.docs.clear();
    const head = letter('s', 1, Buffer.from(record(1).slice(0, 20)));
    engine.put(head.id, { ...head.doc, truncated_from: 5_000_000 });
    const good = letter('s', 2, Buffer.from(record(2)));
    engine.put(good.id, good.doc);
    const sink = keeping();
    const replay = () => replayEngineDeadLetters(new EngineBooks(client(), STATE), buildTransformer({ original: true }).transformer, (units) => writeAll(sink, units), { limit: 1 });
    const first = await replay();
    assert.deepEqual(first.refused.map((r) => r.id), [head.id]);
    const second = await replay();
    assert.equal(second.recovered, 1, 'the next replay of one reaches the dead letter behind the refused one');
    assert.equal(sink.units.flatMap((u) => u.events).length, 1);
  });

  it('one run replays every dead letter, past the 10,000 one listing could hold: the ids a page at a time, each listed once', { timeout: 60_000 }, async () => {
    engine.docs.clear();
    const n = 10_003;
    for (let i = 1; i <= n; i++) {
      const d = letter('s', i, Buffer.from(record(i)));
      engine.put(d.id, d.doc);
    }
    engine.searches = 0;
    const sink = keeping();
    const report = await replayEngineDeadLetters(new EngineBooks(client(), STATE), buildTransformer({ original: true }).transformer, (units) => writeAll(sink, units));
    assert.equal(report.recovered, n, 'every one in one run');
    assert.equal(report.listed, n, 'the report says how many were listed');
    const positions = sink.units.flatMap((u) => u.events.map((e) => e.position));
    assert.equal(new Set(positions).size, n, 'none twice');
    assert.ok(engine.searches <= Math.ceil(n / 1_000) + 2, `a page of 1,000 ids per listing (${engine.searches} listings)`);
    assert.ok([...engine.docs.values()].every((d) => typeof (d.source as { replayed_at?: unknown }).replayed_at === 'string'));
  });

  it('a run ends while dead letters keep arriving and keep failing: each one there when it began is handled once, those that arrived are the next run\'s', async () => {
    engine.docs.clear();
    const refusedIds: string[] = [];
    for (let i = 1; i <= 12; i++) {
      const d = letter('s', i, Buffer.from(record(i)));
      if (i % 3 === 0) refusedIds.push(d.id); // a head of a larger record: refused, written again (it moves behind the others)
      engine.put(d.id, i % 3 === 0 ? { ...d.doc, truncated_from: 5_000_000 } : d.doc);
    }
    let arrived = 0;
    engine.onSearch = () => {
      const d = letter('s', 1000 + ++arrived, Buffer.from(record(1000 + arrived)));
      engine.put(d.id, d.doc);
    };
    const sink = keeping();
    const replay = (pageSize: number) => replayEngineDeadLetters(new EngineBooks(client(), STATE), buildTransformer({ original: true }).transformer, (units) => writeAll(sink, units), { pageSize });
    try {
      const first = await replay(2);
      assert.equal(first.listed, 12, 'the twelve there when it began, no more');
      assert.equal(first.recovered, 8);
      assert.deepEqual(first.refused.map((r) => r.id).sort(), refusedIds.sort(), 'each refused one once, though it moved behind the others');
      assert.equal(first.refused_count, 4);
      assert.equal(sink.units.flatMap((u) => u.events).length, 8);
      assert.ok(arrived >= 6, `documents arrived while it ran (${arrived})`);
    } finally {
      engine.onSearch = undefined;
    }
    const gets = engine.gets;
    const second = await replay(5);
    assert.equal(second.listed, 12 + arrived, 'the next run: the refused ones again, the arrivals, and the recovered ones (marked, not sent again)');
    assert.equal(second.recovered, arrived);
    assert.equal(second.already_replayed, 8);
    assert.equal(engine.gets - gets, 4 + arrived, 'the 8 marked replayed are passed from the listing, never read whole');
    assert.equal(second.refused.length, 4);
  });

  it("an API feed's dead letters as a replica writes them: their records replayed as the feed's (its log type and dataset), a whole page's records too; a runaway's note refused, said why", async () => {
    engine.docs.clear();
    const page = (feed: string) => `mimecast-v2-feed http://127.0.0.1:9 ${feed} window 2026-12-06T09:00:00+0000 page 0`;
    const audit = (n: number, deep: boolean) => ({ id: `audit-${n}`, auditType: 'User Logged On', category: 'account_logs', eventInfo: 'Logon from 10.1.2.3', eventTime: `2026-12-06T10:00:0${n}+0000`, user: 'u@example.com', ...(deep ? { extra: [[[[n]]]] } : {}) });
    const click = (n: number) => ({ date: `2026-12-06T10:00:0${n}+0000`, userEmailAddress: 'u@example.com', fromUserEmailAddress: 'f@example.com', url: `https://x.example/${n}`, action: 'allow', scanResult: 'clean', category: 'Business' });
    // What the replica's pipeline made of them (its records too deep for its --max-json-depth 3; a page that never parsed; a runaway token).
    const replica = async (feed: string, batches: AsyncIterable<DecodedBatch> | DecodedBatch[]) => {
      const out = [];
      for await (const b of batches) out.push(...buildTransformer({ original: true }).transformer.forFeed(feed).process(b).deadLetters);
      return out;
    };
    const shallow = { ...DEFAULT_LIMITS, maxJsonDepth: 3 };
    const letters = [
      ...(await replica('audit', decodeRecords(page('audit'), [audit(1, false), audit(2, true)], { limits: shallow }))),
      ...(await replica('ttp-url', [deadLetterBatch(page('ttp-url'), 'ttp-url: page could not be read: JSON nested deeper than 7 levels', Buffer.from(JSON.stringify({ meta: {}, data: [{ clickLogs: [click(1), click(2)] }] })))])),
      ...(await replica('ttp-url', [deadLetterBatch(`${page('ttp-url')} next`, 'ttp-url: the next-page token repeats', Buffer.from(JSON.stringify({ nextPageToken: 't', pagesRead: 3 })))])),
      // A page's items that are not records, kept together (whole: decode/records.ts notRecords).
      { source: page('audit'), position: 0, reason: '2 items of this page are not JSON objects', raw: '5\n"x"', feed: 'audit' },
    ];
    assert.deepEqual(letters.map((d) => d.feed), ['audit', 'ttp-url', 'ttp-url', 'audit'], 'each dead letter carries its feed');
    const ids = letters.map((d) => {
      const { id, doc } = engineDeadLetter('feeds', prepareDeadLetter(d), undefined, 'a', 1);
      engine.put(id, doc);
      return id;
    });
    // One written before dead letters carried their feed: its feed is read from its page's name.
    const old = engineDeadLetter('feeds', prepareDeadLetter({ source: page('audit'), position: 7, reason: 'failed then', raw: JSON.stringify(audit(7, false)) }), undefined, 'a', 1);
    engine.put(old.id, old.doc);
    // A feed this version does not know (a hand edit): never a log type made of it.
    engine.put('dead-letter:feeds:edited', { ...old.doc, position: 8, feed: 'no-such-feed' });
    const sink = keeping();
    const report = await replayEngineDeadLetters(new EngineBooks(client(), STATE), buildTransformer({ original: true }).transformer, (units) => writeAll(sink, units));
    assert.equal(report.recovered, 3);
    assert.equal(report.still_failing, 3);
    const notRecords = engine.docs.get(ids[3]!)!.source as { replay_reason?: string };
    assert.match(notRecords.replay_reason ?? '', /^expected key=value/, `decoded as the input they are, not read as a page: ${notRecords.replay_reason}`);
    assert.equal((engine.docs.get('dead-letter:feeds:edited')!.source as { replay_reason?: string }).replay_reason, 'its feed "no-such-feed" is not one this version knows: not replayed');
    const runaway = engine.docs.get(ids[2]!)!.source as { replay_reason?: string };
    assert.equal(runaway.replay_reason, 'ttp-url: not a page of records (no "data" list): nothing to replay; the window it was kept for is recorded as a gap');
    const events = sink.units.flatMap((u) => u.events);
    const byType = events.map((e) => [e.classification.logType, e.classification.source, e.position, (e.doc as { event: { dataset: string } }).event.dataset]).sort();
    assert.deepEqual(byType, [
      ['audit', 'feed', 2, feedNamed('audit')!.dataset], ['audit', 'feed', 7, feedNamed('audit')!.dataset],
      ['ttp-url', 'feed', 1, feedNamed('ttp-url')!.dataset], ['ttp-url', 'feed', 2, feedNamed('ttp-url')!.dataset],
    ]);
  });
});
