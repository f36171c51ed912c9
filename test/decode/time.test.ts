/** Every form a Mimecast time arrives in becomes its UTC instant. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { ZONE_OFFSETS_MIN, parseEpochMs, parseIsoTime, parseTimeInText } from '../../src/decode/time.js';

const INSTANT = Date.UTC(2026, 4, 18, 17, 50, 19);

describe('event times', () => {
  it('ISO 8601 with an offset (with or without a colon), with Z, and without one (UTC)', () => {
    for (const text of ['2026-05-18T18:50:19+0100', '2026-05-18T13:50:19-04:00', '2026-05-18T23:20:19+0530', '2026-05-18T17:50:19Z', '2026-05-18T17:50:19.000Z', '2026-05-18 17:50:19']) {
      assert.equal(parseIsoTime(text), INSTANT, text);
    }
    assert.ok(Number.isNaN(parseIsoTime('2026-05-18T17:50:19+2500')), 'an offset beyond ±18 h');
  });

  it('epoch milliseconds, as text or with a fraction', () => {
    assert.equal(parseEpochMs(String(INSTANT)), INSTANT);
    assert.equal(parseEpochMs(`${INSTANT}.7`), INSTANT);
    assert.ok(Number.isNaN(parseEpochMs('17e11')));
  });

  it('a time inside free text, in a short zone name', () => {
    const text = (t: string) => `Failed authentication for user@example.com <User>, Date: ${t}, IP: 10.10.10.10, Application: SMTP-MTA2`;
    assert.equal(parseTimeInText(text('2026-05-18, Time: 13:50:19 EDT')), INSTANT);
    assert.equal(parseTimeInText(text('2026-05-18, Time: 18:50:19 BST')), INSTANT);
    assert.equal(parseTimeInText(text('2026-05-19, Time: 03:50:19 AEST')), INSTANT, 'across midnight');
    assert.equal(parseTimeInText(text('2026-05-18, Time: 17:50:19 gmt')), INSTANT, 'any case');
    // Ambiguous or unknown names stay unread rather than read wrong.
    for (const zone of ['IST', 'CST', 'XYZ']) assert.ok(Number.isNaN(parseTimeInText(text(`2026-05-18, Time: 17:50:19 ${zone}`))), zone);
    assert.ok(Number.isNaN(parseTimeInText('Policy changed by admin@example.com')), 'no time in the text');
  });

  it('property: any instant written as a wall clock in any known zone reads back as that instant', () => {
    const zones = Object.keys(ZONE_OFFSETS_MIN);
    fc.assert(fc.property(fc.integer({ min: Date.UTC(1990, 0, 1) / 1000, max: Date.UTC(2090, 0, 1) / 1000 }), fc.constantFrom(...zones), (seconds, zone) => {
      const ms = seconds * 1000;
      const wall = new Date(ms + ZONE_OFFSETS_MIN[zone]! * 60_000).toISOString();
      assert.equal(parseTimeInText(`x, Date: ${wall.slice(0, 10)}, Time: ${wall.slice(11, 19)} ${zone}, y`), ms);
    }));
  });
});

describe('parseIsoTime keeps its last answer (issue 31)', () => {
  it('answers each text as if asked alone, whatever was asked before', () => {
    const texts = ['2017-05-26T16:47:41+0100', '2017-05-26T16:47:41+0100', 'not a time', 'not a time', '2017-05-26T16:47:41Z', '2017-02-30T00:00:00Z', '2017-05-26T16:47:41+0100'];
    const expected = [Date.UTC(2017, 4, 26, 15, 47, 41), Date.UTC(2017, 4, 26, 15, 47, 41), NaN, NaN, Date.UTC(2017, 4, 26, 16, 47, 41), NaN, Date.UTC(2017, 4, 26, 15, 47, 41)];
    assert.deepEqual(texts.map(parseIsoTime), expected);
  });
});
