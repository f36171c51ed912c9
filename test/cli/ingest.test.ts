import assert from 'node:assert/strict';
import { readFileSync, writeFileSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { describe, it } from 'node:test';
import { takeEvents, toKeyValueLine, toV2Record } from '../../src/simulator/generate.js';
import { tempDir, SAMPLES, lines, runCli } from '../support/helpers.js';
import { openWithEventsView } from '../support/stored-events.js';

const tmp = () => tempDir('cli');

describe('mimelog ingest (CLI)', () => {
  it('prints help for the program and the command', async () => {
    const top = await runCli(['--help']);
    assert.equal(top.code, 0);
    assert.match(top.stdout, /ingest/);
    const ingest = await runCli(['ingest', '--help']);
    assert.equal(ingest.code, 0);
    assert.match(ingest.stdout, /--types-file/);
  });

  it('turns the sample file into one ECS document per line with a summary', async () => {
    const r = await runCli(['ingest', '--sink', 'ndjson', `${SAMPLES}understanding-siem-logs.kv`]);
    assert.equal(r.code, 0, r.stderr);
    const docs = lines(r.stdout).map((l) => JSON.parse(l));
    const expected = lines(readFileSync(`${SAMPLES}understanding-siem-logs.expected-types`, 'utf8'));
    assert.deepEqual(docs.map((d) => d.mimecast.log_type), expected);
    assert.match(r.stderr, /13 records from 1 inputs: 13 written,/, 'standard output is written, not a store');
    assert.doesNotMatch(r.stderr, /stored/);
    assert.match(r.stderr, /type decided by: fields=13 \(ambiguous: 1\)/);
  });

  it('says "stored" in its summary when the records go to the store', async () => {
    const r = await runCli(['ingest', '--db', join(tmp(), 'summary.db'), `${SAMPLES}understanding-siem-logs.kv`]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stderr, /13 records from 1 inputs: 13 stored,/);
  });

  it('reads stdin, directories in name order and gzip, typing by file name', async () => {
    const dir = tmp();
    const events = takeEvents({ seed: 5, startMs: Date.UTC(2026, 2, 1) }, 300);
    const receipts = events.filter((e) => e.logType === 'receipt');
    const deliveries = events.filter((e) => e.logType === 'delivery');
    mkdirSync(join(dir, 'sub'));
    writeFileSync(join(dir, 'sub', 'receipt_20260301.log.gz'), gzipSync(receipts.map(toKeyValueLine).join('\n')));
    writeFileSync(join(dir, 'a_delivery.ndjson'), deliveries.map((e) => JSON.stringify(toV2Record(e, { shape: 'stream' }))).join('\n'));
    const r = await runCli(['ingest', '--sink', 'ndjson', dir, '-', '--summary', 'json', '--type', 'jrnl'], { stdin: 'datetime=2017-05-26T16:47:41+0100|acc=C0A0|aCode=x\n' });
    assert.equal(r.code, 0, r.stderr);
    const docs = lines(r.stdout).map((l) => JSON.parse(l));
    assert.equal(docs.length, receipts.length + deliveries.length + 1);
    assert.deepEqual(docs.slice(0, deliveries.length).map((d) => d.mimecast.log_type_source), deliveries.map(() => 'record'));
    assert.equal(docs[deliveries.length].mimecast.log_type_source, 'file_name');
    assert.deepEqual(docs.at(-1).mimecast, { log_type: 'jrnl', log_type_source: 'declared', acc: 'C0A0' });
    const summary = JSON.parse(lines(r.stderr).at(-1)!);
    assert.equal(summary.stored, docs.length);
    assert.equal(summary.by_type_source.file_name, receipts.length);
  });

  it('dead-letters bad lines with location and reason, goes on, and exits 2', async () => {
    const dir = tmp();
    const file = join(dir, 'mixed.log');
    writeFileSync(file, ['datetime=2017-05-26T16:47:41+0100|acc=C0A0|aCode=x', 'garbage line', 'datetime=2017-05-26T16:47:42+0100|acc=C0A0|aCode=y'].join('\n'));
    const dl = join(dir, 'dead.ndjson');
    const r = await runCli(['ingest', '--sink', 'ndjson', file, '--dead-letter', dl]);
    assert.equal(r.code, 2);
    assert.equal(lines(r.stdout).length, 2);
    const dead = lines(readFileSync(dl, 'utf8')).map((l) => JSON.parse(l));
    assert.deepEqual(dead, [{ source: file, position: 2, reason: 'expected key=value at column 1', raw: 'garbage line' }]);
    assert.match(r.stderr, /1 records dead-lettered to/);
  });

  it('with --workers 3, writes the same documents, dead letters and store rows, in the same order, as with one thread', async () => {
    const dir = tmp();
    const inputs = join(dir, 'inputs');
    mkdirSync(inputs);
    const events = takeEvents({ seed: 11, startMs: Date.UTC(2026, 3, 1) }, 6000);
    const kv = events.slice(0, 4000).map(toKeyValueLine);
    // Bad lines among good ones, one of them not UTF-8: each becomes a dead letter in its place.
    kv.splice(1500, 0, 'garbage line');
    const text = Buffer.concat([Buffer.from(`${kv.join('\n')}\n`), Buffer.from([0x61, 0x3d, 0xff, 0xfe, 0x0a])]);
    writeFileSync(join(inputs, 'a.log'), text);
    writeFileSync(join(inputs, 'b.ndjson.gz'), gzipSync(events.slice(4000).map((e, i) => JSON.stringify(toV2Record(e, { shape: 'batch', offset: i }))).join('\n')));
    const outputs = [];
    for (const workers of ['1', '3']) {
      const dl = join(dir, `dead-${workers}.ndjson`);
      const db = join(dir, `store-${workers}.db`);
      const ndjson = await runCli(['ingest', '--sink', 'ndjson', '--workers', workers, '--dead-letter', dl, '--summary', 'none', inputs]);
      assert.equal(ndjson.code, 2, ndjson.stderr);
      const stored = await runCli(['ingest', '--db', db, '--workers', workers, '--summary', 'none', inputs]);
      assert.equal(stored.code, 2, stored.stderr);
      const view = openWithEventsView(db);
      try {
        outputs.push({
          docs: ndjson.stdout, deadLetters: readFileSync(dl, 'utf8'),
          rows: view.prepare('SELECT id, log_type, source, position, doc FROM stored_events ORDER BY rowid').all(),
          storedDeadLetters: view.prepare('SELECT source, position, reason, hex(raw) AS raw, raw_is_text FROM dead_letters ORDER BY rowid').all(),
        });
      } finally {
        view.close();
      }
    }
    assert.equal(lines(outputs[0]!.docs).length, 6000);
    assert.equal(lines(outputs[0]!.deadLetters).length, 2);
    assert.equal(outputs[0]!.rows.length, 6000);
    assert.deepEqual(outputs[1], outputs[0]);
  });

  it('fails with one clear line for a missing path, an unknown type or sink', async () => {
    for (const args of [['ingest', '--workers', '0', '-'], ['ingest', '/nonexistent/x.log'], ['ingest', '--type', 'nope', '-'], ['ingest', '--sink', 'kafka', '-'], ['stats', '--db', '/nonexistent.db'], ['search', '--from', 'soon', '--db', '/nonexistent.db']]) {
      const r = await runCli(args);
      assert.equal(r.code, 1, args.join(' '));
      assert.equal(lines(r.stderr).length, 1, r.stderr);
      assert.match(r.stderr, /^mimelog: /);
    }
  });
});

describe('ingest and its own output', () => {
  it('never reads the file its standard output goes to, in a directory it reads or named', async () => {
    const { spawnSync } = await import('node:child_process');
    const { openSync, closeSync, rmSync } = await import('node:fs');
    const { BIN } = await import('../support/helpers.js');
    const dir = tempDir('mimelog-own-output-');
    try {
      writeFileSync(join(dir, 'a.log'), takeEvents({ seed: 4, startMs: Date.UTC(2026, 0, 5) }, 50).map(toKeyValueLine).join('\n'));
      const out = join(dir, 'out.ndjson');
      const fd = openSync(out, 'w');
      // out.ndjson sorts after a.log: a run that read it would find its own documents there.
      const run = spawnSync(process.execPath, [BIN, 'ingest', '--sink', 'ndjson', '--dead-letter', join(dir, '..', `${dir.split('/').pop()}-dead.ndjson`), dir], { stdio: ['ignore', fd, 'pipe'], encoding: 'utf8', timeout: 30_000 });
      closeSync(fd);
      assert.equal(run.status, 0, run.stderr);
      assert.match(run.stderr, /skipped .*out\.ndjson: one of mimelog's own files/);
      assert.equal(lines(readFileSync(out, 'utf8')).length, 50, 'the 50 records once, not its own documents again');
      const fd2 = openSync(out, 'a');
      const named = spawnSync(process.execPath, [BIN, 'ingest', '--sink', 'ndjson', out], { stdio: ['ignore', fd2, 'pipe'], encoding: 'utf8', timeout: 30_000 });
      closeSync(fd2);
      assert.notEqual(named.status, 0);
      assert.match(named.stderr, /out\.ndjson is one of mimelog's own files/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
      rmSync(join(dir, '..', `${dir.split('/').pop()}-dead.ndjson`), { force: true });
    }
  });
});

describe('ingest --type with a feed name', () => {
  it("reads exported API 2.0 feed records as that feed's (--type audit), and the --type error lists the feeds", async () => {
    const dir = tempDir('mimelog-feed-type-');
    const file = join(dir, 'audit.ndjson');
    writeFileSync(file, '{"id":"x1","auditType":"Logon","user":"a@b.c","eventTime":"2026-11-30T08:00:00Z","eventInfo":"ok"}\n');
    const db = join(dir, 'f.db');
    const run = await runCli(['ingest', '--db', db, '--type', 'audit', file]);
    assert.equal(run.code, 0, run.stderr);
    const [doc] = lines((await runCli(['search', '--db', db, '--json'])).stdout).map((l) => JSON.parse(l));
    assert.equal(doc.event.dataset, 'mimecast.audit_events');
    assert.equal(doc.mimecast.log_type, 'audit');
    assert.equal(doc['@timestamp'], '2026-11-30T08:00:00.000Z');
    const wrong = await runCli(['ingest', '--db', db, '--type', 'audits', file]);
    assert.notEqual(wrong.code, 0);
    assert.match(wrong.stderr, /unknown --type "audits"; known types: receipt, .*; feeds: audit, ttp-url, /);
  });
});

describe('stats as text', () => {
  it('writes every count in one format, thousands separated', async () => {
    const dir = tempDir('mimelog-stats-format-');
    const file = join(dir, 'in.log');
    writeFileSync(file, takeEvents({ seed: 6, startMs: Date.UTC(2026, 0, 7) }, 1500).map(toKeyValueLine).join('\n'));
    const db = join(dir, 's.db');
    for (let i = 0; i < 2; i++) assert.equal((await runCli(['ingest', '--db', db, file])).code, 0);
    const out = (await runCli(['stats', '--db', db])).stdout;
    assert.match(out, /^events 1,500 {2}duplicates 1,500 {2}collisions 0 /m);
    assert.match(out, new RegExp(`${file.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}\\s+1,500\\s`), 'the checkpoint position too');
  });
});
