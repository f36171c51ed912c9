/**
 * Output that cannot be written is never cut short in silence: a full disk or a file size limit
 * (a short write, then an error) ends `search`, `search --json`, `stats --json` with exit 1 and one
 * line on stderr. A reader that stops early (`| head`) ends the command quietly, with exit 1: what
 * it did not read was not delivered, as when a CLI dies of SIGPIPE (status 141 in a shell).
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { closeSync, openSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { before, describe, it } from 'node:test';
import Database from 'better-sqlite3';
import { takeEvents, toKeyValueLine } from '../../src/simulator/generate.js';
import { BIN, ended, runCli, tempDir } from '../support/helpers.js';

describe('standard output that cannot take the output', () => {
  const dir = tempDir('stdout');
  const db = join(dir, 's.db');
  const commands: Record<string, string[]> = {
    search: ['search', '--db', db, '--limit', '5000'],
    'search --json': ['search', '--db', db, '--limit', '5000', '--json'],
    'stats --json': ['stats', '--db', db, '--json'],
  };

  before(async () => {
    const file = join(dir, 'in.log');
    writeFileSync(file, takeEvents({ seed: 3, startMs: Date.UTC(2026, 0, 1) }, 3000).map(toKeyValueLine).join('\n'));
    const r = await runCli(['ingest', '--workers', '1', '--db', db, file]);
    assert.equal(r.code, 0, r.stderr);
    // Many checkpoints make `stats --json` long (a spool of many files).
    const d = new Database(db);
    const add = d.prepare("INSERT INTO checkpoints (source, kind, position, complete, updated_at) VALUES (?, 'file', 1, 1, ?)");
    d.transaction(() => {
      for (let i = 0; i < 5000; i++) add.run(`/var/spool/mimelog/file-${i}.log`, Date.now());
    })();
    d.close();
  });

  for (const [name, args] of Object.entries(commands)) {
    it(`${name}: a file size limit (a short write, then EFBIG) is exit 1 and a message, not a cut output with exit 0`, async () => {
      const out = join(dir, `${name.replace(/\W+/g, '-')}.out`);
      const quoted = [process.execPath, BIN, ...args].map((a) => `'${a}'`).join(' ');
      // 64 blocks (32 or 64 KiB, by the shell): the output is larger; the store is only read.
      const r = await ended(spawn('sh', ['-c', `ulimit -f 64 && exec ${quoted} > '${out}'`], { stdio: ['ignore', 'ignore', 'pipe'] }));
      assert.equal(r.code, 1, r.stderr);
      assert.match(r.stderr, /^mimelog: cannot write to standard output: EFBIG.*incomplete/m);
      assert.ok(statSync(out).size >= 32 * 1024, 'the part that fitted was written');
    });

    it(`${name}: /dev/full as stdout is exit 1 and a message`, async () => {
      const fd = openSync('/dev/full', 'w');
      try {
        const r = await ended(spawn(process.execPath, [BIN, ...args], { stdio: ['ignore', fd, 'pipe'] }));
        assert.equal(r.code, 1, r.stderr);
        assert.match(r.stderr, /cannot write to standard output: ENOSPC/);
      } finally {
        closeSync(fd);
      }
    });

    it(`${name}: a reader that stops early ends it quietly, exit 1`, async () => {
      const child = spawn(process.execPath, [BIN, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
      child.stdout!.once('data', () => child.stdout!.destroy());
      const r = await ended(child);
      assert.equal(r.code, 1, r.stderr);
      assert.equal(r.stderr.replace(/^\d+ events\n/, ''), '');
    });
  }
});
