/**
 * Format detection decides per line once the first line fails: one bad or odd line (a broken JSON
 * first line, a JSON line among key_value lines) is its own outcome and never decides how the
 * other lines of the file are read.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createWriteStream, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import Database from 'better-sqlite3';
import { DEFAULT_LIMITS, type DecodeLimits } from '../../src/decode/limits.js';
import { takeEvents, toKeyValueLine, toV2Record } from '../../src/simulator/generate.js';
import { BIN, processInput, runCli, tempDir, transformer } from '../support/helpers.js';

const START = Date.UTC(2026, 0, 1);
const kvLines = takeEvents({ seed: 41, startMs: START }, 1000).map(toKeyValueLine);
const v2Lines = takeEvents({ seed: 42, startMs: START }, 20).map((e) => JSON.stringify(toV2Record(e, { shape: 'batch' })));
const BROKEN = '{"type":"receipt", broken';

describe('format detection: per line once the first line fails', () => {
  it('a broken JSON first line before 1,000 key_value lines: one dead letter, 1,000 events', async () => {
    const unit = await processInput('mixed.log', [BROKEN, ...kvLines].join('\n'));
    assert.equal(unit.events.length, 1000);
    assert.equal(unit.deadLetters.length, 1);
    assert.equal(unit.deadLetters[0]!.position, 1);
    assert.match(unit.deadLetters[0]!.reason, /JSON/);
    assert.equal(unit.deadLetters[0]!.raw, BROKEN);
  });

  it('the same in a file larger than the document bound (no line held as a document)', async () => {
    const small: DecodeLimits = { ...DEFAULT_LIMITS, maxRecordBytes: 64 * 1024, deadLetterHeadBytes: 1024, maxDocumentBytes: 16 * 1024 };
    const unit = await processInput('mixed.log', ['{', ...kvLines].join('\n'), transformer(), small);
    assert.equal(unit.events.length, 1000);
    assert.deepEqual(unit.deadLetters.map((d) => d.position), [1]);
  });

  it('a valid JSON first line before key_value lines: every line is an event', async () => {
    const unit = await processInput('mixed.log', [v2Lines[0], ...kvLines.slice(0, 50)].join('\n'));
    assert.equal(unit.deadLetters.length, 0, unit.deadLetters.map((d) => d.reason).join('; '));
    assert.equal(unit.events.length, 51);
  });

  it('a JSON line among key_value lines and a key_value line among NDJSON lines are read as what they are', async () => {
    const a = await processInput('a.log', [kvLines[0], v2Lines[1], kvLines[1]].join('\n'));
    const b = await processInput('b.ndjson', [v2Lines[2], kvLines[2], v2Lines[3]].join('\n'));
    assert.deepEqual([a.events.length, a.deadLetters.length, b.events.length, b.deadLetters.length], [3, 0, 3, 0]);
  });

  it('a multi-line API 1.0 json document is still read as one document', async () => {
    const doc = `{"type":"MTA",\n"data":[\n${takeEvents({ seed: 43, startMs: START }, 3).map((e) => JSON.stringify({ datetime: new Date(e.timeMs).toISOString(), aCode: `a${e.timeMs}`, acc: 'x' })).join(',\n')}\n]}`;
    const unit = await processInput('doc.json', doc);
    assert.deepEqual([unit.events.length, unit.deadLetters.length], [3, 0]);
  });

  it('through the CLI: the events are stored, the dead letter replays (still failing; recovered once a bound allows it)', async () => {
    const dir = tempDir('format');
    const file = join(dir, 'mixed.log');
    // A first line that is valid JSON but has more keys than the bound used at ingest.
    const wide = JSON.stringify({ ...JSON.parse(v2Lines[5]!), ...Object.fromEntries(Array.from({ length: 60 }, (_, i) => [`k${i}`, i])) });
    writeFileSync(file, [wide, ...kvLines.slice(0, 100)].join('\n'));
    const db = join(dir, 'm.db');
    const ingest = await runCli(['ingest', '--workers', '1', '--db', db, '--max-record-keys', '50', file]);
    assert.equal(ingest.code, 2, ingest.stderr);
    assert.match(ingest.stderr, /100 stored, 0 duplicates, 0 collisions, 1 dead letters/);
    const still = await runCli(['replay', '--json', '--db', db, '--max-record-keys', '50']);
    assert.equal(still.code, 2, still.stderr);
    assert.equal(JSON.parse(still.stdout).still_failing, 1);
    const replayed = await runCli(['replay', '--json', '--db', db]);
    assert.equal(replayed.code, 0, replayed.stderr);
    assert.deepEqual(JSON.parse(replayed.stdout), { attempted: 1, recovered: 1, still_failing: 0, events_stored: 1, duplicates: 0 });
    const d = new Database(db, { readonly: true });
    assert.equal((d.prepare('SELECT count(*) AS n FROM events').get() as { n: number }).n, 101);
    d.close();
  });

  it('a 24 MB file of that shape is read in bounded memory (peak RSS of the CLI in a child process)', async () => {
    const dir = tempDir('format-big');
    const file = join(dir, 'big.log');
    const w = createWriteStream(file);
    w.write(`${BROKEN}\n`);
    let lines = 0;
    for (let seed = 100; lines < 60_000; seed++) {
      const chunk = takeEvents({ seed, startMs: START + seed * 3_600_000 }, 5000).map(toKeyValueLine);
      lines += chunk.length;
      if (!w.write(`${chunk.join('\n')}\n`)) await new Promise<void>((r) => w.once('drain', () => r()));
    }
    await new Promise<void>((r) => w.end(() => r()));
    const { stderr, peak } = await ingestMeasured(['ingest', '--workers', '1', '--db', join(dir, 'big.db'), file]);
    assert.match(stderr, new RegExp(`${lines} stored, 0 duplicates, 0 collisions, 1 dead letters`));
    process.stderr.write(`# peak RSS ingesting ${lines} key_value lines after a broken first line: ${(peak / 1048576).toFixed(0)} MiB\n`);
    assert.ok(peak < 400 * 1048576, `peak RSS ${peak}`);
  });
});

/** Runs the CLI in a child process; its own exit hook reports its peak RSS (bytes). */
function ingestMeasured(args: string[]): Promise<{ stderr: string; peak: number }> {
  const hook = 'data:text/javascript,process.on("exit",()=>process.stderr.write(`\\npeak_rss_kib=${process.resourceUsage().maxRSS}\\n`))';
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', hook, BIN, ...args], { stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
    child.on('error', reject);
    child.on('close', () => resolve({ stderr, peak: Number(/peak_rss_kib=(\d+)/.exec(stderr)?.[1] ?? NaN) * 1024 }));
  });
}
