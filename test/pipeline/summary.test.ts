import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { RunSummary } from '../../src/pipeline/summary.js';

describe('run summary', () => {
  it('lists dead-letter reasons (sentences with spaces and "=") each with its count ahead, most first, set apart by "; "', () => {
    const s = new RunSummary();
    s.deadLetterReasons.set('expected key=value at column N', 2);
    s.deadLetterReasons.set('invalid datetime "notatime"', 1);
    s.deadLetterReasons.set('line over N bytes', 3);
    const line = s.format().split('\n').find((l) => l.startsWith('  dead letters:'));
    assert.equal(line, '  dead letters:   3 × line over N bytes; 2 × expected key=value at column N; 1 × invalid datetime "notatime"');
  });
});
