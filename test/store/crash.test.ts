import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import Database from 'better-sqlite3';
import { takeEvents, toKeyValueLine } from '../../src/simulator/generate.js';
import { tempDir, killWhileDelivering, runCli } from '../support/helpers.js';

function contents(path: string): { events: string[]; deadLetters: number } {
  const db = new Database(path, { readonly: true });
  const events = (db.prepare('SELECT hex(e.id) AS id, t.name AS log_type, s.name AS source, e.position FROM events e JOIN names t ON t.code = e.type JOIN names s ON s.code = e.source ORDER BY e.id').all() as Record<string, unknown>[]).map((r) => JSON.stringify(r));
  const deadLetters = (db.prepare('SELECT count(*) AS n FROM dead_letters').get() as { n: number }).n;
  db.close();
  return { events, deadLetters };
}

describe('crash safety of the embedded store', () => {
  // The killed runs process records on two worker threads, the clean run on one: commits stay in
  // publication order whatever order the workers finish in, so the stores end equal.
  it('ends equal to a clean run after 20+ kill -9 at random moments, resuming each time (killed runs with --workers 2)', { timeout: 600_000 }, async () => {
    const dir = tempDir('crash');
    const file = join(dir, 'big.log');
    const lines = takeEvents({ seed: 99, startMs: Date.UTC(2026, 6, 1) }, 60_000).map(toKeyValueLine);
    lines.splice(12_345, 0, 'a line that is not a record'); // a dead letter must not double either
    writeFileSync(file, lines.join('\n'));
    const clean = join(dir, 'clean.db');
    const ok = await runCli(['ingest', '--db', clean, file, '--summary', 'none', '--workers', '1']);
    assert.equal(ok.code, 2, ok.stderr);

    const crashed = join(dir, 'crashed.db');
    const kills = await killWhileDelivering(['ingest', '--resume', '--db', crashed, file, '--summary', 'none', '--workers', '2'], {
      kills: 22, db: crashed, total: lines.length, seed: 2026,
    });
    assert.ok(kills >= 20, `only ${kills} kills landed`);
    const final = await runCli(['ingest', '--resume', '--db', crashed, file, '--summary', 'json', '--workers', '2']);
    assert.equal(final.code === 0 || final.code === 2, true, final.stderr);

    const a = contents(clean);
    const b = contents(crashed);
    assert.equal(b.events.length, a.events.length);
    assert.deepEqual(b.events, a.events);
    assert.equal(b.deadLetters, 1);
    const db = new Database(crashed, { readonly: true });
    assert.deepEqual(db.prepare('SELECT position, complete FROM checkpoints WHERE source = ?').get(file), { position: lines.length, complete: 1 });
    assert.equal(db.pragma('integrity_check', { simple: true }), 'ok');
    db.close();
  });
});
