/**
 * `mimelog run` with two destinations from its config: the embedded store and a syslog relay
 * (RELP to a real rsyslog). Every record of the spool reaches both, once; `stats` and
 * `/metrics`' numbers come from the store's per-destination counts.
 */
import assert from 'node:assert/strict';
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { stringify } from 'yaml';
import { generateCampaign, takeEvents, toKeyValueLine } from '../../../src/simulator/generate.js';
import { runCli, tempDir } from '../../support/helpers.js';
import { Rsyslog } from '../../support/receivers/rsyslog.js';
import { storedIds } from '../../support/simulator.js';

let rx: Rsyslog;
const dir = tempDir('mimelog-run-syslog-');
before(async () => {
  rx = await Rsyslog.start();
});
after(async () => {
  await rx?.stop();
  rmSync(dir, { recursive: true, force: true });
});

describe('mimelog run: sink: a list of the store and a syslog relay', () => {
  it('delivers every spool record to both, each once, and stats counts what the relay acknowledged', { timeout: 120_000 }, async () => {
    const spool = join(dir, 'spool');
    mkdirSync(spool);
    const events = [...takeEvents({ seed: 31, startMs: Date.UTC(2026, 10, 20) }, 700), ...generateCampaign({ seed: 3, startMs: Date.UTC(2026, 10, 21), recipients: 20 }).events];
    writeFileSync(join(spool, 'mail.log'), events.map(toKeyValueLine).join('\n') + '\n');
    const db = join(dir, 'run.db');
    const config = join(dir, 'mimelog.yaml');
    writeFileSync(config, stringify({
      store: db,
      listen: '127.0.0.1:0',
      sink: [{ kind: 'sqlite' }, { kind: 'syslog', name: 'qradar', host: '127.0.0.1', port: rx.ports.relp, transport: 'relp', format: 'leef' }],
      sources: [{ name: 'drop', kind: 'spool', path: spool }],
    }), { mode: 0o600 });
    const check = await runCli(['run', '--config', config, '--check']);
    assert.equal(check.code, 0, check.stderr);
    assert.match(check.stdout, /sink sqlite \+ qradar/);
    const run = await runCli(['run', '--config', config, '--once']);
    assert.equal(run.code, 0, run.stderr);
    const stored = storedIds(db);
    assert.equal(stored.length, events.length, 'the store holds every record');
    const received = await rx.waitFor(stored.length);
    const ids = received.map((r) => r.parsed['rfc5424-sd']?.['mimelog@32473']?.id).filter((id): id is string => !!id).sort();
    assert.deepEqual(ids, stored, 'the relay got every stored event, each once');
    assert.ok(received.every((r) => r.msg.startsWith('LEEF:2.0|Mimecast|')), 'LEEF bodies');
    const stats = JSON.parse((await runCli(['stats', '--db', db, '--json'])).stdout);
    assert.deepEqual(stats.destinations.map((d: Record<string, unknown>) => [d.destination, d.acknowledged, d.refused]), [['qradar', events.length, 0]]);
  });
});
