/**
 * The compact store keeps records, not documents: every document it returns (export, search,
 * the event page) must be byte for byte the one the pipeline made when the event was ingested,
 * for every shape of record mimelog reads; and a store written by the previous schema upgrades in
 * place with every row and document intact.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import Database from 'better-sqlite3';
import fc from 'fast-check';
import type { Unit } from '../../src/core/unit.js';
import { FEEDS } from '../../src/mimecast/feeds.js';
import { buildCiCatalog, ciFileBody } from '../../src/simulator/cloud-integrated.js';
import { FeedApi } from '../../src/simulator/feeds.js';
import { takeEvents, toKeyValueLine, toV1JsonFile, toV2Record } from '../../src/simulator/generate.js';
import { EXACT_TEXT_MATCHES, eventById, exportDocuments, search } from '../../src/store/queries.js';
import { MIGRATIONS } from '../../src/store/schema.js';
import { DictionaryReader } from '../../src/store/block-dictionaries.js';
import { EventWriter } from '../../src/store/event-rows.js';
import { prepareUnit } from '../../src/store/prepared.js';
import { packRecords, unpackRecords } from '../../src/store/record-blocks.js';
import { Store } from '../../src/store/store.js';
import { whoElse } from '../../src/store/who.js';
import { asSchema17 } from './older-schema.js';
import { SAMPLES, processInput, runCli, tempDir, transformer } from '../support/helpers.js';

/** The pipeline's documents of a unit, by id, with and without event.original. */
function pipelineDocs(units: Unit[]): Map<string, { withOriginal: string; without: string }> {
  const docs = new Map<string, { withOriginal: string; without: string }>();
  for (const u of units) {
    for (const e of u.events) {
      if (docs.has(e.id)) continue;
      const { original: _o, ...event } = e.doc.event as Record<string, unknown>;
      docs.set(e.id, { withOriginal: JSON.stringify(e.doc), without: JSON.stringify({ ...e.doc, event }) });
    }
  }
  return docs;
}

/** Stores the units, then checks export (both ways), search and the event page against the pipeline. */
function assertRoundTrip(dir: string, name: string, units: Unit[]): number {
  const store = new Store(join(dir, `${name}.db`));
  try {
    for (const u of units) store.writeUnit(u);
    const expected = pipelineDocs(units);
    const exported = [...exportDocuments(store.db, {}, true)];
    const bare = [...exportDocuments(store.db, {}, false)];
    assert.equal(exported.length, expected.size, `${name}: every event exported once`);
    const idOf = (doc: string) => (JSON.parse(doc) as { event: { id: string } }).event.id;
    for (const doc of exported) assert.equal(doc, expected.get(idOf(doc))?.withOriginal, `${name}: export is the pipeline's document`);
    for (const doc of bare) assert.equal(doc, expected.get(idOf(doc))?.without, `${name}: export --no-original`);
    for (const row of search(store.db, { limit: 1e9 })) {
      assert.equal(row.doc, expected.get(row.id)?.without, `${name}: search --json`);
      assert.equal(eventById(store.db, row.id)?.doc, expected.get(row.id)?.withOriginal, `${name}: the event page`);
    }
    return exported.length;
  } finally {
    store.close();
  }
}

describe('compact store: documents rebuilt from records', () => {
  it('returns byte-identical documents for every record shape mimelog reads', { timeout: 120_000 }, async () => {
    const dir = tempDir('compact');
    const start = Date.UTC(2026, 10, 1);
    const events = takeEvents({ seed: 41, startMs: start }, 1500);
    const corpora: Record<string, Unit[]> = {
      'mimecast-samples': [await processInput('understanding-siem-logs.kv', readFileSync(join(SAMPLES, 'understanding-siem-logs.kv')))],
      'key-value': [await processInput('mta.log', events.map(toKeyValueLine).join('\n'))],
      'v1-json-document': [await processInput('mta.json', toV1JsonFile(events.slice(0, 300)))],
      'v2-batch': [await processInput('v2.ndjson', events.slice(0, 500).map((e, i) => JSON.stringify(toV2Record(e, { shape: 'batch', partition: 0, offset: i }))).join('\n'))],
      'v2-stream': [await processInput('v2s.ndjson', events.slice(0, 500).map((e) => JSON.stringify(toV2Record(e, { shape: 'stream' }))).join('\n'))],
      'cloud-integrated': await Promise.all(buildCiCatalog(7, { messages: 200 }, start, start + 86_400_000).map((f) => processInput(`ci-${f.index}.ndjson`, ciFileBody(f)))),
      feeds: await Promise.all(FEEDS.map((f) => processInput(f.name, new FeedApi(8, { records: 60, startMs: start, now: () => start + 10 * 86_400_000 }).expectedRecords(f.name).map((r) => r.line).join('\n'), transformer().forFeed(f.name)))),
      // Bytes that are not UTF-8, a lone surrogate written as a JSON escape, text that looks like an escaped byte.
      hostile: [await processInput('odd.log', Buffer.concat([
        Buffer.from(`${toKeyValueLine(events[0]!)}|Note=`), Buffer.from([0xff, 0xfe, 0x41]), Buffer.from('\n'),
        Buffer.from(`{"timestamp":"1767225600000","type":"receipt","subject":"\\ud800 lone","senderAddress":"a@b.c"}\n`),
        Buffer.from(`datetime=2026-11-01T00:00:00+0000|acc=C0A0|Subject=\\udcff not a byte|Sender=x@y.z\n`),
      ]))],
    };
    for (const [name, units] of Object.entries(corpora)) {
      const n = assertRoundTrip(dir, name, units);
      assert.ok(n > 0, `${name}: has events`);
    }
  });

  it('holds for any key_value or JSON record (property)', { timeout: 120_000 }, async () => {
    const dir = tempDir('compact-prop');
    const text = fc.string({ unit: 'binary', maxLength: 40 }).filter((s) => !/[|\n\r=]/.test(s));
    const key = fc.constantFrom('Subject', 'Sender', 'Rcpt', 'MsgId', 'aCode', 'Act', 'IP', 'Dir', 'fileName', 'sha256', 'url', 'customThing', 'Attempt');
    let run = 0;
    await fc.assert(fc.asyncProperty(fc.array(fc.tuple(key, text), { minLength: 1, maxLength: 8 }), fc.boolean(), async (fields, asJson) => {
      const time = '2026-11-01T00:00:00+0000';
      const line = asJson
        ? JSON.stringify({ timestamp: '1761955200000', ...Object.fromEntries(fields) })
        : [`datetime=${time}`, ...new Map(fields).entries()].map((f) => (typeof f === 'string' ? f : `${f[0]}=${f[1]}`)).join('|');
      const unit = await processInput('p.log', line);
      if (unit.events.length === 0) return; // not a record (a dead letter is compared elsewhere)
      assertRoundTrip(dir, `p${run++}`, [unit]);
    }), { numRuns: 60 });
  });

  it('upgrades a store of the previous schema in place: every event, dead letter and collision survives with the same document', { timeout: 60_000 }, async () => {
    const dir = tempDir('compact-upgrade');
    const path = join(dir, 'old.db');
    const unit = await processInput('old.log', takeEvents({ seed: 43, startMs: Date.UTC(2026, 10, 2) }, 400).map(toKeyValueLine).join('\n'));
    const expected = pipelineDocs([unit]);
    // The previous schema, with rows as the previous mimelog wrote them.
    const old = new Database(path);
    for (const m of MIGRATIONS.slice(0, 8)) old.exec(m as string);
    old.pragma('user_version = 8');
    const insert = old.prepare(`INSERT INTO events (id, hash, ts, log_type, log_type_source, acode, message_id, sender, recipients, subject, direction, action, doc, original, source, position)
      VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`);
    const address = old.prepare('INSERT OR IGNORE INTO event_addresses (address, event, role) VALUES (?, ?, ?)');
    const seen = new Set<string>();
    for (const e of unit.events) {
      if (seen.has(e.id)) continue;
      seen.add(e.id);
      const email = (e.doc.email ?? {}) as { local_id?: string; message_id?: string; subject?: string; direction?: string; from?: { address?: string[] }; to?: { address?: string[] } };
      // One document an older mapping wrote differently: kept as it was.
      const doc = e === unit.events[0] ? expected.get(e.id)!.without.replace('"module":"mimecast"', '"module":"mimecast","legacy":true') : expected.get(e.id)!.without;
      const rowid = insert.run(e.id, e.hash, e.timeMs, e.classification.logType, e.classification.source, email.local_id ?? null, email.message_id ?? null,
        email.from?.address?.at(-1) ?? null, email.to?.address?.join(',') ?? null, email.subject ?? null, email.direction ?? null,
        ((e.doc.event as { action?: string }).action) ?? null, doc, e.raw, 'old.log', e.position).lastInsertRowid;
      for (const a of email.from?.address ?? []) address.run(a, rowid, 'from');
      for (const a of email.to?.address ?? []) address.run(a, rowid, 'to');
    }
    old.exec(`INSERT INTO events_fts (rowid, subject) SELECT rowid, subject FROM events WHERE subject IS NOT NULL;
      INSERT INTO event_counts (hour, log_type, type_source, events) SELECT ts / 3600000, log_type, log_type_source, count(*) FROM events GROUP BY 1, 2, 3;
      INSERT INTO dead_letters (source, position, reason, raw, raw_is_text, raw_digest, created_at) VALUES ('old.log', 9, 'bad', X'6e6f', 1, 'd', 1);
      INSERT INTO collisions (id, stored_hash, new_hash, stored_doc, new_doc, new_original, source, position, seen_at) VALUES ('c', 'a', 'b', '{}', '{}', 'x', 'old.log', 1, 1)`);
    old.close();

    const store = new Store(path);
    try {
      assert.equal(store.db.pragma('user_version', { simple: true }), MIGRATIONS.length);
      const docs = [...exportDocuments(store.db, {}, false)];
      assert.equal(docs.length, seen.size);
      const legacyId = unit.events[0]!.id;
      for (const doc of docs) {
        const id = (JSON.parse(doc) as { event: { id: string } }).event.id;
        const want = expected.get(id)!.without;
        assert.equal(doc, id === legacyId ? want.replace('"module":"mimecast"', '"module":"mimecast","legacy":true') : want);
      }
      assert.equal((store.db.prepare('SELECT count(*) AS n FROM events WHERE legacy_doc IS NOT NULL').get() as { n: number }).n, 1, 'only the document a rebuild would change is kept');
      assert.deepEqual(store.db.prepare('SELECT count(*) AS d, (SELECT count(*) FROM collisions) AS c FROM dead_letters').get(), { d: 1, c: 1 });
      // Indexes answer as before: by address, message id, words; who else received it.
      const e = unit.events.find((x) => (x.doc.email as { subject?: string } | undefined)?.subject)!;
      const email = e.doc.email as { message_id?: string; subject: string; to?: { address?: string[] } };
      assert.ok(search(store.db, { address: email.to!.address![0]!.toUpperCase() }).some((r) => r.id === e.id), 'addresses match without regard to case');
      assert.ok(search(store.db, { text: email.subject.split(' ')[0]! }).length > 0);
      if (email.message_id) assert.ok(search(store.db, { messageId: email.message_id }).some((r) => r.id === e.id));
      assert.ok(whoElse(store.db, e.id).messages.length > 0);
      // New events go on being stored beside the old ones; the old ones count as duplicates.
      assert.deepEqual(store.writeUnit(unit), { stored: 0, duplicates: unit.events.length, collisions: 0, deadLetters: 0 });
    } finally {
      store.close();
    }
  });

  it('mimelog check reads every record block and names one that is damaged or missing', { timeout: 60_000 }, async () => {
    const dir = tempDir('compact-check');
    const path = join(dir, 'c.db');
    const store = new Store(path);
    store.writeUnit(await processInput('c.log', takeEvents({ seed: 44, startMs: Date.UTC(2026, 10, 3) }, 300).map(toKeyValueLine).join('\n')));
    store.close();
    assert.equal((await runCli(['check', '--db', path])).code, 0);
    const raw = new Database(path);
    raw.exec("UPDATE record_blocks SET records = X'00ff' WHERE rowid = 1");
    raw.exec('DELETE FROM record_blocks WHERE rowid = 2');
    raw.close();
    const bad = await runCli(['check', '--db', path]);
    assert.equal(bad.code, 1);
    assert.match(bad.stderr, /record block 1 cannot be read/);
    assert.match(bad.stderr, /\d+ events point at record block 2, which is missing/);
  });

  it('deflates blocks against an earlier block of the same store: smaller, read back identical; blocks of schema 13 still read; a lost dictionary is named by check', { timeout: 60_000 }, async () => {
    const dir = tempDir('compact-dictionary');
    const path = join(dir, 'd.db');
    const lines = takeEvents({ seed: 45, startMs: Date.UTC(2026, 10, 4) }, 1200).map(toKeyValueLine);
    const [before, after] = [await processInput('before.log', lines.slice(0, 600).join('\n')), await processInput('after.log', lines.slice(600).join('\n'))];
    // A store as schema 13 left it: blocks deflated alone, no dictionaries.
    new Store(path).close();
    const old = new Database(path);
    asSchema17(old);
    old.exec('DROP TABLE record_dictionaries; ALTER TABLE record_blocks DROP COLUMN dictionary');
    old.pragma('user_version = 13');
    const writer = new EventWriter(old, { schema9: true });
    old.transaction(() => writer.insert(prepareUnit(before).events))();
    old.close();
    const store = new Store(path);
    try {
      store.writeUnit(after);
      const blocks = store.db.prepare('SELECT rowid, records, dictionary FROM record_blocks ORDER BY rowid').all() as { rowid: number; records: Buffer; dictionary: number | null }[];
      const plain = blocks.filter((b) => b.dictionary === null);
      const deflatedAgainst = blocks.filter((b) => b.dictionary !== null);
      assert.equal(plain.length, 5 + 1, 'the old blocks, and the first new one (there is no dictionary yet)');
      assert.ok(deflatedAgainst.length >= 3);
      // Each is smaller than the same records deflated alone.
      const dictionaries = new DictionaryReader(store.db);
      const withDictionary = deflatedAgainst.reduce((n, b) => n + b.records.length, 0);
      const alone = deflatedAgainst.reduce((n, b) => n + packRecords(unpackRecords(b.records, b.rowid, dictionaries.get(b.dictionary!))).length, 0);
      assert.ok(withDictionary < alone * 0.9, `${withDictionary} bytes against a dictionary, ${alone} alone`);
      // Every event of both writes reads back as the pipeline made it.
      const expected = pipelineDocs([before, after]);
      const exported = [...exportDocuments(store.db, {}, true)];
      assert.equal(exported.length, 1200);
      for (const doc of exported) assert.equal(doc, expected.get((JSON.parse(doc) as { event: { id: string } }).event.id)?.withOriginal);
    } finally {
      store.close();
    }
    assert.equal((await runCli(['check', '--db', path])).code, 0);
    const raw = new Database(path);
    raw.exec('DELETE FROM record_dictionaries');
    raw.close();
    const bad = await runCli(['check', '--db', path]);
    assert.equal(bad.code, 1);
    assert.match(bad.stderr, /record block \d+ cannot be read: the dictionary it was compressed with \(1\) is missing/);
  });

  it('search by words: exact time order for up to EXACT_TEXT_MATCHES matches, the most recently stored first beyond, and pages never overlap', { timeout: 120_000 }, async () => {
    const dir = tempDir('compact-words');
    const store = new Store(join(dir, 'w.db'));
    try {
      const line = (i: number, minute: number, subject: string) =>
        `datetime=${new Date(Date.UTC(2026, 10, 1) + minute * 60_000).toISOString().replace('.000Z', '+0000')}|acc=C0A0|aCode=A${i}|Sender=s${i}@x.example|Rcpt=r@y.example|Subject=${subject}`;
      const half = Math.ceil((EXACT_TEXT_MATCHES + 100) / 2);
      // Newer mail stored first, then a backfill of older mail: stored order is not time order.
      const newer = Array.from({ length: half }, (_, i) => line(i, 100_000 + i, i % 1000 === 0 ? 'invoice rare' : 'invoice'));
      const older = Array.from({ length: half }, (_, i) => line(half + i, i, i % 1000 === 0 ? 'invoice rare' : 'invoice'));
      store.writeUnit(await processInput('newer.log', newer.join('\n')));
      store.writeUnit(await processInput('older.log', older.join('\n')));
      // Few matches: newest first by time, across both writes.
      const rare = search(store.db, { text: 'rare', limit: 100 });
      assert.equal(rare.length, 2 * Math.ceil(half / 1000));
      assert.deepEqual(rare.map((r) => r.ts), rare.map((r) => r.ts).sort((a, b) => b - a));
      assert.ok(rare[0]!.ts > Date.UTC(2026, 10, 1) + 100_000 * 60_000 - 1);
      // Many matches: the most recently stored first (the backfill), page after page, each event once.
      const seen = new Set<number>();
      let before: { ts: number; rowid: number } | undefined;
      let lastRowid = Infinity;
      for (let page = 0; page < 5; page++) {
        const rows = search(store.db, { text: 'invoice', limit: 50, before });
        assert.equal(rows.length, 50);
        for (const r of rows) {
          assert.ok(r.rowid < lastRowid, 'in stored order, newest stored first');
          assert.ok(!seen.has(r.rowid), 'no event on two pages');
          seen.add(r.rowid);
          lastRowid = r.rowid;
          assert.ok(r.ts < Date.UTC(2026, 10, 1) + half * 60_000, 'from the backfill, stored last');
        }
        before = { ts: rows.at(-1)!.ts, rowid: rows.at(-1)!.rowid };
      }
      // Other filters still apply.
      assert.equal(search(store.db, { text: 'invoice', type: 'delivery', limit: 10 }).length, 0);
    } finally {
      store.close();
    }
  });
});
