import assert from 'node:assert/strict';
import { gzipSync } from 'node:zlib';
import { describe, it } from 'node:test';
import { zipMembers } from '../../src/simulator/zip.js';
import { detectTextFormat } from '../../src/decode/input.js';
import { takeEvents, toKeyValueLine, toV1JsonFile, toV2Record } from '../../src/simulator/generate.js';
import { processInput } from '../support/helpers.js';

const events = takeEvents({ seed: 7, startMs: Date.UTC(2026, 0, 1) }, 60);
const kvText = events.map(toKeyValueLine).join('\n') + '\n';

const zip = zipMembers;

describe('input format detection', () => {
  it('tells key_value, NDJSON and json documents apart from the first line', () => {
    assert.equal(detectTextFormat('datetime=2017-05-26T16:47:41+0100|acc=C0A0'), 'key_value');
    assert.equal(detectTextFormat('{"type":"receipt","timestamp":"1"}'), 'ndjson');
    assert.equal(detectTextFormat('{"type":"MTA","data":[{"a":1}]}'), 'json-document');
    assert.equal(detectTextFormat('{ "type" : "MTA", "data" : ['), 'json-document');
    // Not a whole value: a json document's first line, or a bad NDJSON line; the input's end decides.
    assert.equal(detectTextFormat('{"broken": }'), 'json-document');
  });

  it('decodes key_value, gzip and the same events from a v1 json document alike', async () => {
    const plain = await processInput('x.log', kvText);
    const gz = await processInput('x.log.gz', gzipSync(kvText));
    const doc = await processInput('x.json', toV1JsonFile(events));
    assert.equal(plain.events.length, events.length);
    assert.deepEqual(gz.events.map((e) => e.id), plain.events.map((e) => e.id));
    assert.deepEqual(doc.events.map((e) => e.id), plain.events.map((e) => e.id));
  });

  it('decodes API 2.0 batch and stream NDJSON to the same ids', async () => {
    const batch = events.map((e, i) => JSON.stringify(toV2Record(e, { shape: 'batch', partition: 3, offset: i }))).join('\n');
    const stream = events.map((e) => JSON.stringify(toV2Record(e, { shape: 'stream' }))).join('\n');
    const a = await processInput('batch.ndjson', batch);
    const b = await processInput('stream.ndjson', stream);
    assert.equal(a.events.length, events.length);
    assert.deepEqual(a.events.map((e) => e.id), b.events.map((e) => e.id));
    assert.ok(a.events.every((e) => e.classification.source === 'record'));
    assert.deepEqual(a.events.map((e) => e.classification.logType), events.map((e) => e.logType));
  });

  it('types zip members by their names, each member its own input', async () => {
    const receipts = events.filter((e) => e.logType === 'receipt').slice(0, 3);
    const deliveries = events.filter((e) => e.logType === 'delivery').slice(0, 2);
    const bytes = await zip({
      'receipt_20211018093329655.log': receipts.map(toKeyValueLine).join('\n'),
      'delivery_20211018093329700.log': deliveries.map(toKeyValueLine).join('\n'),
    });
    const unit = await processInput('0b6f3c2e.zip', bytes);
    assert.equal(unit.events.length, 5);
    const types = unit.events.map((e) => [e.classification.logType, e.classification.source]);
    // Members in name order: delivery_ before receipt_.
    assert.deepEqual(types, [['delivery', 'file_name'], ['delivery', 'file_name'], ['receipt', 'file_name'], ['receipt', 'file_name'], ['receipt', 'file_name']]);
  });

  it('dead-letters a truncated zip whole, with its bytes', async () => {
    const bytes = await zip({ 'receipt_1.log': kvText });
    const unit = await processInput('t.zip', bytes.subarray(0, bytes.length - 30));
    assert.equal(unit.events.length, 0);
    assert.equal(unit.deadLetters.length, 1);
    assert.match(unit.deadLetters[0]!.reason, /zip/);
    assert.equal((unit.deadLetters[0]!.raw as Buffer).length, bytes.length - 30);
  });

  it('keeps the events before a gzip truncation and dead-letters the break', async () => {
    const big = takeEvents({ seed: 8, startMs: Date.UTC(2026, 0, 1) }, 3000).map(toKeyValueLine).join('\n');
    const gz = gzipSync(big);
    const unit = await processInput('cut.log.gz', gz.subarray(0, Math.floor(gz.length * 0.6)));
    assert.ok(unit.events.length > 100, `kept ${unit.events.length}`);
    // The line in hand at the break (kept, not decoded), then the break with the compressed bytes.
    assert.equal(unit.deadLetters.length, 2);
    assert.match(unit.deadLetters[0]!.reason, /unfinished last line/);
    assert.match(unit.deadLetters[1]!.reason, /input broken after line \d+/);
  });

  it('dead-letters a truncated json document whole with its text', async () => {
    const text = '{ "type" : "MTA", "data" : [{"datetime":"2017-05-26T16:47:41+0100"';
    const unit = await processInput('receipt_1.json', text);
    assert.equal(unit.events.length, 0);
    assert.equal(unit.deadLetters[0]!.raw, text);
    assert.match(unit.deadLetters[0]!.reason, /json document/);
  });

  it('a record of a json document nested too deep (even 100,000 levels) is a dead letter alone, with its text; the others are stored', async () => {
    const doc = JSON.parse(toV1JsonFile(events.slice(0, 3))) as { data: Record<string, unknown>[] };
    const deep = `{"a":${'['.repeat(100_000)}${']'.repeat(100_000)}}`;
    const text = JSON.stringify(doc).replace(/},\{/, `},${deep},{`); // between the first and second record
    const unit = await processInput('receipt_1.json', text);
    assert.equal(unit.events.length, 3);
    assert.deepEqual(unit.events.map((e) => e.position), [1, 3, 4]);
    assert.equal(unit.deadLetters.length, 1);
    assert.equal(unit.deadLetters[0]!.position, 2);
    assert.match(unit.deadLetters[0]!.reason, /nested deeper than 64 levels/);
    assert.equal(unit.deadLetters[0]!.raw.toString(), deep);
  });

  it('dead-letters a malformed NDJSON line and keeps the rest, with line numbers', async () => {
    const good = events.slice(0, 3).map((e) => JSON.stringify(toV2Record(e, { shape: 'batch' })));
    const unit = await processInput('b.ndjson', [good[0], '{"type":"receipt",', good[1], '', good[2]].join('\n'));
    assert.equal(unit.events.length, 3);
    assert.deepEqual(unit.events.map((e) => e.position), [1, 3, 5]);
    assert.equal(unit.deadLetters.length, 1);
    assert.equal(unit.deadLetters[0]!.position, 2);
    assert.match(unit.deadLetters[0]!.reason, /malformed JSON/);
  });

  it('reads an NDJSON line over 1 MiB whole', async () => {
    const e = toV2Record(events[0]!, { shape: 'batch' });
    e.subject = 'x'.repeat(1_200_000);
    const unit = await processInput('big.ndjson', JSON.stringify(e));
    assert.equal(unit.events.length, 1);
    assert.equal((unit.events[0]!.doc.email as { subject: string }).subject.length, 1_200_000);
  });

  it('dead-letters a record without a valid time', async () => {
    const unit = await processInput('x.log', 'acc=C0A0|aCode=x\ndatetime=yesterday|acc=C0A0\n');
    assert.deepEqual(unit.deadLetters.map((d) => d.reason), ['no event time (neither datetime nor timestamp)', 'invalid datetime "yesterday"']);
  });
});
