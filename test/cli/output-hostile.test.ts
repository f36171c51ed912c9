/**
 * Sender text on a terminal: subjects, addresses, server answers and file names holding escape
 * sequences, CR, BEL, C1 controls and bidi overrides never reach stdout or stderr as they are.
 * Human output shows them as escapes; JSON output keeps the exact value (JSON escapes).
 */
import assert from 'node:assert/strict';
import { mkdirSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { before, describe, it } from 'node:test';
import fc from 'fast-check';
import { Progress } from '../../src/cli/progress.js';
import { takeEvents, toV2Record } from '../../src/simulator/generate.js';
import { MimelogError, errorText } from '../../src/util/errors.js';
import { jsonForTerminal, printable, printableLines } from '../../src/util/terminal-text.js';
import { lines, runCli, tempDir } from '../support/helpers.js';

/** Clear screen, set the window title (OSC … BEL), return to column 0, a C1 CSI, DEL, bidi override and isolate, line separator, newline, backspace. */
const HOSTILE = 'Hi\x1b[2J\x1b]0;pwned\x07\rFAKE ROW\u202eevil\u2066x\u2069\x9b31m\x7f\u2028sep\nnew row\x08';
/** Any character a terminal acts on, except the newlines that end our own lines. */
const RAW_CONTROL = /[\x00-\x09\x0b-\x1f\x7f-\x9f\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069]/;

function assertNoRawControl(text: string, what: string): void {
  const m = RAW_CONTROL.exec(text);
  assert.equal(m, null, `${what} sends U+${m?.[0].charCodeAt(0).toString(16).padStart(4, '0')} raw at ${m?.index}: ${JSON.stringify(text.slice(Math.max(0, (m?.index ?? 0) - 30), (m?.index ?? 0) + 30))}`);
}

const [receipt, processed, delivery] = takeEvents({ seed: 1, startMs: Date.UTC(2026, 0, 1) }, 3).map((e) => toV2Record(e, { shape: 'batch' }) as Record<string, unknown>);
const MESSAGE_ID = receipt!.messageId as string;

describe('terminal injection: sender text is shown, never sent', () => {
  const dir = tempDir('output');
  const db = join(dir, 'm.db');
  // The file name is sender text too (a spool file, a zip member): it names the checkpoint and the dead letter.
  const file = join(dir, 'in\x1b]0;title\x07\x1b[2J.ndjson');
  let ingestStderr = '';

  before(async () => {
    const hostile = [
      { ...receipt, subject: HOSTILE, senderEnvelope: `eve\x1b[8m@evil.example` },
      processed,
      { ...delivery, subject: HOSTILE, receiptAck: `250 ok\x1b[1A\x1b[2K${HOSTILE}` },
    ];
    writeFileSync(file, `${[...hostile.map((r) => JSON.stringify(r)), `{"broken\x1b[2J`].join('\n')}\n`);
    const r = await runCli(['ingest', '--workers', '1', '--db', db, file]);
    assert.equal(r.code, 2, r.stderr); // one dead letter
    ingestStderr = r.stderr;
  });

  it('ingest: the run summary names the input and the reason without sending their controls', () => {
    assertNoRawControl(ingestStderr, 'ingest summary');
    assert.match(ingestStderr, /in\\x1b\]0;title\\x07\\x1b\[2J\.ndjson=1/);
  });

  it('ingest: a skipped directory entry is named without sending its controls', async () => {
    const spool = join(dir, 'skipped');
    mkdirSync(spool);
    symlinkSync(join(dir, 'nowhere'), join(spool, `dangling\x1b]0;pwned\x07\x1b[2J`));
    const r = await runCli(['ingest', '--workers', '1', '--db', join(dir, 'skipped.db'), spool]);
    assertNoRawControl(r.stderr, 'ingest skipped line');
    assert.match(r.stderr, /skipped .*dangling\\x1b\]0;pwned\\x07\\x1b\[2J: /);
  });

  it('search, trace, who and stats print escapes instead of the controls', async () => {
    const runs = {
      search: await runCli(['search', '--db', db]),
      trace: await runCli(['trace', '--db', db, MESSAGE_ID]),
      who: await runCli(['who', '--db', db, MESSAGE_ID]),
      stats: await runCli(['stats', '--db', db]),
    };
    for (const [name, r] of Object.entries(runs)) {
      assert.equal(r.code, 0, `${name}: ${r.stderr}`);
      assertNoRawControl(r.stdout, `${name} stdout`);
      assertNoRawControl(r.stderr, `${name} stderr`);
    }
    // Still shown, as escapes: one row per event, the subject readable.
    assert.match(runs.search.stdout, /Hi\\x1b\[2J\\x1b\]0;pwned\\x07\\rFAKE ROW\\u202eevil/);
    assert.equal(lines(runs.search.stdout).length, 2 + 3);
    assert.match(runs.trace.stdout, /eve\\x1b\[8m@evil\.example/);
    assert.match(runs.who.stdout, /\\u202e/);
    assert.match(runs.stats.stdout, /in\\x1b\]0;title\\x07/);
  });

  it('search --json, stats --json and export keep the exact text, written as JSON escapes', async () => {
    const search = await runCli(['search', '--db', db, '--json']);
    const stats = await runCli(['stats', '--db', db, '--json']);
    const exported = await runCli(['export', '--db', db]);
    for (const [name, r] of Object.entries({ search, stats, exported })) {
      assert.equal(r.code, 0, `${name}: ${r.stderr}`);
      assertNoRawControl(r.stdout, `${name} stdout`);
    }
    const subjects = [...lines(search.stdout), ...lines(exported.stdout)].map((l) => (JSON.parse(l) as { email?: { subject?: string } }).email?.subject).filter(Boolean);
    assert.ok(subjects.length >= 4, `${subjects.length} subjects`);
    for (const s of subjects) assert.equal(s, HOSTILE);
    const sources = (JSON.parse(stats.stdout) as { checkpoints: { source: string }[] }).checkpoints.map((c) => c.source);
    assert.deepEqual(sources, [file]);
  });

  it('errors: a query or an option value that holds controls is quoted as escapes', async () => {
    const nothing = await runCli(['trace', '--db', db, '<x\x1b[2J\u202e@y>']);
    assert.equal(nothing.code, 1);
    assertNoRawControl(nothing.stderr, 'trace (nothing found)');
    assert.match(nothing.stderr, /nothing found for <x\\x1b\[2J\\u202e@y>/);
    const bad = await runCli(['search', '--db', db, '--type', 'x\x1b]0;t\x07']);
    assert.equal(bad.code, 1);
    assertNoRawControl(bad.stderr, 'search --type error');
    assert.match(bad.stderr, /unknown --type "x\\x1b\]0;t\\x07"/);
  });
});

describe('terminal text: the functions', () => {
  it('a server error text quoted in an error message is shown, never sent', () => {
    const text = errorText(new MimelogError('source', `Mimecast answered 500: ${HOSTILE}`));
    assertNoRawControl(text, 'errorText');
    assert.match(text, /^Mimecast answered 500: Hi\\x1b\[2J/);
  });

  it('the progress line sends only its own control sequence', () => {
    const written: string[] = [];
    const tty = { isTTY: true, write: (s: string) => written.push(s) } as unknown as NodeJS.WriteStream;
    const p = new Progress(tty);
    (p as unknown as { started: number; last: number }).started = 0;
    (p as unknown as { last: number }).last = 0;
    p.update(10, `reading ${HOSTILE}`);
    assert.equal(written.length, 1);
    assert.ok(written[0]!.startsWith('\r\x1b[K'));
    assertNoRawControl(written[0]!.slice('\r\x1b[K'.length), 'progress');
  });

  it('printable shows every control; printableLines keeps newlines; jsonForTerminal keeps the JSON value', () => {
    fc.assert(
      fc.property(fc.string({ unit: 'binary' }), (s) => {
        assertNoRawControl(printable(s).replace(/\n/g, ''), 'printable');
        assert.equal(printable(s).includes('\n'), false);
        assert.equal(printableLines(s).split('\n').length, s.split('\n').length);
        const json = JSON.stringify({ s });
        assert.deepEqual(JSON.parse(jsonForTerminal(json)), { s });
        assertNoRawControl(jsonForTerminal(json), 'jsonForTerminal');
      }),
      { numRuns: 2000 },
    );
    assert.equal(printable('a\x1b[2Jb\u202ec\n'), 'a\\x1b[2Jb\\u202ec\\n');
  });
});
