/**
 * A unit crosses back from a worker as columns (pipeline/wire.ts): what the driver's thread gets
 * back must be the unit the worker made, every field of every event, its document text and its
 * dead letters, whatever the inputs (several log types, a line that is not UTF-8, a json document,
 * cross-version identities or none).
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import type { Unit } from '../../src/core/unit.js';
import { type DecodedBatch, decodeBytes } from '../../src/decode/input.js';
import { Transformer } from '../../src/pipeline/transform.js';
import { batchFromWire, batchToWire, fromWire, toWire, transferred } from '../../src/pipeline/wire.js';
import { SAMPLES } from '../support/helpers.js';

async function batchesOf(name: string, bytes: Buffer): Promise<DecodedBatch[]> {
  const out: DecodedBatch[] = [];
  for await (const b of decodeBytes(name, bytes)) out.push(b);
  return out;
}

/** Every field a sink may read, as plain data. */
function fields(unit: Unit) {
  return {
    events: unit.events.map((e) => ({ id: e.id, hash: e.hash, timeMs: e.timeMs, classification: e.classification, raw: e.raw, format: e.format, position: e.position, cross: e.cross, docJson: e.docJson })),
    deadLetters: unit.deadLetters.map((d) => ({ ...d, raw: Buffer.isBuffer(d.raw) ? `bytes:${d.raw.toString('hex')}` : d.raw })),
    rest: [unit.source, unit.position, unit.last],
  };
}

describe('the wire between a worker and the driver', () => {
  const kv = readFileSync(join(SAMPLES, 'understanding-siem-logs.kv'));
  const notUtf8 = Buffer.concat([kv, Buffer.from('\ndatetime=2026-11-01T00:00:00+0000|acc=C1|Subject=caf'), Buffer.from([0xe9, 0xff]), Buffer.from('|Dir=Inbound\nnot a record\n')]);
  const document = Buffer.from(JSON.stringify({ type: 'MTA', data: [{ datetime: '2026-11-01T00:00:00+0000', acc: 'C1', Sender: 'a@b.c', Subject: 'Grüße' }, { acc: 'C1', Subject: 'x' }] }));
  const inputs: [string, Buffer][] = [['siem.log', notUtf8], ['siem_receipt.json', document]];

  it('hands a worker the batch it was given: every item, its position, its bytes and how to parse it', async () => {
    let plain = 0;
    for (const [name, bytes] of inputs) {
      for (const batch of await batchesOf(name, bytes)) {
        const wire = batchToWire(batch);
        plain += wire.positions.length;
        const back = batchFromWire(structuredClone(wire));
        assert.deepEqual(back, batch);
        back.items.forEach((item, i) => assert.equal(Buffer.isBuffer(item.raw), Buffer.isBuffer(batch.items[i]!.raw)));
      }
    }
    assert.ok(plain > 10, `${plain} lines crossed as one text`);
  });

  for (const withCross of [false, true]) {
    it(`gives back every field of every event and dead letter (cross-version identities ${withCross ? 'made' : 'not made'})`, async () => {
      const t = Transformer.fromSpec({ keepOriginal: true, unknownTypes: 'store' });
      let events = 0;
      for (const [name, bytes] of inputs) {
        for (const batch of await batchesOf(name, bytes)) {
          const sent = batchFromWire(structuredClone(batchToWire(batch)));
          const made = t.process(sent, false, withCross);
          const wire = toWire(made, sent.items);
          const expected = fields(made);
          const back = fromWire(structuredClone(wire, { transfer: transferred([wire]) }), batch.items);
          assert.deepEqual(fields(back), expected);
          events += back.events.length;
          if (withCross) assert.ok(back.events.some((e) => e.cross !== undefined));
        }
      }
      assert.ok(events > 10, `${events} events`);
    });
  }
});
