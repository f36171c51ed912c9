/**
 * `mimelog export` with a filter found through an index without time (message id, aCode, address,
 * words): the events are sorted once, then read a page at a time (queries.ts pagesSortedOnce).
 * Through the CLI, on its read-only connection, over more than two pages: the same events in time
 * order, stored order breaking ties, as with no such filter.
 */
import assert from 'node:assert/strict';
import { rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { runCli, tempDir } from '../support/helpers.js';

const EVENTS = 2600;
/** Times in no stored order and many shared (2,600 events over 600 seconds). */
const secondOf = (i: number) => (i * 7919) % 600;
const clock = (second: number) => `${String(Math.floor(second / 60)).padStart(2, '0')}:${String(second % 60).padStart(2, '0')}`;
/** Every other event is to carol, about Invoices, of message <a@adatum.de>; the rest to dave, about Minutes, of <b@adatum.de>. */
const toCarol = (i: number) => i % 2 === 0;
const line = (i: number) => {
  const [rcpt, subject, message] = toCarol(i) ? ['carol@acme-corp.com', 'Invoices due', 'a'] : ['dave@acme-corp.com', 'Minutes attached', 'b'];
  return `datetime=2026-11-01T00:${clock(secondOf(i))}+0000|acc=C0A0|aCode=Acode${i}|IP=138.118.128.201|Dir=Inbound|MsgId=<${message}@adatum.de>|Subject=\\${subject}\\|Sender=ann@fabrikam.net|Rcpt=${rcpt}|Act=Acc`;
};

describe('export in time order through an index without time', () => {
  const dir = tempDir('mimelog-export-order-');
  after(() => rmSync(dir, { recursive: true, force: true }));
  const db = join(dir, 's.db');
  /** The aCodes `mimelog export` writes with these flags. */
  const exported = async (flags: string[]) => {
    const res = await runCli(['export', '--db', db, '--no-original', ...flags]);
    assert.equal(res.code, 0, res.stderr);
    return res.stdout.split('\n').filter(Boolean).map((l) => (JSON.parse(l) as { email: { local_id: string } }).email.local_id);
  };

  it("by message id, aCode, address or words: carol's events, every one, in time order (stored order breaking ties), as the export of all has them", async () => {
    writeFileSync(join(dir, 'in.log'), `${Array.from({ length: EVENTS }, (_, i) => line(i)).join('\n')}\n`);
    assert.equal((await runCli(['ingest', '--db', db, join(dir, 'in.log'), '--summary', 'none'])).code, 0);
    const inTimeOrder = Array.from({ length: EVENTS }, (_, i) => i).sort((a, b) => secondOf(a) - secondOf(b) || a - b);
    const all = await exported([]);
    assert.deepEqual(all, inTimeOrder.map((i) => `Acode${i}`), 'the export of all, by time and then stored order');
    const carols = inTimeOrder.filter(toCarol).map((i) => `Acode${i}`);
    for (const flags of [['--message-id', 'a@adatum.de'], ['--address', 'carol@acme-corp.com'], ['--text', 'invoices']]) {
      assert.deepEqual(await exported(flags), carols, flags.join(' '));
    }
    assert.deepEqual(await exported(['--acode', 'Acode42']), ['Acode42']);
    assert.deepEqual(await exported(['--message-id', 'a@adatum.de', '--from', '2026-11-01T00:05:00Z']), carols.filter((a) => secondOf(Number(a.slice(5))) >= 300), 'with a time range too');
  });
});
