/**
 * Schema 19 (issue 31): the aCode, message-id and subject keys narrowed to 32, 32 and 8 bits
 * (documents.ts KEY_BITS). A store of schema 18 upgrades in place and answers as before; a key two
 * texts share finds both, and every reader keeps only the events of the text asked for.
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import Database from 'better-sqlite3';
import { takeEvents, toKeyValueLine } from '../../src/simulator/generate.js';
import { textKey, wideTextKey } from '../../src/store/documents.js';
import { search } from '../../src/store/queries.js';
import { DamagedBlocks } from '../../src/store/record-blocks.js';
import { Store } from '../../src/store/store.js';
import { threats } from '../../src/store/threats.js';
import { trace } from '../../src/store/trace.js';
import { whoElse } from '../../src/store/who.js';
import { processInput, tempDir } from '../support/helpers.js';
import { asSchema18 } from './older-schema.js';

/** A receipt line as the bench corpus has them. */
function receipt(m: { acode: string; messageId: string; subject: string; sender: string; rcpt: string; second: number }): string {
  return `datetime=2026-11-01T00:00:${String(m.second).padStart(2, '0')}+0000|acc=C0A0|aCode=${m.acode}|IP=138.118.128.201|Dir=Inbound|MsgId=<${m.messageId}>|Subject=\\${m.subject}\\|headerFrom=${m.sender}|Sender=${m.sender}|Rcpt=${m.rcpt}|SpamLimit=0|SpamInfo=[]|Act=Acc|TlsVer=TLSv1.2|Cphr=TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384|SpamScore=4`;
}

/** Two texts of `make(n)` whose keys of `kind` are equal (a birthday search: about 2^(bits/2) tries). */
function sharingKey(kind: 'message-id', make: (n: number) => string): [string, string] {
  const seen = new Map<bigint, string>();
  for (let n = 0; ; n++) {
    const text = make(n);
    const key = textKey(kind, text);
    const other = seen.get(key);
    if (other !== undefined) return [other, text];
    seen.set(key, text);
  }
}

async function storeOf(name: string, lines: string[]): Promise<Store> {
  const store = new Store(join(tempDir(name), 's.db'));
  store.writeUnit(await processInput('m.log', lines.join('\n')));
  return store;
}

const acodesOf = (rows: { acode: string | null }[]) => [...new Set(rows.map((r) => r.acode))].sort();

describe('narrow text keys (schema 19)', () => {
  it('a store of schema 18 upgrades in place: its 64-bit keys shifted to 32, 32 and 8 bits, and trace, who-else, search and threats answer as before', async () => {
    const path = join(tempDir('schema-19'), 's.db');
    const first = new Store(path);
    first.writeUnit(await processInput('v1.log', takeEvents({ seed: 19, startMs: Date.UTC(2026, 5, 1) }, 1500).map(toKeyValueLine).join('\n')));
    first.close();
    const raw = new Database(path);
    const newest = search(raw, { limit: 40 });
    const sample = newest.flatMap((r) => [r.message_id, r.acode]).filter((q): q is string => q !== null);
    const ask = (db: Database.Database) => ({
      traces: sample.slice(0, 20).map((q) => trace(db, q)),
      who: sample.slice(0, 6).map((q) => whoElse(db, q)),
      byKey: newest.slice(0, 10).map((r) => [search(db, { acode: r.acode ?? undefined, limit: 20 }), search(db, { messageId: r.message_id ?? undefined, limit: 20 })].map((rows) => rows.map((x) => x.id))),
      threats: threats(db),
    });
    const expected = ask(raw);
    assert.ok(expected.traces.every((t) => t.steps.length > 0) && expected.threats.top_held_senders.length > 0);
    asSchema18(raw);
    const wide = raw.prepare('SELECT count(*) FROM events WHERE abs(message_key) > 2147483648').pluck().get() as number;
    assert.ok(wide > 100, 'schema 18 kept 64-bit keys');
    assert.ok((raw.prepare("SELECT code FROM names WHERE name = 'fields'").pluck().get() as number) > 0);
    raw.close();
    const store = new Store(path);
    try {
      // Each key is its text's key as this mimelog makes it: every stored event's texts, looked up again.
      const keys = store.db.prepare('SELECT rowid, acode_key, message_key, subject_key FROM events').safeIntegers(true).all() as { rowid: bigint; acode_key: bigint | null; message_key: bigint | null; subject_key: bigint | null }[];
      const byRowid = new Map(keys.map((k) => [Number(k.rowid), k]));
      for (const r of search(store.db, { limit: 2000 })) {
        const k = byRowid.get(r.rowid)!;
        assert.equal(k.acode_key, r.acode === null ? null : textKey('acode', r.acode));
        assert.equal(k.message_key, r.message_id === null ? null : textKey('message-id', r.message_id.replace(/^<|>$/g, '')));
        assert.equal(k.subject_key, r.subject === null ? null : textKey('subject', r.subject));
      }
      assert.deepEqual(ask(store.db), expected);
      // 'fields' (how every line here had its type decided) is code 0, which SQLite keeps in no bytes.
      assert.equal(store.db.prepare("SELECT code FROM names WHERE name = 'fields'").pluck().get(), 0);
      assert.deepEqual(store.db.prepare('SELECT DISTINCT type_source FROM events').pluck().all(), [0]);
      const objects = store.db.prepare("SELECT name, sql FROM sqlite_schema WHERE tbl_name = 'events' AND type = 'index' ORDER BY name").all() as { name: string; sql: string }[];
      assert.deepEqual(objects.map((o) => o.name), ['events_acode', 'events_id', 'events_message', 'events_ts']);
      assert.match(objects[1]!.sql, /substr\(id, 1, 4\)/, 'the id\'s index keeps its first 4 bytes');
      const again = store.writeUnit(await processInput('v1.log', takeEvents({ seed: 19, startMs: Date.UTC(2026, 5, 1) }, 1500).map(toKeyValueLine).join('\n')));
      assert.deepEqual([again.stored, again.collisions], [0, 0], 'every id found again through the new index');
      assert.equal(store.db.pragma('freelist_count', { simple: true }), 0, 'the old table\'s pages are given back to the file system');
    } finally {
      store.close();
    }
  });

  it('narrows each key to its first bits: the 64-bit key shifted right, in 4, 4 and 1 bytes', () => {
    for (const text of ['a', 'qnJOrzSCEnYHLVa6kANRx9', 'fc4464ad4e105cb6.1@adatum.de']) {
      assert.equal(textKey('acode', text), wideTextKey('acode', text) >> 32n);
      assert.equal(textKey('message-id', text), wideTextKey('message-id', text) >> 32n);
      assert.equal(textKey('subject', text), wideTextKey('subject', text) >> 56n);
      assert.equal(textKey('indicator', text), wideTextKey('indicator', text));
    }
    assert.ok(Array.from({ length: 200 }, (_, i) => textKey('message-id', `m${i}`)).every((k) => k >= -(2n ** 31n) && k < 2n ** 31n));
  });

  it('two message ids that share their 32-bit key: trace, who-else and search --message-id each find only the one asked for', async () => {
    const [a, b] = sharingKey('message-id', (n) => `${n}.shared@adatum.de`);
    assert.equal(textKey('message-id', a), textKey('message-id', b));
    const store = await storeOf('message-key', [
      receipt({ acode: 'AcodeOfMessageA', messageId: a, subject: 'Quarterly numbers', sender: 'ann@fabrikam.net', rcpt: 'carol@acme-corp.com', second: 1 }),
      receipt({ acode: 'AcodeOfMessageB', messageId: b, subject: 'Lunch on Friday', sender: 'bob@tailspin.co.uk', rcpt: 'dave@acme-corp.com', second: 2 }),
    ]);
    try {
      assert.equal(store.db.prepare('SELECT count(DISTINCT message_key) FROM events').pluck().get(), 1, 'one key for both');
      for (const [id, acode, rcpt] of [[a, 'AcodeOfMessageA', 'carol@acme-corp.com'], [b, 'AcodeOfMessageB', 'dave@acme-corp.com']] as const) {
        const t = trace(store.db, `<${id}>`);
        assert.equal(t.matched_by, 'message_id');
        assert.deepEqual([t.acodes, t.message_ids], [[acode], [`<${id}>`]]);
        assert.deepEqual(whoElse(store.db, id).recipients.map((r) => r.address), [rcpt]);
        assert.deepEqual(acodesOf(search(store.db, { messageId: id, limit: 1 })), [acode], 'a page of one holds the event asked for');
      }
    } finally {
      store.close();
    }
  });

  it('an event whose aCode key is another aCode\'s (what a shared 32-bit key looks like): trace, who-else and search --acode leave it out', async () => {
    const store = await storeOf('acode-key', [
      receipt({ acode: 'AcodeOfMessageA', messageId: 'a@adatum.de', subject: 'Quarterly numbers', sender: 'ann@fabrikam.net', rcpt: 'carol@acme-corp.com', second: 1 }),
      receipt({ acode: 'AcodeOfMessageB', messageId: 'b@adatum.de', subject: 'Lunch on Friday', sender: 'bob@tailspin.co.uk', rcpt: 'dave@acme-corp.com', second: 2 }),
    ]);
    try {
      // B's row, newer than A's, carries A's key: search --acode's first page of one reads B first.
      store.db.prepare('UPDATE events SET acode_key = ? WHERE acode_key = ?').run(textKey('acode', 'AcodeOfMessageA'), textKey('acode', 'AcodeOfMessageB'));
      const t = trace(store.db, 'AcodeOfMessageA');
      assert.equal(t.matched_by, 'acode');
      assert.deepEqual([t.acodes, t.message_ids], [['AcodeOfMessageA'], ['<a@adatum.de>']]);
      assert.deepEqual(whoElse(store.db, 'AcodeOfMessageA').recipients.map((r) => r.address), ['carol@acme-corp.com']);
      assert.deepEqual(acodesOf(search(store.db, { acode: 'AcodeOfMessageA', limit: 1 })), ['AcodeOfMessageA']);
      assert.deepEqual(search(store.db, { acode: 'AcodeOfMessageB' }), []);
    } finally {
      store.close();
    }
  });

  it('a held message and a receipt of another message that share the aCode key: the threat questions take the sender from the receipt of the same message id', async () => {
    const held = (acode: string, messageId: string) => `datetime=2026-11-01T00:00:05+0000|acc=C0A0|aCode=${acode}|AttSize=0|Act=Hld|AttCnt=0|AttNames=|MsgSize=691242|MsgId=<${messageId}>|Hld=Spm|IPNewDomain=false|IPReplyMismatch=false|IPInternalName=false|IPThreadDict=false|IPSimilarDomain=false`;
    const store = await storeOf('threat-key', [
      receipt({ acode: 'AcodeOfMessageA', messageId: 'a@adatum.de', subject: 'Quarterly numbers', sender: 'ann@fabrikam.net', rcpt: 'carol@acme-corp.com', second: 1 }),
      receipt({ acode: 'AcodeOfMessageB', messageId: 'b@adatum.de', subject: 'Lunch on Friday', sender: 'bob@tailspin.co.uk', rcpt: 'dave@acme-corp.com', second: 2 }),
      held('AcodeOfMessageA', 'a@adatum.de'),
    ]);
    try {
      assert.deepEqual(threats(store.db).top_held_senders, [{ address: 'ann@fabrikam.net', messages: 1 }]);
      store.db.prepare('UPDATE events SET acode_key = ? WHERE acode_key = ?').run(textKey('acode', 'AcodeOfMessageA'), textKey('acode', 'AcodeOfMessageB'));
      assert.deepEqual(threats(store.db).top_held_senders, [{ address: 'ann@fabrikam.net', messages: 1 }], 'not bob\'s too');
    } finally {
      store.close();
    }
  });

  it('a damaged block under events a key finds: trace and search --message-id / --acode answer with the others and note it; a page still fills', async () => {
    const store = new Store(join(tempDir('damaged-key'), 's.db'));
    try {
      const line = (second: number, rcpt: string) => receipt({ acode: 'AcodeOfMessageA', messageId: 'a@adatum.de', subject: 'Quarterly numbers', sender: 'ann@fabrikam.net', rcpt, second });
      // Two units, two blocks: the newer event alone in the first.
      store.writeUnit(await processInput('a.log', line(9, 'carol@acme-corp.com')));
      store.writeUnit(await processInput('b.log', line(1, 'dave@acme-corp.com')));
      const newest = store.db.prepare('SELECT block FROM events ORDER BY ts DESC LIMIT 1').pluck().get() as number;
      store.db.prepare("UPDATE record_blocks SET records = X'deadbeef00112233' WHERE rowid = ?").run(newest);
      const damaged = new DamagedBlocks();
      const t = trace(store.db, 'a@adatum.de', damaged);
      const older = store.db.prepare('SELECT lower(hex(id)) FROM events WHERE block <> ?').pluck().get(newest) as string;
      assert.deepEqual([t.matched_by, t.steps.map((x) => x.id), [...damaged.blocks.keys()]], ['message_id', [older], [newest]]);
      for (const filter of [{ messageId: '<a@adatum.de>' }, { acode: 'AcodeOfMessageA' }]) {
        const noted = new DamagedBlocks();
        const rows = search(store.db, { ...filter, limit: 1 }, noted);
        assert.deepEqual([rows.map((r) => r.recipients), noted.skippedEvents, [...noted.blocks.keys()]], [['dave@acme-corp.com'], 1, [newest]]);
      }
    } finally {
      store.close();
    }
  });

  it('two subjects that share their 8-bit key, one holding the other\'s words: who-else by subject matches the same subject only', async () => {
    const a = 'Invoice 4471 overdue';
    // A subject holding a's words and a word more, with a's key: about 2^8 tries.
    let n = 0;
    while (textKey('subject', `${a} ${n}`) !== textKey('subject', a)) n++;
    const b = `${a} ${n}`;
    const store = await storeOf('subject-key', [
      receipt({ acode: 'AcodeOfMessageA', messageId: 'a@adatum.de', subject: a, sender: 'ann@fabrikam.net', rcpt: 'carol@acme-corp.com', second: 1 }),
      receipt({ acode: 'AcodeOfMessageB', messageId: 'b@adatum.de', subject: b, sender: 'bob@tailspin.co.uk', rcpt: 'dave@acme-corp.com', second: 2 }),
      receipt({ acode: 'AcodeOfMessageC', messageId: 'c@adatum.de', subject: a, sender: 'eve@contoso.com', rcpt: 'frank@acme-corp.com', second: 3 }),
    ]);
    try {
      const who = whoElse(store.db, 'AcodeOfMessageA', undefined, { by: ['subject'] });
      assert.deepEqual(who.messages.map((m) => m.acode).sort(), ['AcodeOfMessageA', 'AcodeOfMessageC'], 'the reported message and the other of its subject, not the one of a subject with a word more');
    } finally {
      store.close();
    }
  });
});
