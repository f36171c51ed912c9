/**
 * Hostile and unlucky input, in process: every record reaches an outcome (an event or a dead
 * letter that keeps its bytes and says why), the records around a bad one are kept, nothing throws.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { gzipSync } from 'node:zlib';
import fc from 'fast-check';
import { decodeInput, readFailure } from '../../src/decode/input.js';
import { DEFAULT_LIMITS, type DecodeLimits } from '../../src/decode/limits.js';
import { decodeText, encodeText } from '../../src/decode/text.js';
import { parseIsoTime } from '../../src/decode/time.js';
import { zipMembers } from '../../src/simulator/zip.js';
import { takeEvents, toKeyValueLine, toV2Record } from '../../src/simulator/generate.js';
import { table } from '../../src/cli/table.js';
import { processInput, transformer } from '../support/helpers.js';

const events = takeEvents({ seed: 11, startMs: Date.UTC(2026, 0, 1) }, 40);
const v2Lines = events.map((e) => JSON.stringify(toV2Record(e, { shape: 'batch' })));
const kvLines = events.map(toKeyValueLine);
const small: DecodeLimits = { ...DEFAULT_LIMITS, maxRecordBytes: 64 * 1024, deadLetterHeadBytes: 1024, maxMemberBytes: 4 * 1024 * 1024, maxDocumentBytes: 256 * 1024 };

/** A record line around which good lines sit: [good, bad, good]. */
function sandwich(bad: string | Buffer, good: readonly string[] = v2Lines): Buffer {
  return Buffer.concat([Buffer.from(`${good[0]}\n`), Buffer.isBuffer(bad) ? bad : Buffer.from(bad), Buffer.from(`\n${good[1]}\n`)]);
}

function deepJson(depth: number): string {
  return `${'['.repeat(depth)}${']'.repeat(depth)}`;
}

describe('hostile input: poison records become dead letters, the rest goes on', () => {
  it('dead-letters a record nested 100,000 deep with its bytes, and keeps its neighbours', async () => {
    const bad = `{"type":"receipt","timestamp":"1767225600000","x":${deepJson(100_000)}}`;
    const unit = await processInput('deep.ndjson', sandwich(bad));
    assert.equal(unit.events.length, 2);
    assert.equal(unit.deadLetters.length, 1);
    assert.match(unit.deadLetters[0]!.reason, /nested deeper than 64 levels/);
    assert.equal(unit.deadLetters[0]!.raw, bad);
    assert.equal(unit.deadLetters[0]!.position, 2);
  });

  it('keeps deep embedded JSON inside a key_value record as text (nothing lost, nothing thrown)', async () => {
    const bad = `${kvLines[2]}|Extra=${deepJson(50_000)}`;
    const unit = await processInput('deep.log', sandwich(bad, kvLines));
    assert.equal(unit.events.length, 3);
    const doc = unit.events[1]!.doc as { mimecast: { Extra: string } };
    assert.equal(doc.mimecast.Extra.length, 100_000);
  });

  it('dead-letters an epoch timestamp a date cannot hold, and reads years 0000-0099 as themselves', async () => {
    const huge = JSON.stringify({ ...JSON.parse(v2Lines[0]!), timestamp: '9999999999999999' });
    const unit = await processInput('t.ndjson', sandwich(huge));
    assert.equal(unit.events.length, 2);
    assert.match(unit.deadLetters[0]!.reason, /invalid timestamp/);
    assert.equal(new Date(parseIsoTime('0001-02-03T04:05:06Z')).toISOString(), '0001-02-03T04:05:06.000Z');
    assert.equal(new Date(parseIsoTime('0099-12-31T23:59:59+0100')).toISOString(), '0099-12-31T22:59:59.000Z');
  });

  it('dead-letters a JSON record with a duplicate key, like key_value does', async () => {
    const unit = await processInput('dup.ndjson', sandwich(`{"type":"receipt","timestamp":"1767225600000","a":"1","a":"2"}`));
    assert.equal(unit.events.length, 2);
    assert.match(unit.deadLetters[0]!.reason, /duplicate key/);
  });

  it('dead-letters a record with more keys than the bound (a million keys would cost ~700 MiB)', async () => {
    const keys = Array.from({ length: 20_000 }, (_, i) => `"k${i}":"v"`).join(',');
    const unit = await processInput('k.ndjson', sandwich(`{"type":"receipt","timestamp":"1767225600000",${keys}}`));
    assert.equal(unit.events.length, 2);
    assert.match(unit.deadLetters[0]!.reason, /record with 20002 keys, over the limit of 10000 \(--max-record-keys\)/);
    const kvMany = `${kvLines[0]}|${Array.from({ length: 20_000 }, (_, i) => `k${i}=v`).join('|')}`;
    const kvUnit = await processInput('k.log', sandwich(kvMany, kvLines));
    assert.equal(kvUnit.events.length, 2);
    assert.match(kvUnit.deadLetters[0]!.reason, /over the limit of 10000/);
  });

  it('keeps a field named __proto__ in the document', async () => {
    const line = `{"type":"receipt","timestamp":"1767225600000","aCode":"x1","__proto__":"kept"}`;
    const unit = await processInput('p.ndjson', line);
    assert.equal(unit.events.length, 1);
    const mimecast = unit.events[0]!.doc.mimecast as Record<string, unknown>;
    assert.ok(Object.prototype.hasOwnProperty.call(mimecast, '__proto__'));
    assert.match(JSON.stringify(unit.events[0]!.doc), /"__proto__":"kept"/);
  });

  it('turns any failure inside classify, fingerprint or normalize into that record\'s dead letter', async () => {
    const t = transformer();
    // A normalizer that fails on one record stands for any bug a hostile record may reach.
    const normalizer = (t as unknown as { normalizer: { normalize: (...a: unknown[]) => unknown } }).normalizer;
    const real = normalizer.normalize.bind(normalizer);
    normalizer.normalize = (record: unknown, ...rest: unknown[]) => {
      if ((record as { raw: string }).raw.includes('POISON')) throw new RangeError('Maximum call stack size exceeded');
      return real(record, ...rest);
    };
    const unit = await processInput('x.log', sandwich(`${kvLines[5]}|Note=POISON`, kvLines), t);
    assert.equal(unit.events.length, 2);
    assert.equal(unit.deadLetters.length, 1);
    assert.match(unit.deadLetters[0]!.reason, /cannot process record: RangeError: Maximum call stack/);
  });
});

describe('hostile input: bounded lines and archives', () => {
  it('dead-letters an over-long line with its head and length, and reads on', async () => {
    const long = `{"type":"receipt","subject":"${'x'.repeat(300_000)}"}`;
    const unit = await processInput('long.ndjson', sandwich(long), transformer(), small);
    assert.equal(unit.events.length, 2);
    const dl = unit.deadLetters[0]!;
    assert.match(dl.reason, new RegExp(`record of ${long.length} bytes is over the limit of ${small.maxRecordBytes}`));
    assert.equal((dl.raw as Buffer).length, small.deadLetterHeadBytes);
    assert.equal(dl.truncatedFrom, long.length);
    assert.equal(dl.position, 2);
  });

  it('splits a 200 MB line streamed in 64 KiB chunks in linear time and bounded memory', async () => {
    const chunk = Buffer.alloc(64 * 1024, 0x61);
    async function* source(): AsyncGenerator<Buffer> {
      yield Buffer.from(`${v2Lines[0]}\n`);
      for (let i = 0; i < 3200; i++) yield chunk; // 200 MiB without a newline
      yield Buffer.from(`\n${v2Lines[1]}\n`);
    }
    const before = process.memoryUsage().rss;
    const started = Date.now();
    let items = 0;
    let oversized = 0;
    for await (const batch of decodeInput('big.ndjson', source())) {
      items += batch.items.length;
      oversized += batch.items.filter((i) => /over the limit/.test(readFailure(i) ?? '')).length;
    }
    assert.equal(items, 3);
    assert.equal(oversized, 1);
    const grew = process.memoryUsage().rss - before;
    assert.ok(grew < 100 * 1024 * 1024, `RSS grew ${grew} bytes`);
    assert.ok(Date.now() - started < 30_000);
  });

  it('stops a decompression bomb at the member bound, with the compressed bytes kept', async () => {
    const bomb = gzipSync(Buffer.alloc(32 * 1024 * 1024), { level: 1 });
    const unit = await processInput('bomb.log.gz', bomb, transformer(), small);
    assert.equal(unit.events.length, 0);
    assert.equal(unit.deadLetters.length, 2); // the line in hand (its head), then the break
    const brk = unit.deadLetters[1]!;
    assert.match(brk.reason, /decompressed gzip stream is larger than 4194304 bytes \(--max-member-bytes\)/);
    assert.match(brk.reason, new RegExp(`\\(${bomb.length} bytes; the first 1024 are kept\\)`));
    assert.deepEqual(brk.raw, bomb.subarray(0, 1024));
    assert.equal(brk.truncatedFrom, bomb.length);
    assert.equal(brk.source, 'bomb.log.gz');
  });

  it('dead-letters archives nested beyond the bound once, quickly', async () => {
    let bytes: Buffer = Buffer.from(`${kvLines[0]}\n`);
    for (let i = 0; i < 300; i++) bytes = await zipMembers({ [`level${i}.zip`]: bytes });
    const started = Date.now();
    const unit = await processInput('nest.zip', bytes);
    assert.equal(unit.events.length, 0);
    assert.equal(unit.deadLetters.length, 1);
    assert.match(unit.deadLetters[0]!.reason, /archive nested deeper than 4 levels/);
    assert.ok((unit.deadLetters[0]!.raw as Buffer).length > 0);
    assert.ok(Date.now() - started < 10_000);
  });

  it('checks zip CRCs: a corrupted member is a dead letter with the zip bytes', async () => {
    const text = kvLines.slice(0, 5).join('\n');
    const zip = await zipMembers({ 'receipt_1.log': text }, { store: true });
    const at = zip.indexOf(Buffer.from(kvLines[4]!.slice(0, 20)));
    assert.ok(at > 0);
    const bad = Buffer.from(zip);
    bad[at + 5] = bad[at + 5]! ^ 0x01; // flip a bit inside the last record, sizes unchanged
    const unit = await processInput('c.zip', bad);
    const crc = unit.deadLetters.find((d) => /CRC-32 mismatch/.test(d.reason));
    assert.ok(crc, JSON.stringify(unit.deadLetters.map((d) => d.reason)));
    assert.deepEqual(crc.raw, bad);
  });

  it('keeps the bytes of a broken gzip tail and of gzip with trailing garbage; source keeps .gz', async () => {
    const gz = gzipSync(kvLines.join('\n'));
    const cut = gz.subarray(0, gz.length - 12);
    const a = await processInput('cut.log.gz', cut);
    const brk = a.deadLetters.find((d) => d.position > 0 && /input broken/.test(d.reason))!;
    assert.deepEqual(brk.raw, cut);
    assert.equal(brk.source, 'cut.log.gz');
    const trailing = Buffer.concat([gz, Buffer.from('garbage after the gzip member')]);
    const b = await processInput('trail.log.gz', trailing);
    assert.equal(b.events.length, kvLines.length - 1);
    // The line in hand at the break is kept, not decoded (it could be cut short); then the break.
    assert.deepEqual(b.deadLetters.map((d) => d.reason.slice(0, 20)), ['unfinished last line', 'input broken after l']);
    assert.equal(b.deadLetters[0]!.raw, kvLines[kvLines.length - 1]);
    assert.deepEqual(b.deadLetters[1]!.raw, trailing);
  });
});

describe('hostile input: text', () => {
  it('a bad first line does not swallow the file: 1,000 good lines are stored', async () => {
    const good = takeEvents({ seed: 12, startMs: Date.UTC(2026, 0, 1) }, 1000).map((e) => JSON.stringify(toV2Record(e, { shape: 'batch' })));
    const unit = await processInput('b.ndjson', ['{"type":"receipt", broken', ...good].join('\n'));
    assert.equal(unit.events.length, 1000);
    assert.equal(unit.deadLetters.length, 1);
    assert.equal(unit.deadLetters[0]!.position, 1);
    assert.match(unit.deadLetters[0]!.reason, /malformed JSON/);
  });

  it('a first line that is not JSON, in a file larger than the document bound, still reads as lines', async () => {
    const good = takeEvents({ seed: 13, startMs: Date.UTC(2026, 0, 1) }, 1500).map((e) => JSON.stringify(toV2Record(e, { shape: 'batch' })));
    const unit = await processInput('b.ndjson', ['{', ...good].join('\n'), transformer(), small);
    assert.equal(unit.events.length, 1500);
    assert.equal(unit.deadLetters.length, 1);
  });

  it('lines that differ only in an undecodable byte keep different ids and their bytes', async () => {
    const base = kvLines[7]!;
    const a = Buffer.concat([Buffer.from(`${base}|Note=`), Buffer.from([0xff])]);
    const b = Buffer.concat([Buffer.from(`${base}|Note=`), Buffer.from([0xfe])]);
    const unit = await processInput('bytes.log', Buffer.concat([a, Buffer.from('\n'), b, Buffer.from('\n')]));
    assert.equal(unit.events.length, 2);
    assert.notEqual(unit.events[0]!.id, unit.events[1]!.id);
    assert.deepEqual(encodeText(unit.events[0]!.raw), a);
    assert.deepEqual(encodeText(unit.events[1]!.raw), b);
  });

  it('drops a UTF-8 byte-order mark instead of dead-lettering the first record', async () => {
    const unit = await processInput('bom.log', Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), Buffer.from(kvLines.slice(0, 3).join('\n'))]));
    assert.equal(unit.events.length, 3);
    assert.equal(unit.deadLetters.length, 0);
  });

  it('prints tables of 200,000 rows (no spread into Math.max)', () => {
    const rows = Array.from({ length: 200_000 }, (_, i) => [`row${i}`, String(i)]);
    assert.equal(table(['a', 'b'], rows).split('\n').length, 200_002);
  });
});

describe('hostile input: properties', () => {
  it('decodeText/encodeText round-trip any bytes, and valid UTF-8 decodes as usual', () => {
    fc.assert(fc.property(fc.uint8Array({ maxLength: 300 }), (bytes) => {
      const buf = Buffer.from(bytes);
      assert.deepEqual(encodeText(decodeText(buf)), buf);
    }), { numRuns: 2000 });
    fc.assert(fc.property(fc.string({ unit: 'grapheme' }), (s) => {
      assert.equal(decodeText(Buffer.from(s, 'utf8')), s);
    }));
  });

  it('random bytes, random nesting and random timestamps never throw out of the per-record path', async () => {
    const line = fc.oneof(
      fc.uint8Array({ maxLength: 200 }).map((b) => Buffer.from(b)),
      fc.nat({ max: 3000 }).map((d) => Buffer.from(`{"type":"receipt","timestamp":"1767225600000","x":${deepJson(d)}}`)),
      fc.oneof(fc.bigInt({ min: -(10n ** 17n), max: 10n ** 17n }).map(String), fc.string(), fc.double().map(String)).map((t) =>
        Buffer.from(JSON.stringify({ type: 'receipt', timestamp: t, aCode: 'a' }))),
      fc.string().map((t) => Buffer.from(`datetime=${t}|acc=C0A0|aCode=x`)),
    );
    await fc.assert(fc.asyncProperty(fc.array(line, { maxLength: 12 }), fc.boolean(), async (lines, gz) => {
      const text = Buffer.concat(lines.flatMap((l) => [l, Buffer.from('\n')]));
      const unit = await processInput(gz ? 'r.log.gz' : 'r.log', gz ? gzipSync(text) : text);
      for (const e of unit.events) JSON.stringify(e.doc); // every stored document serializes
      // A generated "line" may itself hold newline bytes, so bound by the lines the decoder sees.
      const physicalLines = text.toString('latin1').split('\n').length;
      assert.ok(unit.events.length + unit.deadLetters.length <= physicalLines);
    }), { numRuns: 300, examples: [[[Buffer.from([0, 10, 0]), Buffer.from([0, 10, 0])], false]] });
  });

  it('counts add up: every non-blank line is an event or a dead letter', async () => {
    await fc.assert(fc.asyncProperty(fc.array(fc.oneof(fc.constantFrom(...v2Lines), fc.string({ minLength: 1 })), { minLength: 1, maxLength: 30 }), async (ls) => {
      const clean = ls.map((l) => l.replace(/[\n\r]/g, ' '));
      const unit = await processInput('c.ndjson', clean.join('\n'));
      const nonBlank = clean.filter((l) => l.trim().length > 0).length;
      const wholeDoc = unit.deadLetters.some((d) => d.position === 0);
      if (!wholeDoc) assert.equal(unit.events.length + unit.deadLetters.length, nonBlank);
    }), { numRuns: 200 });
  });
});

