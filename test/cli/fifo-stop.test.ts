/**
 * `ingest` on a named pipe: it waits for a writer (the user asked for the pipe), but SIGTERM ends
 * it at once, whether no writer ever came or one came and went quiet, with what was read stored.
 */
import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import { openSync, readFileSync, readdirSync, readlinkSync, writeFileSync, writeSync, closeSync, constants } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { describe, it } from 'node:test';
import Database from 'better-sqlite3';
import { takeEvents, toKeyValueLine } from '../../src/simulator/generate.js';
import { BIN, runCli, tempDir } from '../support/helpers.js';

/** True once process `pid` holds `path` open (one of its /proc fd links names it). */
function holdsOpen(pid: number, path: string): boolean {
  try {
    return readdirSync(`/proc/${pid}/fd`).some((fd) => {
      try {
        return readlinkSync(`/proc/${pid}/fd/${fd}`) === path;
      } catch {
        return false; // closed meanwhile
      }
    });
  } catch {
    return false; // exited
  }
}

/** Bytes process `pid` has read so far (any file, pipe or socket). */
const bytesRead = (pid: number): number => Number(/^rchar: (\d+)$/m.exec(readFileSync(`/proc/${pid}/io`, 'utf8'))?.[1] ?? Number.NaN);

/**
 * Starts `ingest` on `fifo`, sends SIGTERM once it is running (after `whileRunning`, which says how
 * many bytes it wrote to the pipe, once the process has read them), and says how it ended and how fast.
 */
async function ingestStoppedBySigterm(db: string, fifo: string, whileRunning: () => number = () => 0): Promise<{ code: number | null; ms: number; stderr: string }> {
  const child = spawn(process.execPath, [BIN, 'ingest', '--db', db, fifo], { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
  const exited = new Promise<number | null>((res) => child.once('exit', (code) => res(code)));
  try {
    // The signal handlers are set before the pipe is opened: wait until the process holds it open
    // (a fixed time after the store appeared was too short on a loaded machine: the signal killed it).
    for (let i = 0; i < 300 && child.exitCode === null && !holdsOpen(child.pid!, fifo); i++) await sleep(100);
    assert.ok(holdsOpen(child.pid!, fifo), `ingest never opened the pipe: ${stderr}`);
    const before = bytesRead(child.pid!);
    const written = whileRunning();
    for (let i = 0; i < 300 && child.exitCode === null && bytesRead(child.pid!) - before < written; i++) await sleep(100);
    await sleep(500);
    const sent = Date.now();
    child.kill('SIGTERM');
    const code = await Promise.race([exited, sleep(8000, 'hung' as const, { ref: false })]);
    assert.notEqual(code, 'hung', `ingest ignored SIGTERM: ${stderr}`);
    return { code: code as number | null, ms: Date.now() - sent, stderr };
  } finally {
    child.kill('SIGKILL');
  }
}

describe('ingest on a FIFO', () => {
  it('with no writer: SIGTERM ends it within 2 s, exit 3', async () => {
    const dir = tempDir('fifo-stop');
    const fifo = join(dir, 'pipe');
    execFileSync('mkfifo', [fifo]);
    const r = await ingestStoppedBySigterm(join(dir, 's.db'), fifo);
    assert.equal(r.code, 3, r.stderr);
    assert.ok(r.ms < 2000, `stopped ${r.ms} ms after SIGTERM`);
    assert.match(r.stderr, /stopped by a signal with 1 of 1 inputs not read to the end/);
  });

  it('with a writer that wrote and went quiet: SIGTERM ends it, what it wrote is stored', async () => {
    const dir = tempDir('fifo-quiet');
    const fifo = join(dir, 'pipe');
    const db = join(dir, 's.db');
    execFileSync('mkfifo', [fifo]);
    const text = `${takeEvents({ seed: 31, startMs: Date.UTC(2026, 10, 1) }, 5).map(toKeyValueLine).join('\n')}\n`;
    let writer: number | undefined;
    try {
      // Opened once the reader waits (O_NONBLOCK: fails rather than waits if it does not), and kept open.
      const r = await ingestStoppedBySigterm(db, fifo, () => {
        writer = openSync(fifo, constants.O_WRONLY | constants.O_NONBLOCK);
        return writeSync(writer, text);
      });
      assert.equal(r.code, 3, r.stderr);
      assert.ok(r.ms < 2000, `stopped ${r.ms} ms after SIGTERM`);
    } finally {
      if (writer !== undefined) closeSync(writer);
    }
    const d = new Database(db, { readonly: true });
    assert.equal((d.prepare('SELECT count(*) AS n FROM events').get() as { n: number }).n, 5);
    d.close();
  });

  it('a FIFO found in a directory is skipped with a line (name it to read it), the rest is read', async () => {
    const dir = tempDir('fifo-dir');
    const inputs = join(dir, 'in');
    execFileSync('mkdir', [inputs]);
    execFileSync('mkfifo', [join(inputs, 'b.pipe')]);
    writeFileSync(join(inputs, 'a.log'), `${takeEvents({ seed: 32, startMs: Date.UTC(2026, 10, 1) }, 4).map(toKeyValueLine).join('\n')}\n`);
    const r = await runCli(['ingest', '--db', join(dir, 's.db'), inputs]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stderr, /skipped .*b\.pipe: a FIFO \(named pipe\) found in a directory; name it to read it/);
    assert.match(r.stderr, /4 records from 1 inputs: 4 stored/);
  });
});
