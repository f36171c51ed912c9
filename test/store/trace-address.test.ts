/**
 * `trace <address>`: an address names many emails; each gets its own timeline with its own
 * outcome, instead of one timeline mixing them all with one list of outcomes.
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { generateCampaign, toKeyValueLine } from '../../src/simulator/generate.js';
import { Store } from '../../src/store/store.js';
import { trace } from '../../src/store/trace.js';
import { processInput, runCli, tempDir } from '../support/helpers.js';

describe('trace <address>', () => {
  it('one timeline per email, each with its own outcome (rejected, held, delivered)', async () => {
    const dir = tempDir('trace-address');
    const c = generateCampaign({ seed: 21, startMs: Date.UTC(2026, 10, 20), recipients: 12 });
    const db = join(dir, 'store.db');
    const store = new Store(db);
    try {
      store.writeUnit(await processInput('campaign.log', c.events.map(toKeyValueLine).join('\n')));
      const t = trace(store.db, c.sender);
      assert.equal(t.matched_by, 'address');
      const emails = t.messages.filter((m) => m.acodes.length > 0);
      assert.equal(emails.length, c.recipients.length);
      for (const r of c.recipients) {
        const m = emails.find((e) => e.acodes.includes(r.acode));
        assert.ok(m, `a timeline for ${r.address}`);
        assert.equal(m.acodes.length, 1, 'one email per timeline');
        assert.equal(m.outcome.length, 1, `${r.address}: its own outcome only: ${m.outcome.join(' | ')}`);
        const want = r.outcome === 'rejected' ? /^rejected at receipt/ : r.outcome === 'held' ? /^held/ : new RegExp(`^delivered to ${r.address}`);
        assert.match(m.outcome[0]!, want);
        assert.ok(m.steps.every((s, i) => i === 0 || s.time >= m.steps[i - 1]!.time));
      }
    } finally {
      store.close();
    }
    const cli = await runCli(['trace', '--db', db, c.sender]);
    assert.equal(cli.code, 0, cli.stderr);
    assert.match(cli.stdout, /timelines\)/);
    assert.equal(cli.stdout.match(/^outcome: /gm)?.length, c.recipients.length + 1, 'one outcome line per email, and one for the events naming no email');
  });
});
