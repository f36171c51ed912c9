/**
 * `ingest --sink ndjson` counts a document as delivered only once its bytes are written: a file
 * size limit (a short write, then EFBIG) or a full disk under `> file` ends the run with exit 1
 * and the cause, never a summary of documents that never arrived and exit 0.
 */
import assert from 'node:assert/strict';
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { closeSync, openSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { BIN, ended, tempDir } from '../support/helpers.js';

describe('ingest --sink ndjson on an output that cannot take it all', () => {
  const dir = tempDir('ndjson-short');
  const input = join(dir, 'in.kv');
  const lines = Array.from({ length: 1001 }, (_, i) => `datetime=2017-05-26T16:47:41+0100|acc=C0A0|aCode=code${i}|Subject=${'s'.repeat(100)}`);
  writeFileSync(input, `${lines.join('\n')}\n`);
  const args = ['ingest', '--sink', 'ndjson', '--type', 'jrnl', '--dead-letter', join(dir, 'dead.ndjson'), input];

  it('a file size limit (a short write, then EFBIG) is exit 1 and the cause, not "1001 written" and exit 0', async () => {
    const out = join(dir, 'out.ndjson');
    const quoted = [process.execPath, BIN, ...args].map((a) => `'${a}'`).join(' ');
    // 64 blocks (32 or 64 KiB, by the shell): the 1001 documents take about 700 KiB.
    const r = await ended(spawn('sh', ['-c', `ulimit -f 64 && exec ${quoted} > '${out}'`], { stdio: ['ignore', 'ignore', 'pipe'] }));
    assert.equal(r.code, 1, r.stderr);
    assert.match(r.stderr, /^mimelog: cannot write to standard output: EFBIG.*incomplete/m);
    assert.doesNotMatch(r.stderr, /1001 (stored|written)/);
    assert.ok(statSync(out).size >= 32 * 1024, 'the part that fitted was written');
  });

  it('/dev/full as stdout is exit 1 and the cause', async () => {
    const fd = openSync('/dev/full', 'w');
    try {
      const r = await ended(spawn(process.execPath, [BIN, ...args], { stdio: ['ignore', fd, 'pipe'] }));
      assert.equal(r.code, 1, r.stderr);
      assert.match(r.stderr, /cannot write to standard output: ENOSPC/);
      assert.doesNotMatch(r.stderr, /stored/);
    } finally {
      closeSync(fd);
    }
  });

  // Before: the open waited for a reader, past SIGTERM (hence SIGKILL at the deadline).
  it('--dead-letter naming a FIFO fails at once (its open would wait for a reader), saying so', () => {
    const fifo = join(dir, 'dead-fifo');
    execFileSync('mkfifo', ['-m', '600', fifo]);
    const r = spawnSync(process.execPath, [BIN, 'ingest', '--sink', 'ndjson', '--dead-letter', fifo, '-'], { encoding: 'utf8', timeout: 10_000, killSignal: 'SIGKILL', input: 'not a record\n' });
    assert.equal(r.status, 1, r.stderr);
    assert.match(r.stderr, /cannot write dead letters to .*dead-fifo: it is a FIFO \(named pipe\), not a file/);
  });
});
