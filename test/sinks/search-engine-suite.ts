/**
 * The search-engine sink's tests against one real node on loopback, the same on every engine
 * (OpenSearch 2.19, Elasticsearch 8.15 and 9.1): each engine's test files call
 * `describeSearchSink` with one part each, so the engines and the parts run in parallel test
 * processes. Every engine must store exactly the documents mimelog writes to NDJSON, so all
 * engines hold the same documents.
 */
import assert from 'node:assert/strict';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { Logger } from '../../src/log/logger.js';
import { SearchClient } from '../../src/sinks/search/client.js';
import { SearchDestination } from '../../src/sinks/search/search-destination.js';
import { DeliveringSink } from '../../src/sinks/delivering-sink.js';
import { ecsLeafMappings } from '../../src/sinks/search/template.js';
import { FEEDS } from '../../src/mimecast/feeds.js';
import { LOG_TYPES } from '../../src/mimecast/log-types.js';
import { takeEvents, toKeyValueLine, toV2Record } from '../../src/simulator/generate.js';
import { Store } from '../../src/store/store.js';
import { tempDir, killWhileDelivering, lines, processInput, runCli } from '../support/helpers.js';
import { ENGINES, type Engine, EngineCluster, notBuiltHint, testNodeBuilt } from '../support/search-engine.js';
import { FAST, expectedIds, query, startSimulator } from '../support/simulator.js';

const tmp = () => tempDir('search');
const quiet = new Logger(process.stderr, 'error');

/** mimelog's arguments for delivering to the node into indices `INDEX-yyyy.MM.dd` with template INDEX. */
function sinkArgs(os: EngineCluster, index: string): string[] {
  return ['--sink', os.spec.sink, '--search-url', os.urls.join(','), '--index', `${index}-{yyyy}.{MM}.{dd}`, '--template', index, '--search-give-up', '120'];
}

/** Leaf field paths of a mapping's `properties` (objects descended, multi-fields ignored). */
function mappedLeaves(properties: Record<string, any>, prefix = ''): string[] {
  return Object.entries(properties).flatMap(([k, v]) => (v.properties ? mappedLeaves(v.properties, `${prefix}${k}.`) : [`${prefix}${k}`]));
}

/**
 * The suite's parts: each engine's test files run one part each, on a node of its own, so the
 * parts run side by side (the kill test alone takes as long as all the others together).
 */
export type SuitePart = 'documents' | 'kills';
const PARTS: Record<SuitePart, (engine: Engine, node: () => EngineCluster) => void> = { documents: documentTests, kills: killTests };
const PART_TITLES: Record<SuitePart, string> = { documents: 'the documents it holds', kills: 'kill -9 of the collector, and outages' };

/** One part of the suite against one engine's node; `more` adds tests that share the node (OpenSearch's TLS test). */
export function describeSearchSink(engine: Engine, part: SuitePart, more?: (node: () => EngineCluster) => void): void {
  describe(`search-engine sink against a real ${ENGINES[engine].label} node: ${PART_TITLES[part]}`, () => {
    let os: EngineCluster;
    before(async () => {
      assert.ok(testNodeBuilt(engine), notBuiltHint(engine));
      os = await EngineCluster.start(engine, 1);
    });
    after(() => os?.stop());

    PARTS[part](engine, () => os);
    more?.(() => os);
  });
}

/** The documents each engine holds: the same as NDJSON, mapped explicitly, once, in the right index, collisions and refusals kept. */
function documentTests(engine: Engine, node: () => EngineCluster): void {
  it('answers GET / as its engine, and the sink picks its flattened-object type', { timeout: 60_000 }, async () => {
    const os = node();
    const banner = await os.request('GET', '/');
    assert.match(banner.version.number, engine === 'opensearch' ? /^2\.19\./ : engine === 'elasticsearch8' ? /^8\.15\./ : /^9\.1\./);
    const dir = tmp();
    const file = join(dir, 'in.log');
    writeFileSync(file, takeEvents({ seed: 3, startMs: Date.UTC(2026, 1, 1) }, 10).map((e) => toKeyValueLine(e)).join('\n'));
    const res = await runCli(['ingest', '--db', join(dir, 's.db'), ...sinkArgs(os, 'banner'), file]);
    assert.equal(res.code, 0, res.stderr);
    const template = await os.request('GET', '/_index_template/banner');
    const unparsed = template.index_templates[0].index_template.template.mappings.properties.mimecast.properties.unparsed;
    assert.equal(unparsed.type, engine === 'opensearch' ? 'flat_object' : 'flattened');
  });

  it('stores exactly the documents mimelog writes to NDJSON for the same events, so every engine holds the same ones', { timeout: 120_000 }, async () => {
    const os = node();
    const dir = tmp();
    const input = join(dir, 'in');
    mkdirSync(input);
    const events = takeEvents({ seed: 5, startMs: Date.UTC(2026, 4, 1) }, 450);
    writeFileSync(join(input, 'v1.log'), events.slice(0, 300).map((e) => toKeyValueLine(e)).join('\n'));
    // Other events than the API 1.0 lines: an API 2.0 copy of a stored event is a duplicate (issue 27), which NDJSON does not know.
    writeFileSync(join(input, 'v2.ndjson'), events.slice(300).map((e) => JSON.stringify(toV2Record(e, { shape: 'stream' }))).join('\n'));
    const res = await runCli(['ingest', '--db', join(dir, 's.db'), ...sinkArgs(os, 'same'), input]);
    assert.equal(res.code, 0, res.stderr);
    const written = await runCli(['ingest', '--sink', 'ndjson', '--dead-letter', join(dir, 'dead.ndjson'), input]);
    assert.equal(written.code, 0, written.stderr);
    const byId = new Map(lines(written.stdout).map((l) => { const doc = JSON.parse(l); return [doc.event.id as string, doc]; }));
    await os.request('POST', '/same-*/_refresh');
    const hits = (await os.request('POST', '/same-*/_search', { size: 1000, query: { match_all: {} } })).hits.hits as { _id: string; _source: unknown }[];
    assert.ok(hits.length >= 300, `only ${hits.length} documents`);
    assert.equal(hits.length, byId.size, 'one document per distinct event');
    for (const h of hits) assert.deepEqual(h._source, byId.get(h._id), `document ${h._id}`);
  });

  it('maps every field mimelog writes explicitly: the engine adds no field of its own outside mimecast.*', { timeout: 120_000 }, async () => {
    const os = node();
    const dir = tmp();
    const events = takeEvents({ seed: 7, startMs: Date.UTC(2026, 2, 1) }, 3000);
    writeFileSync(join(dir, 'v1.log'), events.map((e) => toKeyValueLine(e)).join('\n'));
    writeFileSync(join(dir, 'v2.ndjson'), events.slice(0, 1500).map((e) => JSON.stringify(toV2Record(e, { shape: 'batch', partition: 0, offset: 0 }))).join('\n'));
    const res = await runCli(['ingest', '--db', join(dir, 's.db'), ...sinkArgs(os, 'map'), dir]);
    assert.equal(res.code, 0, res.stderr);
    const mapping = await os.request('GET', '/map-*/_mapping');
    const explicit = new Set(ecsLeafMappings().keys());
    for (const [index, m] of Object.entries(mapping) as [string, any][]) {
      const leaves = mappedLeaves(m.mappings.properties);
      const outside = leaves.filter((f) => !f.startsWith('mimecast.') && !explicit.has(f));
      assert.deepEqual(outside, [], `${index}: fields mapped dynamically`);
      assert.equal(m.mappings.properties.email.properties.attachments.type, 'nested');
      assert.equal(m.mappings.properties.source.properties.ip.type, 'ip');
      assert.equal(m.mappings.properties['@timestamp'].type, 'date');
    }
    assert.equal(await os.count('map-*'), 4500 - (await duplicatesOf(join(dir, 's.db'))));
  });

  it('the API 2.0 feeds and Cloud Integrated through the engine: every record once, each feed\'s fields mapped explicitly outside mimecast.*', { timeout: 120_000 }, async () => {
    const os = node();
    const r = await startSimulator({ seed: 720, events: 300, v2: { feeds: { records: 200 }, cloudIntegrated: { messages: 100 } } });
    try {
      const db = join(r.dir, 's.db');
      const env = { MIMECAST_CLIENT_ID: r.info.v2Credentials.clientId, MIMECAST_CLIENT_SECRET: r.info.v2Credentials.clientSecret };
      const res = await runCli(['collect', '--api', 'v2', '--feeds', 'all', '--url', r.info.url, '--db', db, ...FAST, ...sinkArgs(os, 'feeds')], { env });
      assert.equal(res.code, 0, res.stderr.slice(-1500));
      const ci = await runCli(['collect', '--api', 'v2', '--product', 'ci', '--url', r.info.url, '--db', db, ...FAST, ...sinkArgs(os, 'feeds')], { env });
      assert.equal(ci.code, 0, ci.stderr.slice(-1500));
      const ciRecords = r.sim.v2.ciFiles.reduce((n, f) => n + f.records.length, 0);
      const mapping = await os.request('GET', '/feeds-*/_mapping');
      const explicit = new Set(ecsLeafMappings().keys());
      for (const [index, m] of Object.entries(mapping) as [string, any][]) {
        const outside = mappedLeaves(m.mappings.properties).filter((f) => !f.startsWith('mimecast.') && !explicit.has(f));
        assert.deepEqual(outside, [], `${index}: fields mapped dynamically`);
      }
      await os.request('POST', '/feeds-*/_refresh');
      assert.equal(await os.count('feeds-*'), FEEDS.length * 200 + ciRecords);
      const ciCount = await os.request('POST', '/feeds-*/_count', { query: { term: { 'event.dataset': 'mimecast.cloud_integrated_logs' } } });
      assert.equal(ciCount.count, ciRecords);
      const urlClicks = await os.request('POST', '/feeds-*/_count', { query: { term: { 'event.dataset': 'mimecast.ttp_url_logs' } } });
      assert.equal(urlClicks.count, 200, 'event.dataset names the feed');
    } finally {
      await r.sim.stop();
    }
  });

  it('--sink sqlite,<engine>: both hold every event, and stats says what the engine acknowledged', { timeout: 120_000 }, async () => {
    const os = node();
    const dir = tmp();
    const db = join(dir, 'both.db');
    const file = join(dir, 'in.log');
    writeFileSync(file, takeEvents({ seed: 12, startMs: Date.UTC(2026, 3, 2) }, 1500).map((e) => toKeyValueLine(e)).join('\n'));
    const args = sinkArgs(os, 'both');
    args[1] = `sqlite,${os.spec.sink}`;
    const run = await runCli(['ingest', '--db', db, ...args, file, '--summary', 'json']);
    assert.equal(run.code, 0, run.stderr);
    assert.equal(await os.count('both-*'), 1500);
    const stats = JSON.parse((await runCli(['stats', '--db', db, '--json'])).stdout);
    assert.equal(stats.events, 1500, 'the store kept the events too');
    assert.deepEqual(stats.destinations.map((d: Record<string, unknown>) => [d.destination, d.acknowledged, d.refused]), [[os.spec.sink, 1500, 0]]);
  });

  it('API 1.0 (part) → API 2.0 batch → stream, and the reverse: each event one document, its id one an API served (issue 27)', { timeout: 180_000 }, async () => {
    const os = node();
    const dir = tmp();
    const events = takeEvents({ seed: 27, startMs: Date.UTC(2026, 5, 1) }, 3000);
    const write = (name: string, files: [string, string][]) => {
      mkdirSync(join(dir, name));
      for (const [file, text] of files) writeFileSync(join(dir, name, file), text);
      return join(dir, name);
    };
    const prefix = new Map(LOG_TYPES.map((t) => [t.name, t.filePrefixes[0]!]));
    const v1 = (list: typeof events) => [...new Set(list.map((e) => e.logType))].map((type): [string, string] => [`${prefix.get(type)}20260601.log`, list.filter((e) => e.logType === type).map(toKeyValueLine).join('\n')]);
    const v2 = (list: typeof events, shape: 'batch' | 'stream'): [string, string][] => [[`${shape}.ndjson`, list.map((e, i) => JSON.stringify(toV2Record(e, { shape, partition: 1, offset: i }))).join('\n')]];
    const dirs = { v1Part: write('v1-part', v1(events.slice(0, 2000))), v1All: write('v1-all', v1(events)), batch: write('batch', v2(events, 'batch')), stream: write('stream', v2(events.slice(1500), 'stream')) };
    const ids = new Set<string>();
    for (const d of [dirs.v1All, dirs.batch]) {
      const written = await runCli(['ingest', '--sink', 'ndjson', '--dead-letter', join(dir, 'dead.ndjson'), d]);
      for (const l of lines(written.stdout)) ids.add(JSON.parse(l).event.id as string);
    }
    for (const [index, order] of [['handover-fwd', [dirs.v1Part, dirs.batch, dirs.stream]], ['handover-rev', [dirs.stream, dirs.batch, dirs.v1All]]] as const) {
      for (const d of [...order, ...order]) {
        const res = await runCli(['ingest', '--db', join(dir, `${index}.db`), ...sinkArgs(os, index), d]);
        assert.equal(res.code, 0, res.stderr);
      }
      await os.request('POST', `/${index}-*/_refresh`);
      const hits = (await os.request('POST', `/${index}-*/_search`, { size: 5000, _source: false, query: { match_all: {} } })).hits.hits as { _id: string }[];
      assert.equal(hits.length, events.length, `${index}: one document per event`);
      assert.deepEqual(hits.filter((h) => !ids.has(h._id)), [], `${index}: every document id is one an API served`);
    }
  });

  it('ingesting twice leaves the engine unchanged and counts the duplicates', { timeout: 120_000 }, async () => {
    const os = node();
    const dir = tmp();
    const db = join(dir, 's.db');
    const file = join(dir, 'in.log');
    writeFileSync(file, takeEvents({ seed: 11, startMs: Date.UTC(2026, 3, 1) }, 2000).map((e) => toKeyValueLine(e)).join('\n'));
    const first = await runCli(['ingest', '--db', db, ...sinkArgs(os, 'twice'), file, '--summary', 'json']);
    assert.equal(first.code, 0, first.stderr);
    const count = await os.count('twice-*');
    assert.equal(count, 2000);
    const second = await runCli(['ingest', '--db', db, ...sinkArgs(os, 'twice'), file, '--summary', 'json']);
    assert.equal(second.code, 0, second.stderr);
    assert.equal(await os.count('twice-*'), count);
    const summary = JSON.parse(second.stderr.trim().split('\n').pop()!);
    assert.equal(summary.stored, 0);
    assert.equal(summary.duplicates, 2000);
    const stats = JSON.parse((await runCli(['stats', '--db', db, '--json'])).stdout);
    assert.equal(stats.indexed, 2000);
    assert.equal(stats.duplicates, 2000);
    assert.equal(stats.events, 0); // the documents are in the engine, not in the local store
  });

  it('keeps both sides of a forged collision: one in the engine, one in the local collisions table', { timeout: 60_000 }, async () => {
    const os = node();
    const dir = tmp();
    const store = new Store(join(dir, 'c.db'));
    const client = new SearchClient({ urls: os.urls, auth: { kind: 'none' }, timeoutMs: 30_000 });
    const engine = await SearchDestination.open(client, {
      indexPattern: 'forged-{yyyy}.{MM}.{dd}', templateName: 'forged', maxDocs: 100, maxBytes: 1 << 20, concurrency: 2, retryBaseMs: 50, retryMaxMs: 500, giveUpMs: 30_000,
    }, quiet);
    const sink = new DeliveringSink(store, [engine], { keepEvents: false }, quiet);
    const a = await processInput('a.log', 'datetime=2017-05-26T16:47:41+0100|acc=C0A0|aCode=A|Subject=first');
    const b = await processInput('b.log', 'datetime=2017-05-26T16:47:41+0100|acc=C0A0|aCode=A|Subject=second');
    const forged = { ...b, events: [{ ...b.events[0]!, id: a.events[0]!.id }] };
    assert.deepEqual(await sink.write(a), { stored: 1, duplicates: 0, collisions: 0, deadLetters: 0 });
    assert.deepEqual(await sink.write(forged), { stored: 0, duplicates: 0, collisions: 1, deadLetters: 0 });
    assert.deepEqual(await sink.write(a), { stored: 0, duplicates: 1, collisions: 0, deadLetters: 0 });
    await sink.close();
    await os.request('POST', '/forged-*/_refresh');
    const hits = (await os.request('POST', '/forged-*/_search', { query: { match_all: {} } })).hits.hits;
    assert.equal(hits.length, 1);
    assert.equal(hits[0]._id, a.events[0]!.id);
    assert.equal(hits[0]._source.email.subject, 'first');
    const [c] = store.db.prepare('SELECT id, stored_doc, new_doc, new_original, stored_hash, new_hash FROM collisions').all() as Record<string, string>[];
    assert.equal(c!.id, a.events[0]!.id);
    assert.match(c!.stored_doc!, /"subject":"first"/);
    assert.match(c!.new_doc!, /"subject":"second"/);
    assert.match(c!.new_original!, /Subject=second/);
    assert.notEqual(c!.stored_hash, c!.new_hash);
    store.close();
  });

  it('dead-letters a document the engine rejects (mapping conflict), with the engine reason, and stores the rest', { timeout: 60_000 }, async () => {
    const os = node();
    const dir = tmp();
    const db = join(dir, 'm.db');
    // A user's index where email.subject is a number: a text subject cannot go in.
    await os.request('PUT', '/conflict-2024.03.01', { mappings: { properties: { email: { properties: { subject: { type: 'long' } } } } } });
    const file = join(dir, 'in.log');
    writeFileSync(file, [
      'datetime=2024-03-01T10:00:00+0000|aCode=a1|acc=C1|Subject=not a number|Sender=a@x.test|Rcpt=b@y.test|Act=Acc',
      'datetime=2024-03-01T11:00:00+0000|aCode=a2|acc=C1|Subject=12345|Sender=a@x.test|Rcpt=b@y.test|Act=Acc',
      'datetime=2024-03-02T10:00:00+0000|aCode=a3|acc=C1|Subject=next day|Sender=a@x.test|Rcpt=b@y.test|Act=Acc',
    ].join('\n'));
    const res = await runCli(['ingest', '--db', db, ...sinkArgs(os, 'conflict'), file]);
    assert.equal(res.code, 2, res.stderr);
    const dead = query<{ position: number; reason: string; raw: Buffer }>(db, 'SELECT position, reason, raw FROM dead_letters');
    assert.equal(dead.length, 1);
    assert.equal(dead[0]!.position, 1);
    assert.match(dead[0]!.reason, /conflict-2024\.03\.01 refused event .*(mapper|document)_parsing_exception/);
    assert.match(dead[0]!.raw.toString(), /Subject=not a number/);
    assert.equal(await os.count('conflict-*'), 2);
    // Replay goes to the engine, never into the local store, and only once the cause is gone.
    const intoStore = await runCli(['replay', '--db', db]);
    assert.equal(intoStore.code, 1);
    assert.match(intoStore.stderr, /keeps the bookkeeping of destinations outside it \(2 events delivered\): replay with the same --sink/);
    const replayArgs = ['replay', '--db', db, '--json', ...sinkArgs(os, 'conflict')];
    const stillRefused = await runCli(replayArgs);
    assert.equal(stillRefused.code, 2, stillRefused.stdout + stillRefused.stderr);
    assert.equal(JSON.parse(stillRefused.stdout).still_failing, 1);
    await os.request('DELETE', '/conflict-2024.03.01'); // the operator drops the conflicting index
    const replayed = await runCli(replayArgs);
    assert.equal(replayed.code, 0, replayed.stderr);
    assert.deepEqual(JSON.parse(replayed.stdout), { attempted: 1, recovered: 1, still_failing: 0, events_stored: 1, duplicates: 0 });
    assert.deepEqual(query(db, 'SELECT count(*) AS n FROM dead_letters'), [{ n: 0 }]);
    assert.deepEqual(query(db, 'SELECT count(*) AS n FROM events'), [{ n: 0 }]);
    assert.equal(await os.count('conflict-2024.03.01'), 1, 'recreated from the template; the replayed event is in it');
  });

  it('puts events around midnight in several time zones into the index of their UTC day; re-sending them creates nothing', { timeout: 60_000 }, async () => {
    const os = node();
    const dir = tmp();
    const db = join(dir, 'z.db');
    const line = (time: string, code: string) => `datetime=${time}|aCode=${code}|acc=C1|Subject=s|Sender=a@x.test|Rcpt=b@y.test|Act=Acc`;
    const cases: [string, string, string][] = [
      ['2024-12-31T23:59:59+0000', 'z1', 'zones-2024.12.31'],
      ['2025-01-01T00:30:00+0100', 'z2', 'zones-2024.12.31'], // 23:30 UTC the day before
      ['2024-12-31T20:00:00-0500', 'z3', 'zones-2025.01.01'], // 01:00 UTC the day after
      ['2025-01-01T05:29:59+0530', 'z4', 'zones-2024.12.31'], // 23:59:59 UTC
      ['2025-01-01T00:00:00+0000', 'z5', 'zones-2025.01.01'],
    ];
    writeFileSync(join(dir, 'a.log'), cases.map(([t, c]) => line(t, c)).join('\n'));
    // The same instants written with other offsets: the same events.
    const shifted = ['2025-01-01T00:59:59+0100', '2024-12-31T18:30:00-0500', '2025-01-01T01:00:00+0000', '2024-12-31T23:59:59+0000', '2025-01-01T09:00:00+0900'];
    writeFileSync(join(dir, 'b.log'), cases.map(([, c], i) => line(shifted[i]!, c)).join('\n'));
    assert.equal((await runCli(['ingest', '--db', db, ...sinkArgs(os, 'zones'), join(dir, 'a.log')])).code, 0);
    await os.request('POST', '/zones-*/_refresh');
    const hits = (await os.request('POST', '/zones-*/_search', { size: 10, query: { match_all: {} } })).hits.hits as any[];
    const placed = Object.fromEntries(hits.map((h) => [h._source.email.local_id, h._index]));
    assert.deepEqual(placed, Object.fromEntries(cases.map(([, c, index]) => [c, index])));
    const again = await runCli(['ingest', '--db', db, ...sinkArgs(os, 'zones'), join(dir, 'b.log'), '--summary', 'json']);
    assert.equal(again.code, 0, again.stderr);
    assert.equal(JSON.parse(again.stderr.trim().split('\n').pop()!).duplicates, 5);
    assert.equal(await os.count('zones-*'), 5);
  });
}

/** Kills of the collector while it delivers: the engine ends with exactly the expected event set. */
function killTests(_engine: Engine, node: () => EngineCluster): void {
  it('ends with exactly the expected event set after 20+ kill -9 of the collector delivering to the engine', { timeout: 600_000 }, async () => {
    const os = node();
    const r = await startSimulator({ seed: 606, events: 20_000, eventsPerFile: 200, faults: { enabled: ['429', '5xx', 'reset'], rate: 0.05, seed: 9 } });
    try {
      const db = join(r.dir, 'k.db');
      const args = ['collect', '--url', r.info.url, '--db', db, ...FAST, ...sinkArgs(os, 'killed')];
      const kills = await killWhileDelivering(args, { kills: 22, db, total: 20_000, seed: 8, env: r.env });
      assert.ok(kills >= 20, `only ${kills} kills landed`);
      const final = await runCli(args, { env: r.env });
      assert.equal(final.code, 0, final.stderr.slice(-2000));
      const expected = await expectedIds(r);
      assert.equal(expected.length, 20_000);
      assert.deepEqual(await os.ids('killed-*'), expected);
    } finally {
      await r.sim.stop();
    }
  });
}

async function duplicatesOf(db: string): Promise<number> {
  return JSON.parse((await runCli(['stats', '--db', db, '--json'])).stdout).duplicates as number;
}
