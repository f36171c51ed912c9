/** A zip member whose bytes fail their CRC-32 yields no record: only its dead letter. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { zipMembers } from '../../src/simulator/zip.js';
import { takeEvents, toKeyValueLine } from '../../src/simulator/generate.js';
import { processInput } from '../support/helpers.js';

const lines = takeEvents({ seed: 25, startMs: Date.UTC(2026, 0, 1) }, 20).map((e) => toKeyValueLine(e));

describe('zip members and their CRC', () => {
  it('a member with a bad CRC is dead-lettered with the zip bytes and none of its records is stored; the good member is', async () => {
    const zip = await zipMembers({ 'receipt_1.log': lines.slice(0, 10).join('\n'), 'receipt_2.log': lines.slice(10).join('\n') }, { store: true });
    const at = zip.indexOf(Buffer.from(lines[8]!.slice(0, 20)));
    assert.ok(at > 0);
    const bad = Buffer.from(zip);
    bad[at + 5] = bad[at + 5]! ^ 0x01; // a bit flipped inside the 9th record of the first member, sizes unchanged
    const unit = await processInput('c.zip', bad);
    assert.deepEqual(unit.deadLetters.map((d) => [d.source, d.reason.replace(/\(.*\)/, '(…)')]), [['c.zip!receipt_1.log', 'zip member: CRC-32 mismatch (…): none of its records is kept']]);
    assert.deepEqual(unit.deadLetters[0]!.raw, bad);
    assert.equal(unit.events.length, 10, 'only the good member');
    assert.deepEqual(unit.events.map((e) => e.raw), lines.slice(10), 'exactly the records of the good member');
  });
});
