/**
 * Red-team round 4: what the classifier keeps per key shape depends on the record's API too (an
 * API 2.0 record has no drift keys), so a v2 record and a v1 record with the same keys each get
 * their own answer, whichever came first.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { it } from 'node:test';
import { Classifier } from '../../src/classify/classify.js';
import { DEFAULT_TABLES } from '../../src/classify/type-tables.js';
import { keyShape } from '../../src/fingerprint/fingerprint.js';
import { SAMPLES, kv } from '../support/helpers.js';

it('a v1 record shaped like a v2 record classified before it keeps its drift keys (and the v2 one has none)', () => {
  const line = `${readFileSync(`${SAMPLES}understanding-siem-logs.kv`, 'utf8').trim().split('\n')[0]}|redTeamNewKey=1`;
  const v1 = kv(line);
  const v2 = { ...v1, api: 'v2' as const };
  const shaped = new Classifier(DEFAULT_TABLES);
  const plain = new Classifier(DEFAULT_TABLES);
  for (const signals of [{ declared: 'delivery' }, {}]) {
    for (const record of [v2, v1, v2]) assert.deepEqual(shaped.classify(record, signals, keyShape(record)), plain.classify(record, signals), `${record.api} ${JSON.stringify(signals)}`);
  }
  assert.ok(plain.classify(v1, { declared: 'delivery' }).driftKeys.includes('redTeamNewKey'));
});
