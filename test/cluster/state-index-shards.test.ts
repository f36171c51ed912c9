/**
 * `StateIndex.ensure()` on an index that exists already: one made beforehand with several shards
 * (by hand, or by a template) is refused where it is ensured, said how to fix it, before any
 * replica walks it by `_seq_no` (a loopback stand-in answering as the engine does).
 */
import assert from 'node:assert/strict';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { describe, it } from 'node:test';
import { StateIndex } from '../../src/cluster/state-index.js';
import { LoopbackStandIn, clientOfStandIn } from './stand-in-engine.js';

/** An engine where the index exists (an alias `state` of `state-v1`) with `shards` shards. */
class Existing extends LoopbackStandIn {
  shards = '3';
  /** What the settings request is answered (a role without view_index_metadata gets 403). */
  settingsStatus = 200;
  healthAsked = 0;

  protected async answer(req: IncomingMessage, res: ServerResponse): Promise<void> {
    for await (const _ of req);
    const reply = (status: number, body: unknown): void => void res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(body));
    const path = new URL(req.url!, this.url).pathname;
    if (req.method === 'PUT' && path === '/state') return reply(400, { error: { type: 'resource_already_exists_exception', reason: 'index [state-v1/abc] already exists' }, status: 400 });
    if (path === '/state/_settings/index.number_of_shards') return reply(this.settingsStatus, this.settingsStatus === 200 ? { 'state-v1': { settings: { index: { number_of_shards: this.shards } } } } : { error: { type: 'security_exception' }, status: this.settingsStatus });
    if (path.startsWith('/_cluster/health/state')) return void (this.healthAsked++, reply(200, { status: 'green' }));
    reply(404, {});
  }
}

describe('the state index ensured: its shards checked', () => {
  const engine = new Existing();
  const client = clientOfStandIn(engine, 10_000);

  it('an existing state index of 3 shards is refused where it is ensured, naming the index and how to fix it; one of 1 shard is taken', async () => {
    await assert.rejects(new StateIndex(client(), 'state').ensure(), /state index state \(index state-v1\) has 3 shards, not 1: .*_seq_no.*number_of_shards":1.*_reindex/);
    assert.equal(engine.healthAsked, 0, 'refused before it is used');
    engine.shards = '1';
    await new StateIndex(client(), 'state').ensure();
    assert.equal(engine.healthAsked, 1);
  });

  it('settings it may not read (403) or an engine in trouble (503) are no new reason for a replica not to start: the check is passed over', async () => {
    engine.shards = '3';
    for (const status of [403, 503]) {
      engine.settingsStatus = status;
      const asked = engine.healthAsked;
      await new StateIndex(client(), 'state').ensure();
      assert.equal(engine.healthAsked, asked + 1, `${status}: ensured as before the check existed`);
    }
    engine.settingsStatus = 200;
  });
});
