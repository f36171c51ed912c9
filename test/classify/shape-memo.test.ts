/**
 * What the classifier keeps per key shape (issue 31): a record classified with its shape gets the
 * classification it gets without it, whatever the signals, and two classifiers (other tables) never
 * see each other's answers for one shape.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { Classifier } from '../../src/classify/classify.js';
import { DEFAULT_TABLES, type TypeTables } from '../../src/classify/type-tables.js';
import { keyShape } from '../../src/fingerprint/fingerprint.js';
import { SAMPLES, kv } from '../support/helpers.js';

describe('classification kept per key shape', () => {
  const lines = readFileSync(`${SAMPLES}understanding-siem-logs.kv`, 'utf8').trim().split('\n');

  it('gives each record, twice over, the classification it gets without a shape (keys, file name, --type)', () => {
    const plain = new Classifier(DEFAULT_TABLES);
    const shaped = new Classifier(DEFAULT_TABLES);
    for (const signals of [{}, { fileName: 'receipt_20260101.log' }, { declared: 'delivery' }]) {
      for (let round = 0; round < 2; round++) {
        for (const line of [...lines, `${lines[0]}|brandNewKey=1`]) {
          const record = kv(line);
          assert.deepEqual(shaped.classify(record, signals, keyShape(record)), plain.classify(record, signals));
        }
      }
    }
  });

  it('keeps one classifier answers apart from another with other tables', () => {
    const record = kv(lines[0]!);
    const shape = keyShape(record);
    const defaults = new Classifier(DEFAULT_TABLES).classify(record, {}, shape);
    // Tables that know no type's keys: every record is unknown to them.
    const noTypes = { ...DEFAULT_TABLES, typesByKey: new Map() } as unknown as TypeTables;
    const other = new Classifier(noTypes).classify(record, {}, shape);
    assert.notEqual(defaults.logType, 'unknown');
    assert.equal(other.logType, 'unknown');
  });
});
