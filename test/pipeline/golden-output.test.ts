/**
 * Golden guard for the pipeline's output: a fixed-seed simulator corpus in every input shape
 * (key_value, API 1.0 json document, API 2.0 batch and stream NDJSON, plus odd lines) goes
 * through decode → classify → fingerprint → normalize → NDJSON, and the bytes must be exactly
 * those the code before the performance work (issue 31) wrote. Speed-ups may change how the
 * output is made, never what it is.
 *
 * The expected digests were computed ONCE, with the code of main at 35ece62 (before any change of
 * issue 31), by running this file's `corpus()`/digest functions and printing them (set
 * MIMELOG_GOLDEN_PRINT=1 to print the digests the current code gives).
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { Writable } from 'node:stream';
import { documentJson, type Unit } from '../../src/core/unit.js';
import { decodeInput } from '../../src/decode/input.js';
import { runInputs } from '../../src/pipeline/run.js';
import { Transformer } from '../../src/pipeline/transform.js';
import { takeEvents, toKeyValueLine, toV1JsonFile, toV2Record } from '../../src/simulator/generate.js';
import { NdjsonSink, deadLetterJson } from '../../src/sinks/ndjson.js';
import { localInputs } from '../../src/sources/local.js';
import { tempDir } from '../support/helpers.js';

const EXPECTED = {
  /** SHA-256 of the NDJSON documents, every input in order. */
  documents: '3b29dc90a03a5d3ec63de405dcc90d145ec4e207420b5b7d0b1f2f0722b15cd8',
  /** SHA-256 of what else each processed event carries (id, hash, time, type, raw, cross identity...). */
  events: 'f146a15e0b34a7f2b5c950c2f1beff0838c1418262a57f55eff1e0dd1a8365d4',
  /** SHA-256 of the dead letters, as the NDJSON sink writes them (paths made relative). */
  deadLetters: '912eaa0da8862fac7290227bbb80ddbaa1366f6791b9309a17d97b687b0f649e',
};

const COUNT = 4000;
const START_MS = Date.UTC(2026, 10, 1);

/** Lines that take the parser's rarer paths: quotes, JSON values, CRLF, bad bytes, bad records. */
const ODD_KEY_VALUE = [
  'datetime=2026-11-01T10:00:00+0100|aCode=odd1|acc=C0A0|Sender=<a@b.example>|Rcpt=x@y.example;z@w.example|Subject=\\a|b=c\\|IP=10.1.2.3|Dir=Inbound',
  'datetime=2026-11-01T10:00:01+0000|aCode=odd2|acc=C0A0|SpamProcessingDetail={"spf":{"allow":true,"info":"a|b"}}|Route=Inbound|__proto__=x|constructor=y',
  'datetime=2026-11-01T10:00:02Z|aCode=odd3|acc=C0A0|Subject=\\left open|Act=Acc|TlsVer=TLSv1.2|Cphr=TLS_AES_256_GCM_SHA384\r',
  'datetime=2026-11-01T10:00:03+0000|aCode=odd4|aCode=dup',
  'no key value here',
  'aCode=odd5|acc=C0A0',
  'datetime=not a time|aCode=odd6',
  'datetime=2026-11-01T10:00:04.123+0530|aCode=odd7|acc=C0A0|SpamInfo=[]|fileName=a.pdf, b.exe|sha256=abc|Size= 42 |Delivered=yes|url=https://Example.COM/x?y=1',
  '{"timestamp":1793527200000,"type":"receipt","subtype":"Acc","aggregateId":"x_1","_offset":3,"_partition":0,"processingId":"p","recipients":"a@b.example","nested":{"b":1,"a":[2,{"d":null,"c":"\\u0000"}]}}',
  '{"timestamp":"2026-11-01T10:00:05Z","eventType":"receipt","subType":"Rej","senderEnvelope":"<s@x.example>"}',
  '{"broken json',
  'datetime=2026-11-01T10:00:06+0000|aCode=odd8|acc=C0A0|Subject=caf\u00e9 \u2603 \ud83d\ude00|note=tab\there',
].join('\n');

/** Inputs (file name → bytes), in the order they are run. */
function corpus(): [string, Buffer][] {
  const events = takeEvents({ seed: 31, startMs: START_MS }, COUNT);
  const kv = Buffer.from(`${events.map(toKeyValueLine).join('\n')}\n`);
  const batch = Buffer.from(events.map((e, i) => JSON.stringify(toV2Record(e, { shape: 'batch', partition: 1, offset: i }))).join('\n'));
  const stream = Buffer.from(`${events.slice(0, 1000).map((e) => JSON.stringify(toV2Record(e, { shape: 'stream' }))).join('\n')}\n`);
  const v1json = Buffer.from(toV1JsonFile(events.slice(0, 1000)));
  const odd = Buffer.concat([Buffer.from(`${ODD_KEY_VALUE}\n`), Buffer.from([0x64, 0x61, 0x74, 0x65, 0x74, 0x69, 0x6d, 0x65, 0x3d, 0xff, 0xfe, 0x0a])]);
  return [['siem.log', kv], ['batch.ndjson', batch], ['stream.ndjson', stream], ['MTA_v1.json', v1json], ['receipt_odd.log', odd]];
}

/** Chunks of 64 KiB and a few odd sizes, so lines cross chunk bounds. */
async function* chunked(bytes: Buffer): AsyncGenerator<Buffer> {
  const sizes = [65_536, 1, 777, 4096];
  for (let at = 0, i = 0; at < bytes.length; i++) {
    const n = sizes[i % sizes.length]!;
    yield bytes.subarray(at, at + n);
    at += n;
  }
}

interface Digests {
  readonly documents: string;
  readonly events: string;
  readonly deadLetters: string;
}

/** The three digests of the corpus, run in this thread unit by unit. */
async function inProcess(inputs: readonly [string, Buffer][]): Promise<Digests> {
  const t = Transformer.fromSpec({ keepOriginal: true, unknownTypes: 'store' });
  const docs = createHash('sha256');
  const meta = createHash('sha256');
  const dead = createHash('sha256');
  for (const [name, bytes] of inputs) {
    for await (const batch of decodeInput(name, chunked(bytes))) {
      const unit: Unit = t.process(batch);
      for (const e of unit.events) {
        docs.update(`${documentJson(e)}\n`);
        const { doc: _doc, docJson: _json, ...rest } = e;
        meta.update(`${JSON.stringify(rest)}\n`);
      }
      for (const d of unit.deadLetters) dead.update(`${deadLetterJson(d)}\n`);
    }
  }
  return { documents: docs.digest('hex'), events: meta.digest('hex'), deadLetters: dead.digest('hex') };
}

/** The NDJSON and dead-letter digests of the whole run (`runInputs`, the CLI's path), on `workers` threads. */
async function wholeRun(inputs: readonly [string, Buffer][], workers: number): Promise<Omit<Digests, 'events'>> {
  const dir = tempDir('golden');
  const files = inputs.map(([name, bytes]) => {
    writeFileSync(join(dir, name), bytes);
    return join(dir, name);
  });
  const docs = createHash('sha256');
  const out = new Writable({ write(chunk: Buffer, _enc, done) { docs.update(chunk); done(); } });
  const deadPath = join(dir, 'dead.ndjson');
  const sink = new NdjsonSink(out, deadPath);
  const transformer = Transformer.fromSpec({ keepOriginal: true, unknownTypes: 'store' });
  await runInputs((await localInputs(files)).inputs, transformer, sink, { workers });
  await sink.close();
  const deadText = readFileSync(deadPath, 'utf8').split(`${dir}/`).join('');
  return { documents: docs.digest('hex'), deadLetters: createHash('sha256').update(deadText).digest('hex') };
}

describe('pipeline output stays byte-identical (golden corpus, issue 31)', () => {
  const inputs = corpus();

  it('documents, event fields and dead letters match the digests of the code before the speed-ups', async () => {
    const got = await inProcess(inputs);
    if (process.env.MIMELOG_GOLDEN_PRINT) process.stdout.write(`golden in-process ${JSON.stringify(got)}\n`);
    assert.deepEqual(got, EXPECTED);
  });

  for (const workers of [1, 2]) {
    it(`the whole run with --workers ${workers} writes the same NDJSON and dead letters`, async () => {
      const got = await wholeRun(inputs, workers);
      if (process.env.MIMELOG_GOLDEN_PRINT) process.stdout.write(`golden workers ${workers} ${JSON.stringify(got)}\n`);
      assert.deepEqual(got, { documents: EXPECTED.documents, deadLetters: EXPECTED.deadLetters });
    });
  }
});
