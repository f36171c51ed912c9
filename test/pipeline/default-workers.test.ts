/** How many threads process records by default (issue 31): every core unless the embedded store's writer thread needs one. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { defaultWorkers } from '../../src/pipeline/driver.js';

describe('defaultWorkers', () => {
  it('gives every core to the transform when events do not go into the embedded store', () => {
    assert.equal(defaultWorkers(2, false), 2);
    assert.equal(defaultWorkers(8, false), 8);
  });

  it('leaves a core to the store writer thread when events go into the embedded store, at least 1', () => {
    assert.equal(defaultWorkers(2, true), 1);
    assert.equal(defaultWorkers(2), 1);
    assert.equal(defaultWorkers(1, true), 1);
    assert.equal(defaultWorkers(1, false), 1);
  });
});
