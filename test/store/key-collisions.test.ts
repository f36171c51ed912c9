/**
 * Narrow text keys (schema 19) under collisions an attacker can forge (a 32-bit message-id key is
 * a birthday search of about 2^16 tries, a preimage of one about 2^32): every reader by key keeps
 * only the text asked for, pages stay full and in order, and a flood sharing a key costs time in
 * proportion to the flood, not its square.
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { textKey } from '../../src/store/documents.js';
import { exportDocuments, search } from '../../src/store/queries.js';
import { Store } from '../../src/store/store.js';
import { trace } from '../../src/store/trace.js';
import { whoElse } from '../../src/store/who.js';
import { processInput, tempDir } from '../support/helpers.js';

/** A receipt line as the bench corpus has them; `second` may run past a minute. */
function receipt(m: { acode: string; messageId: string; rcpt: string; second: number; sender?: string; subject?: string }): string {
  const sender = m.sender ?? 'ann@fabrikam.net';
  const time = `${String(Math.floor(m.second / 60) % 60).padStart(2, '0')}:${String(m.second % 60).padStart(2, '0')}`;
  return `datetime=2026-11-01T00:${time}+0000|acc=C0A0|aCode=${m.acode}|IP=138.118.128.201|Dir=Inbound|MsgId=${m.messageId}|Subject=\\${m.subject ?? 'Quarterly numbers'}\\|headerFrom=${sender}|Sender=${sender}|Rcpt=${m.rcpt}|SpamLimit=0|SpamInfo=[]|Act=Acc|TlsVer=TLSv1.2|Cphr=TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384|SpamScore=4`;
}

/** Two message ids whose 32-bit keys are equal (a birthday search). */
function sharingMessageKey(): [string, string] {
  const seen = new Map<bigint, string>();
  for (let n = 0; ; n++) {
    const text = `${n}.flood@adatum.de`;
    const other = seen.get(textKey('message-id', text));
    if (other !== undefined) return [other, text];
    seen.set(textKey('message-id', text), text);
  }
}

async function storeOf(name: string, lines: string[]): Promise<Store> {
  const store = new Store(join(tempDir(name), 's.db'));
  for (let i = 0; i < lines.length; i += 2000) store.writeUnit(await processInput(`m${i}.log`, lines.slice(i, i + 2000).join('\n')));
  return store;
}

describe('narrow keys under forged collisions', () => {
  const [asked, flood] = sharingMessageKey();

  it('export --message-id / --acode writes only the events of the text asked for, not those of another text with the same key', async () => {
    const store = await storeOf('export-key', [
      receipt({ acode: 'AcodeOfMessageA', messageId: `<${asked}>`, rcpt: 'carol@acme-corp.com', second: 1 }),
      receipt({ acode: 'AcodeOfMessageB', messageId: `<${flood}>`, rcpt: 'dave@acme-corp.com', second: 2 }),
    ]);
    try {
      store.db.prepare('UPDATE events SET acode_key = ? WHERE acode_key = ?').run(textKey('acode', 'AcodeOfMessageA'), textKey('acode', 'AcodeOfMessageB'));
      const acodes = (filter: { messageId?: string; acode?: string }) => [...exportDocuments(store.db, filter, false)].map((d) => (JSON.parse(d) as { email: { local_id: string } }).email.local_id);
      assert.deepEqual(acodes({ messageId: asked }), ['AcodeOfMessageA']);
      assert.deepEqual(acodes({ messageId: `<${flood}>` }), ['AcodeOfMessageB']);
      assert.deepEqual(acodes({ acode: 'AcodeOfMessageA' }), ['AcodeOfMessageA']);
    } finally {
      store.close();
    }
  });

  it('search --message-id under a flood of 2,000 newer events sharing the key: a page of one is found at once, and pages walk the rest without a gap or a repeat', async () => {
    const FLOOD = 2000;
    const lines = [receipt({ acode: 'AcodeOfMessageA0', messageId: `<${asked}>`, rcpt: 'carol@acme-corp.com', second: 0 })];
    for (let i = 1; i <= FLOOD; i++) {
      lines.push(receipt({ acode: `AcodeOfFlood${i}`, messageId: `<${flood}>`, rcpt: `u${i}@acme-corp.com`, second: 100 + (i % 500) }));
      // Now and then one of the asked message, older than the whole flood (every page of it is read past the flood).
      if (i % 500 === 0) lines.push(receipt({ acode: `AcodeOfMessageA${i}`, messageId: `<${asked}>`, rcpt: 'carol@acme-corp.com', second: i / 500 }));
    }
    const store = await storeOf('flood-key', lines);
    try {
      const started = process.hrtime.bigint();
      const first = search(store.db, { messageId: asked, limit: 1 });
      const ms = Number(process.hrtime.bigint() - started) / 1e6;
      assert.equal(first.length, 1);
      // Reading the page again for each event dropped took seconds here (the key's 2,000 events sorted 2,000 times).
      assert.ok(ms < 2000, `a page of one under the flood took ${ms.toFixed(0)} ms`);
      const all = search(store.db, { messageId: asked, limit: 50 }).map((r) => r.acode);
      assert.equal(all.length, 5);
      const paged: (string | null)[] = [];
      for (let page = search(store.db, { messageId: asked, limit: 2 }); page.length > 0;) {
        paged.push(...page.map((r) => r.acode));
        const last = page[page.length - 1]!;
        page = search(store.db, { messageId: asked, limit: 2, before: { ts: last.ts, rowid: last.rowid } });
      }
      assert.deepEqual(paged, all);
      // trace reads the key's 2,005 events a page at a time (EventReader.byKeyedText): the asked message's five, across pages, and none of the flood.
      const traced = trace(store.db, asked);
      assert.equal(traced.matched_by, 'message_id');
      assert.deepEqual(traced.acodes.slice().sort(), all.slice().sort());
      assert.equal(traced.steps.length, 5);
    } finally {
      store.close();
    }
  });

  it('export --message-id over 2,500 events sharing the key: every event of the message in time order (stored order breaking ties), none of the other text', async () => {
    const lines: string[] = [];
    const expected: { acode: string; second: number; at: number }[] = [];
    for (let i = 0; i < 2100; i++) {
      // Times in no stored order, many shared (2,100 events over 600 seconds): ties go by stored order.
      const second = (i * 7919) % 600;
      expected.push({ acode: `AcodeOfMessageA${i}`, second, at: lines.length });
      lines.push(receipt({ acode: `AcodeOfMessageA${i}`, messageId: `<${asked}>`, rcpt: 'carol@acme-corp.com', second }));
      if (i % 5 === 0) lines.push(receipt({ acode: `AcodeOfFlood${i}`, messageId: `<${flood}>`, rcpt: `u${i}@acme-corp.com`, second: (i * 31) % 600 }));
    }
    const store = await storeOf('export-flood', lines);
    try {
      expected.sort((a, b) => a.second - b.second || a.at - b.at);
      const exported = [...exportDocuments(store.db, { messageId: asked }, false)].map((d) => (JSON.parse(d) as { email: { local_id: string } }).email.local_id);
      assert.equal(exported.length, 2100, 'every event of the message, none of the 420 of the other text');
      assert.deepEqual(exported, expected.map((e) => e.acode));
      assert.deepEqual(store.db.prepare("SELECT name FROM temp.sqlite_master WHERE name LIKE 'export_order%'").all(), [], 'the export leaves no table behind');
    } finally {
      store.close();
    }
  });

  it('a message id in more than one pair of <>: who-else and trace find it as search does', async () => {
    const store = await storeOf('bracketed', [
      receipt({ acode: 'AcodeOfMessageA', messageId: '<<x@adatum.de>>', rcpt: 'carol@acme-corp.com', second: 1, sender: 'ann@fabrikam.net' }),
      receipt({ acode: 'AcodeOfMessageB', messageId: '<y@adatum.de>>', rcpt: 'dave@acme-corp.com', second: 2, sender: 'bob@tailspin.co.uk' }),
    ]);
    try {
      for (const [id, rcpt] of [['<<x@adatum.de>>', 'carol@acme-corp.com'], ['<y@adatum.de>>', 'dave@acme-corp.com']] as const) {
        assert.deepEqual(search(store.db, { messageId: id }).map((r) => r.recipients), [rcpt]);
        assert.deepEqual(whoElse(store.db, id, undefined, { by: ['sender'] }).recipients.map((r) => r.address), [rcpt]);
        const t = trace(store.db, id);
        assert.deepEqual([t.matched_by, t.message_ids], ['message_id', [id]]);
      }
    } finally {
      store.close();
    }
  });
  it('who-else by subject under 2,001 newer mails of other subjects holding its words and sharing its 8-bit key: the other message of the same subject is still found', async () => {
    const subject = 'Invoice 4471 overdue';
    const lines = [
      receipt({ acode: 'AcodeOfMessageA', messageId: '<a@adatum.de>', rcpt: 'carol@acme-corp.com', second: 1, sender: 'ann@fabrikam.net', subject }),
      receipt({ acode: 'AcodeOfMessageC', messageId: '<c@adatum.de>', rcpt: 'frank@acme-corp.com', second: 2, sender: 'eve@contoso.com', subject }),
    ];
    // One subject in 256 holding the words shares the key: about 500,000 tries for 2,001 of them.
    for (let n = 0, made = 0; made <= 2000; n++) {
      const other = `${subject} ${n}`;
      if (textKey('subject', other) !== textKey('subject', subject)) continue;
      lines.push(receipt({ acode: `AcodeOfFlood${made}`, messageId: `<f${made}@tailspin.co.uk>`, rcpt: `u${made}@acme-corp.com`, second: 100 + (made % 500), sender: `s${made}@tailspin.co.uk`, subject: other }));
      made++;
    }
    const store = await storeOf('subject-flood', lines);
    try {
      const who = whoElse(store.db, 'AcodeOfMessageA', undefined, { by: ['subject'] });
      assert.deepEqual(who.messages.map((m) => m.acode).sort(), ['AcodeOfMessageA', 'AcodeOfMessageC']);
      assert.equal(who.truncated, false, 'every event of the subject was read');
    } finally {
      store.close();
    }
  });
});
