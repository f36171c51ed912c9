/** A lease document's checkpoints come back from the engine, where anyone may have written them: each entry is checked. */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { restoreCheckpoints } from '../../src/cluster/checkpoints.js';
import { Store } from '../../src/store/store.js';
import { tempDir } from '../support/helpers.js';

const good = (cursor: string) => ({ kind: 'mimecast-v2-stream', position: 0, cursor, complete: false, newest_event_ms: 1_700_000_000_000, newest_by_type: { receipt: 1_700_000_000_000 }, epoch: 3 });

describe('restoring checkpoints from a lease document', () => {
  const dir = tempDir('cluster-restore');

  it('restores the entries that are checkpoints and reports each one that is not, with why, instead of throwing at every start', () => {
    const store = new Store(join(dir, 'mixed.db'));
    try {
      const refused: [string, string][] = [];
      const restored = restoreCheckpoints(store, {
        'mimecast-v2-stream https://a.example': good('token-7'),
        'mimecast-v2-stream https://b.example': null,
        'mimecast-v2-stream https://c.example': { ...good('token-8'), newest_by_type: 'receipt' },
        'mimecast-v2-stream https://d.example': { ...good('token-9'), position: '7' },
        'mimecast-v2-stream https://e.example': { ...good('token-10'), kind: 'spool' },
      }, (key, reason) => refused.push([key, reason]));
      assert.equal(restored, 1);
      assert.equal(store.registry.checkpoint('mimecast-v2-stream https://a.example')?.cursor, 'token-7');
      assert.deepEqual(refused.map(([key]) => key), ['b', 'c', 'd', 'e'].map((h) => `mimecast-v2-stream https://${h}.example`));
      assert.match(refused[1]![1], /newest_by_type/);
      assert.match(refused[2]![1], /position/);
      assert.match(refused[3]![1], /spool/);
      for (const h of ['b', 'c', 'd', 'e']) assert.equal(store.registry.checkpoint(`mimecast-v2-stream https://${h}.example`), undefined);
    } finally {
      store.close();
    }
  });

  it('says so when the checkpoints are not an object at all', () => {
    const store = new Store(join(dir, 'list.db'));
    try {
      const refused: string[] = [];
      assert.equal(restoreCheckpoints(store, ['token'], (_key, reason) => refused.push(reason)), 0);
      assert.deepEqual(refused, ['not an object of checkpoints']);
    } finally {
      store.close();
    }
  });
});
