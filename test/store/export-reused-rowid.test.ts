/**
 * An export by an address or words reads the events it sorted once (queries.ts pagesSortedOnce)
 * a page at a time, by their rowid. Between its pages the store goes on: retention removes events
 * and a new event may take the rowid of one removed (the events' rowid is no AUTOINCREMENT: the
 * highest one removed is given again). That event is not one the export selected: it never appears.
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { exportDocuments } from '../../src/store/queries.js';
import { retain } from '../../src/store/retention.js';
import { Store } from '../../src/store/store.js';
import { processInput, tempDir } from '../support/helpers.js';

const line = (i: number, date: string, rcpt: string) =>
  `datetime=${date}T00:00:${String(i % 60).padStart(2, '0')}+0000|acc=C0A0|aCode=Acode${i}|IP=138.118.128.201|Dir=Inbound|MsgId=<m${i}@adatum.de>|Subject=\\Invoices\\|Sender=ann@fabrikam.net|Rcpt=${rcpt}|Act=Acc`;

describe('an export by address while retention removes events and new ones are stored', () => {
  it("an event stored under the rowid of one the export selected (and retention removed) is not exported: only carol's events", async () => {
    const store = new Store(join(tempDir('export-rowid'), 's.db'));
    try {
      // 1,000 of carol's events of 2020 (the export's first page), 500 of 2026, and last one more of 2020 (the highest rowid).
      const lines = [...Array.from({ length: 1000 }, (_, i) => line(i, '2020-01-01', 'carol@acme-corp.com')), ...Array.from({ length: 500 }, (_, i) => line(1000 + i, '2026-11-01', 'carol@acme-corp.com')), line(1500, '2020-06-01', 'carol@acme-corp.com')];
      store.writeUnit(await processInput('a.log', `${lines.join('\n')}\n`));
      const exported: string[] = [];
      const documents = exportDocuments(store.db, { address: 'carol@acme-corp.com' }, false);
      for (let n = 0; n < 1000; n++) exported.push(documents.next().value as string); // the first page read
      // Meanwhile: retention removes 2020 (the rest of the first page, and the one in the second page), and dave's event is stored.
      const removed = await retain(store.db, 365, { now: Date.parse('2026-12-01T00:00:00Z') });
      assert.equal(removed.eventsRemoved, 1001);
      store.writeUnit(await processInput('b.log', `${line(9999, '2026-11-02', 'dave@acme-corp.com')}\n`));
      for (let d = documents.next(); !d.done; d = documents.next()) exported.push(d.value);
      const rcpts = exported.map((text) => (JSON.parse(text) as { email: { local_id: string; to: { address: string[] } } }).email);
      assert.deepEqual(rcpts.filter((e) => !e.to.address.includes('carol@acme-corp.com')).map((e) => e.local_id), [], 'none of dave\'s');
      assert.equal(exported.length, 1500, "carol's 1,000 read before and her 500 of 2026");
    } finally {
      store.close();
    }
  });
});
