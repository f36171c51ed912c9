/** Sources of one Mimecast account share a lease (one replica runs them all); a tenant's name is on every event it sends. */
import assert from 'node:assert/strict';
import { it } from 'node:test';
import type { Sink } from '../../src/core/sink.js';
import type { Unit } from '../../src/core/unit.js';
import { leaseGroups, type ServiceSource } from '../../src/service/replica.js';
import { tenantSink } from '../../src/service/tenant.js';
import type { SourceStarter } from '../../src/service/run.js';
import { processInput } from '../support/helpers.js';

const source = (name: string, o: { tenant?: string; account?: string } = {}): ServiceSource => ({
  starter: { name, kind: 'mimecast-v2-stream', checkpointNames: [], ...o, start: () => Promise.reject(new Error('not run here')) } as SourceStarter,
  status: { name, kind: 'mimecast-v2-stream', checkpointNames: [], running: 'starting', restarts: 0 },
});

it('sources of one account (same tenant, or same URL and credentials) form one lease group; others keep their own', () => {
  const groups = leaseGroups([
    source('globex-stream', { account: 'a1' }), source('globex-feeds', { account: 'a1' }),
    source('acme', { account: 'a2' }),
    source('initech-v1', { tenant: 'initech', account: 'a3' }), source('initech-feeds', { tenant: 'initech', account: 'a4' }),
  ]);
  assert.deepEqual([...groups].map(([name, members]) => [name, members.map((m) => m.starter.name)]), [
    ['globex-feeds+globex-stream', ['globex-stream', 'globex-feeds']],
    ['acme', ['acme']],
    ['initech', ['initech-v1', 'initech-feeds']],
  ]);
});

it('a tenant is stamped on every event as organization.name, in the document and in JSON text made on a worker; event.id stays', async () => {
  const unit = await processInput('t.log', 'datetime=2026-11-02T10:00:00+0000|acc=C0A0|aCode=A1|Subject=s1\ndatetime=2026-11-02T10:00:01+0000|acc=C0A0|aCode=A2|Subject=s2');
  const withText: Unit = { ...unit, events: unit.events.map((e, i) => (i === 0 ? { ...e, docJson: JSON.stringify(e.doc) } : e)) };
  const seen: Unit[] = [];
  const inner: Sink = { write: async (u) => (seen.push(u), { stored: u.events.length, duplicates: 0, collisions: 0, deadLetters: 0 }), close: async () => undefined };
  await tenantSink(inner, 'globex').write(withText);
  const [first, second] = seen[0]!.events;
  assert.deepEqual(JSON.parse(first!.docJson!).organization, { name: 'globex' });
  assert.deepEqual(JSON.parse(first!.docJson!).event, JSON.parse(JSON.stringify(unit.events[0]!.doc.event)));
  assert.deepEqual(first!.doc.organization, { name: 'globex' });
  assert.deepEqual(second!.doc.organization, { name: 'globex' });
  assert.equal(second!.docJson, undefined);
  assert.deepEqual(seen[0]!.events.map((e) => e.id), unit.events.map((e) => e.id));
  assert.equal(unit.events[0]!.doc.organization, undefined, 'the unit handed in is not changed');
});
