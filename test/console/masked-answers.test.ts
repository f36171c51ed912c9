/**
 * The console never serves a registered secret (a secret of the service's config): a spool file
 * that held one made it a dead letter's bytes or an event's subject, and every API answer is
 * masked in one place, in every form the secret can take in JSON.
 */
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { createConsoleApp } from '../../src/console/server.js';
import { SECRETS } from '../../src/util/secrets.js';
import { Store } from '../../src/store/store.js';
import { runCli, tempDir } from '../support/helpers.js';

const SECRET = 'client-Secret-"of"-the-service\\7';

describe('console answers', () => {
  it('dead letters (raw and reason), search rows and events carry no registered secret', async () => {
    const dir = tempDir('console-masked');
    const db = join(dir, 'store.db');
    const input = join(dir, 'in.log');
    const valid = `datetime=2017-05-26T16:47:41+0100|aCode=maskedACode0001|acc=C0A0|Subject=${SECRET}|Sender=a@example.com|Rcpt=b@example.com`;
    writeFileSync(input, `${valid}\nnot a record but the secret ${SECRET}\n`);
    const r = await runCli(['ingest', '--db', db, '--type', 'jrnl', input, '--summary', 'none']);
    assert.equal(r.code, 2, r.stderr);
    SECRETS.add(SECRET);
    const store = new Store(db, { readonly: true });
    try {
      const app = createConsoleApp({ store, allowedHosts: [] });
      const dead = await app.request('/api/dead-letters');
      assert.equal(dead.status, 200);
      const deadText = await dead.text();
      const rows = (JSON.parse(deadText) as { rows: { raw?: string; reason: string }[] }).rows;
      assert.equal(rows.length, 1);
      assert.match(rows[0]!.raw ?? '', /not a record but the secret \[redacted\]/);
      assert.ok(!deadText.includes('client-Secret'), deadText);
      assert.equal(dead.headers.get('content-type'), 'application/json');
      assert.equal(dead.headers.get('cache-control'), 'no-store', 'the other headers stay');
      const found = await app.request('/api/search?acode=maskedACode0001');
      const text = await found.text();
      assert.match(text, /\[redacted\]/);
      assert.ok(!text.includes('client-Secret'), text);
      const id = (JSON.parse(text) as { rows: { id: string }[] }).rows[0]!.id;
      const event = await (await app.request(`/api/events/${id}`)).text();
      assert.ok(!event.includes('client-Secret'), event);
    } finally {
      store.close();
    }
  });
});
