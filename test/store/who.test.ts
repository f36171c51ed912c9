/**
 * "Who else received it?" against generated campaigns, the answer key: exactly the campaign's
 * recipients, each with what happened to it, whatever message, aCode or event it starts from,
 * and never a recipient of another campaign or of ordinary mail.
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { type Campaign, generateCampaign, takeEvents, toKeyValueLine } from '../../src/simulator/generate.js';
import { search } from '../../src/store/queries.js';
import { Store } from '../../src/store/store.js';
import { whoElse } from '../../src/store/who.js';
import { processInput, runCli, tempDir } from '../support/helpers.js';

const START = Date.UTC(2026, 10, 20);
/**
 * The seed of the ordinary mail around the campaigns. A campaign generated from the same seed draws
 * the same random values, aCodes included, so its messages would share aCodes with ordinary mail:
 * a collision Mimecast never makes. Campaign seeds are therefore never this one.
 */
const NOISE_SEED = 3;

async function storeWith(dir: string, name: string, campaigns: Campaign[], noise = 600): Promise<Store> {
  const store = new Store(join(dir, `${name}.db`));
  const lines = [...takeEvents({ seed: NOISE_SEED, startMs: START }, noise), ...campaigns.flatMap((c) => c.events)].map(toKeyValueLine);
  store.writeUnit(await processInput(`${name}.log`, lines.join('\n')));
  return store;
}

function expected(c: Campaign): [string, string][] {
  return [...c.recipients].sort((a, b) => a.address.localeCompare(b.address))
    .map((r) => [r.address, r.outcome === 'delivered' ? (r.clicked ? 'delivered,clicked' : 'delivered') : r.outcome]);
}

/** The recipients and their statuses, by address (the answer itself ranks them by how specific their match is). */
const answer = (store: Store, q: string) => whoElse(store.db, q).recipients.map((r) => [r.address, r.statuses.join(',')]).sort(([a], [b]) => a!.localeCompare(b!));

describe('who else received it', () => {
  it('finds exactly each campaign\'s recipients from any of its messages, by aCode, message id or event id', async () => {
    const dir = tempDir('who');
    const a = generateCampaign({ seed: 1, startMs: START + 3_600_000, recipients: 25 });
    const b = generateCampaign({ seed: 2, startMs: START + 3_600_000, recipients: 15 });
    const store = await storeWith(dir, 'two', [a, b]);
    try {
      for (const c of [a, b]) {
        for (const r of c.recipients) assert.deepEqual(answer(store, r.acode), expected(c), `from ${r.address}'s aCode`);
        const clicker = c.recipients.find((r) => r.clicked)!;
        const click = search(store.db, { type: 'url-protect', address: clicker.address, limit: 1e6 }).find((r) => r.recipients === clicker.address)!;
        assert.deepEqual(answer(store, click.id), expected(c), 'from the click event');
        assert.deepEqual(answer(store, click.message_id!), expected(c), 'from the message id');
        assert.deepEqual(whoElse(store.db, click.id).indicators.urls, [c.url]);
      }
      const result = whoElse(store.db, a.recipients[0]!.acode);
      assert.equal(result.messages.length, a.recipients.length, 'one message per recipient');
      assert.ok(result.messages.every((m) => m.matched_by.includes('sender') && m.matched_by.includes('subject')));
      assert.equal(result.truncated, false);
    } finally {
      store.close();
    }
  });

  it('holds for any campaign size and mix of outcomes (property)', async () => {
    const dir = tempDir('who-prop');
    let n = 0;
    await fc.assert(fc.asyncProperty(fc.integer({ min: 1, max: 2 ** 31 - 1 }).filter((s) => s !== NOISE_SEED), fc.integer({ min: 1, max: 30 }), async (seed, recipients) => {
      const c = generateCampaign({ seed, startMs: START + 7_200_000, recipients });
      const store = await storeWith(dir, `p${n++}`, [c], 100);
      try {
        assert.deepEqual(answer(store, c.recipients[c.recipients.length - 1]!.acode), expected(c));
      } finally {
        store.close();
      }
    }), { numRuns: 25 });
  });

  it('an ordinary email is matched by its own sender and subject only: nothing of a campaign leaks in', async () => {
    const dir = tempDir('who-plain');
    const c = generateCampaign({ seed: 9, startMs: START + 3_600_000, recipients: 10 });
    const store = await storeWith(dir, 'plain', [c]);
    try {
      const row = search(store.db, { type: 'receipt', limit: 1e6 }).find((r) => r.sender !== null && !r.sender.endsWith('invoice-payments-secure.biz'))!;
      const result = whoElse(store.db, row.acode!);
      const campaignPeople = new Set(c.recipients.map((r) => r.address));
      assert.ok(result.messages.length >= 1);
      assert.ok(result.recipients.every((r) => !campaignPeople.has(r.address)));
    } finally {
      store.close();
    }
  });

  it('mimelog who: nothing found exits 1 with a message; --json is one object', async () => {
    const dir = tempDir('who-cli');
    const c = generateCampaign({ seed: 4, startMs: START, recipients: 3 });
    const store = await storeWith(dir, 'cli', [c], 0);
    store.close();
    const db = join(dir, 'cli.db');
    const none = await runCli(['who', '<nobody@nowhere>', '--db', db]);
    assert.equal(none.code, 1);
    assert.match(none.stderr, /nothing found for <nobody@nowhere>/);
    const json = await runCli(['who', c.recipients[0]!.acode, '--db', db, '--json']);
    assert.equal(json.code, 0, json.stderr);
    assert.deepEqual((JSON.parse(json.stdout) as { recipients: { address: string }[] }).recipients.map((r) => r.address).sort(), c.recipients.map((r) => r.address).sort());
  });
});

describe('who else, narrowed', () => {
  it('a common subject alone does not flood the answer (left out, counted); picking the subject brings those messages back', async () => {
    const dir = tempDir('who-common');
    const c = generateCampaign({ seed: 11, startMs: START + 3_600_000, recipients: 8 });
    const store = await storeWith(dir, 'common', [c], 4000);
    try {
      const row = search(store.db, { type: 'receipt', limit: 1e6 }).find((r) => r.sender !== null && !r.sender.endsWith('invoice-payments-secure.biz'))!;
      const bySubject = whoElse(store.db, row.acode!, undefined, { by: ['subject'] });
      assert.ok(bySubject.messages.length > 25, `the noise's subject is common (${bySubject.messages.length} messages)`);
      const narrowed = whoElse(store.db, row.acode!);
      assert.equal(narrowed.messages.length, 1, 'only the message itself: its sender is its own');
      assert.deepEqual(narrowed.messages[0]!.matched_by, ['sender', 'subject']);
      assert.deepEqual(narrowed.left_out, [{ indicator: 'subject', messages: bySubject.messages.length - 1, limit: 25 }]);
      assert.equal(narrowed.truncated, false);
      assert.deepEqual(bySubject.by, ['subject']);
      assert.ok(bySubject.messages.every((m) => m.matched_by.join() === 'subject'));
    } finally {
      store.close();
    }
  });

  it('ranks by how specific the match is: from a click, the messages that share the URL come first; --by url keeps only those', async () => {
    const dir = tempDir('who-rank');
    const c = generateCampaign({ seed: 12, startMs: START + 3_600_000, recipients: 20 });
    const store = await storeWith(dir, 'rank', [c]);
    store.close();
    const db = join(dir, 'rank.db');
    const clickers = c.recipients.filter((r) => r.clicked).map((r) => r.address).sort();
    assert.ok(clickers.length > 0 && clickers.length < c.recipients.length);
    const clicker = c.recipients.find((r) => r.clicked)!;
    const all = await runCli(['who', clicker.acode, '--db', db, '--json']);
    assert.equal(all.code, 0, all.stderr);
    const w = JSON.parse(all.stdout) as { messages: { matched_by: string[]; specificity: number }[]; recipients: { address: string; specificity: number }[] };
    assert.equal(w.messages.length, c.recipients.length);
    const specificities = w.messages.map((m) => m.specificity);
    assert.deepEqual(specificities, [...specificities].sort((a, b) => b - a), 'most specific first');
    assert.deepEqual(w.messages.slice(0, clickers.length).map((m) => m.matched_by), clickers.map(() => ['sender', 'subject', 'url']));
    assert.deepEqual(w.recipients.slice(0, clickers.length).map((r) => r.address).sort(), clickers, 'the clickers lead the recipients');
    const byUrl = await runCli(['who', clicker.acode, '--db', db, '--by', 'url']);
    assert.equal(byUrl.code, 0, byUrl.stderr);
    assert.match(byUrl.stdout, new RegExp(`${clickers.length} messages, ${clickers.length} recipients`));
    assert.match(byUrl.stdout, /matched by/);
    const bad = await runCli(['who', clicker.acode, '--db', db, '--by', 'url,colour']);
    assert.equal(bad.code, 1, bad.stderr);
    assert.match(bad.stderr, /--by: indicators: unknown "colour"; expected a comma-separated list of sender, subject, url, attachment/);
  });
});
