/**
 * The delivering sink: a unit's checkpoint moves only when every destination has an outcome for
 * every event; one destination that holds back holds the checkpoint (and says so); a refusal is a
 * dead letter naming the destination; a destination that gives up stops every later commit.
 * The destinations here are small in-test ones whose answers the test controls; the real ones
 * (search engines, Splunk, syslog, Kafka, Sentinel) have their own suites.
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { after, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Unit } from '../../src/core/unit.js';
import { Logger } from '../../src/log/logger.js';
import { DeliveringSink } from '../../src/sinks/delivering-sink.js';
import type { Destination, DestinationReport } from '../../src/sinks/destination.js';
import { prepareDeadLetter } from '../../src/store/prepared.js';
import { Store } from '../../src/store/store.js';
import { processInput, tempDir } from '../support/helpers.js';

const LINES = (from: number, n: number) => Array.from({ length: n }, (_, i) => `datetime=2026-11-02T10:00:${String(i % 60).padStart(2, '0')}+0000|acc=C0A0|aCode=A${from + i}|Subject=s${from + i}`).join('\n');

/** A destination that acknowledges what it is given, once `open` is true; refuses the events whose subject is in `refuse`. */
class Gate implements Destination {
  open = true;
  failWith: string | undefined;
  readonly received: string[] = [];
  constructor(readonly name: string, readonly refuse = new Set<string>()) {}
  async deliver(unit: Unit): Promise<DestinationReport> {
    while (!this.open) await sleep(10);
    if (this.failWith) throw new Error(this.failWith);
    const rejected = unit.events.filter((e) => this.refuse.has(String((e.doc.email as { subject?: unknown } | undefined)?.subject)))
      .map((e) => prepareDeadLetter({ source: unit.source, position: e.position, reason: `${this.name} refused event ${e.id}: test`, raw: e.raw }));
    for (const e of unit.events) this.received.push(e.id);
    return { indexed: unit.events.length - rejected.length, duplicates: 0, collisions: [], rejected, resent: 0 };
  }
  async close(): Promise<void> {}
}

function logger(): { log: Logger; lines: () => Record<string, unknown>[] } {
  const out = new PassThrough();
  let text = '';
  out.on('data', (c) => (text += c));
  return { log: new Logger(out, 'info'), lines: () => text.split('\n').filter(Boolean).map((l) => JSON.parse(l)) };
}

const state = (position: number) => ({ kind: 'file' as const, identity: `pos-${position}` });

describe('delivering sink: several destinations, one checkpoint', () => {
  const dir = tempDir('mimelog-delivering-');
  after(() => dir && import('node:fs').then((fs) => fs.rmSync(dir, { recursive: true, force: true })));

  it('holds the checkpoint while one destination holds back, says which, and commits when it answers', async () => {
    const store = new Store(join(dir, 'hold.db'));
    const fast = new Gate('fast');
    const slow = new Gate('slow');
    slow.open = false;
    const { log, lines } = logger();
    const sink = new DeliveringSink(store, [fast, slow], { keepEvents: true, holdWarningMs: 50 }, log);
    const unit = await processInput('a.log', LINES(0, 5));
    const written = sink.write(unit, state(5));
    await sleep(300);
    assert.equal(fast.received.length, 5, 'the fast destination got the unit');
    assert.equal(store.registry.checkpoint('a.log'), undefined, 'no checkpoint while one destination holds back');
    assert.equal(store.db.prepare('SELECT count(*) AS n FROM events').pluck().get(), 0, 'no event committed either');
    const held = lines().filter((l) => l.msg === 'checkpoint held: waiting for a destination');
    assert.ok(held.length >= 2, `warned while held (${held.length})`);
    assert.deepEqual(held[0]!.waiting_for, ['slow']);
    slow.open = true;
    assert.deepEqual(await written, { stored: 5, duplicates: 0, collisions: 0, deadLetters: 0 });
    assert.equal(store.registry.checkpoint('a.log')?.position, unit.position);
    const counts = store.registry.destinations().map((d) => [d.destination, d.acknowledged, d.units]);
    assert.deepEqual(counts, [['fast', 5, 1], ['slow', 5, 1]]);
    await sink.close();
    store.close();
  });

  it("keeps a destination's refusal as a dead letter naming it, while the others and the store keep the event", async () => {
    const store = new Store(join(dir, 'refuse.db'));
    const picky = new Gate('picky', new Set(['s2']));
    const sink = new DeliveringSink(store, [new Gate('other'), picky], { keepEvents: true }, logger().log);
    const counts = await sink.write(await processInput('b.log', LINES(0, 4)), state(4));
    assert.equal(counts.stored, 4);
    assert.equal(counts.deadLetters, 1);
    const [dead] = store.db.prepare('SELECT reason, raw FROM dead_letters').all() as { reason: string; raw: Buffer | string }[];
    assert.match(dead!.reason, /^picky refused event /);
    assert.match(String(dead!.raw), /Subject=s2/);
    assert.deepEqual(store.registry.destinations().map((d) => [d.destination, d.acknowledged, d.refused]), [['other', 4, 0], ['picky', 3, 1]]);
    await sink.close();
    store.close();
  });

  it('an event a destination refused is not taken for a copy of itself when it is sent again (replayed)', async () => {
    const store = new Store(join(dir, 'replay.db'));
    const picky = new Gate('picky', new Set(['s1']));
    const sink = new DeliveringSink(store, [picky], { keepEvents: false }, logger().log);
    const unit = await processInput('r.log', LINES(0, 3).replace(/acc=C0A0/g, 'acc=C0A0|Dir=Inbound|Rcpt=a@b.test|Sender=c@d.test|IP=10.0.0.1|Act=Acc|MsgId=<m@x>'));
    assert.ok(unit.events.every((e) => e.cross !== undefined), 'receipt events carry a cross-version key');
    assert.equal((await sink.write(unit, state(3))).deadLetters, 1);
    picky.refuse.clear(); // the cause is gone: the dead letter is replayed
    picky.received.length = 0;
    const refused = unit.events.find((e) => String((e.doc.email as { subject?: unknown }).subject) === 's1')!;
    const again = await sink.write({ ...unit, events: [refused], deadLetters: [] });
    assert.deepEqual(picky.received, [refused.id], 'sent to the destination again');
    assert.equal(again.stored, 1);
    assert.equal(again.duplicates, 0);
    await sink.close();
    store.close();
  });

  it('names a unit by its events as read, also when copies already delivered are left out (a redo of the unit must find the same name)', async () => {
    const store = new Store(join(dir, 'named.db'));
    const gate = new Gate('engine');
    const named: { idSpan: unknown; copies: number }[] = [];
    const sink = new DeliveringSink(store, [gate], { keepEvents: false, beforeCommit: async (u, _s, _r, copies) => void named.push({ idSpan: u.idSpan, copies }) }, logger().log);
    const receipts = (from: number, n: number) => processInput('n.log', LINES(from, n).replace(/acc=C0A0/g, 'acc=C0A0|Dir=Inbound|Rcpt=a@b.test|Sender=c@d.test|IP=10.0.0.1|Act=Acc|MsgId=<m@x>'));
    await sink.write(await receipts(0, 2), state(2));
    // Read again with one more event: the two delivered ones are copies, and only the new one is sent.
    const again = await receipts(0, 3);
    gate.received.length = 0;
    await sink.write(again, state(3));
    assert.deepEqual(gate.received, [again.events[2]!.id], 'only the new event was sent');
    assert.deepEqual(named[1], { idSpan: { count: 3, first: again.events[0]!.id, last: again.events[2]!.id }, copies: 2 });
    await sink.close();
    store.close();
  });

  it('without the store among them, counts what the first destination acknowledged and keeps no events', async () => {
    const store = new Store(join(dir, 'remote.db'));
    const sink = new DeliveringSink(store, [new Gate('one'), new Gate('two')], { keepEvents: false }, logger().log);
    assert.deepEqual(await sink.write(await processInput('c.log', LINES(0, 3)), state(3)), { stored: 3, duplicates: 0, collisions: 0, deadLetters: 0 });
    assert.equal(store.db.prepare('SELECT count(*) AS n FROM events').pluck().get(), 0);
    assert.equal(store.registry.counter('indexed'), 3);
    await sink.close();
    store.close();
  });

  it('after one destination gives up, neither that unit nor any later one commits (their checkpoints stay)', async () => {
    const store = new Store(join(dir, 'fail.db'));
    const broken = new Gate('broken');
    broken.failWith = 'credentials refused';
    const sink = new DeliveringSink(store, [new Gate('fine'), broken], { keepEvents: true }, logger().log);
    const first = sink.write(await processInput('d.log', LINES(0, 2)), state(2));
    broken.failWith = undefined; // the next unit would be accepted, but must not commit past the failed one
    const second = sink.write(await processInput('e.log', LINES(10, 2)), state(2));
    await assert.rejects(first, /credentials refused/);
    await assert.rejects(second, /credentials refused/);
    assert.equal(store.registry.checkpoint('d.log'), undefined);
    assert.equal(store.registry.checkpoint('e.log'), undefined);
    assert.equal(store.db.prepare('SELECT count(*) AS n FROM events').pluck().get(), 0);
    await sink.close();
    store.close();
  });
});

describe('delivering sink: a dead letter whose reason echoes a secret', () => {
  it('stores the reason with the secret masked (a receiver that echoes the token in its refusal)', async () => {
    const dir = tempDir('mimelog-delivering-secret-');
    const store = new Store(join(dir, 'secret.db'));
    const token = 'echoed-Token-9f8e7d6c';
    const echo: Destination = {
      name: 'echo',
      async deliver(unit) {
        const rejected = unit.events.map((e) => prepareDeadLetter({ source: unit.source, position: e.position, reason: `echo refused event ${e.id}: HTTP 413 (bad request from Splunk ${token})`, raw: e.raw }));
        return { indexed: 0, duplicates: 0, collisions: [], rejected, resent: 0 };
      },
      async close() {},
    };
    const { log } = logger();
    log.addSecrets(token);
    const sink = new DeliveringSink(store, [echo], { keepEvents: false }, log);
    await sink.write(await processInput('a.log', LINES(0, 2)), state(2));
    await sink.close();
    const reasons = store.db.prepare('SELECT reason FROM dead_letters').pluck().all() as string[];
    store.close();
    (await import('node:fs')).rmSync(dir, { recursive: true, force: true });
    assert.equal(reasons.length, 2);
    for (const r of reasons) {
      assert.doesNotMatch(r, new RegExp(token));
      assert.match(r, /^echo refused event \w+: HTTP 413 \(bad request from Splunk \[redacted\]\)$/);
    }
  });
});
