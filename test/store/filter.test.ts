/** Times as people type them into --from/--to and the console's date-time fields. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parseTime } from '../../src/store/filter.js';

describe('search times', () => {
  it('take a date, a time to the minute (as a browser date-time field sends it) or to the second; UTC unless a zone is given', () => {
    const iso = (v: string) => new Date(parseTime(v, '--from')).toISOString();
    assert.equal(iso('2026-11-30'), '2026-11-30T00:00:00.000Z');
    assert.equal(iso('2026-11-30T08:00'), '2026-11-30T08:00:00.000Z');
    assert.equal(iso('2026-11-30 08:00'), '2026-11-30T08:00:00.000Z');
    assert.equal(iso('2026-11-30T08:00Z'), '2026-11-30T08:00:00.000Z');
    assert.equal(iso('2026-11-30T08:00+01:00'), '2026-11-30T07:00:00.000Z');
    assert.equal(iso('2026-11-30T08:00:30Z'), '2026-11-30T08:00:30.000Z');
  });

  it('refuse what is not a time, naming the field and an example', () => {
    for (const v of ['2026-11-30T08', '2026-11-30T25:00', '2026-13-01T08:00', 'yesterday', '2026-11-30T08:00 GMT']) {
      assert.throws(() => parseTime(v, '--to'), /^.*--to: not an ISO 8601 date or time \(e\.g\. 2026-11-30, 2026-11-30T08:00 or/, v);
    }
  });
});
