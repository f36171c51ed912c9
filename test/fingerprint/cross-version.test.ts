/**
 * Issue 27: one email event is stored once whether API 1.0 or API 2.0 served it (and in either
 * order), while distinct events, also those that differ only in what the other API renames,
 * splits or re-encodes, are never merged. Runs the real pipeline into real SQLite stores.
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import Database from 'better-sqlite3';
import type { Unit } from '../../src/core/unit.js';
import { crossIdentity } from '../../src/fingerprint/cross-version.js';
import { LOG_TYPES } from '../../src/mimecast/log-types.js';
import { type GeneratedEvent, type V2Record, takeEvents, toKeyValueLine, toV1JsonFile, toV2Record } from '../../src/simulator/generate.js';
import { PendingCrossRows, withoutCopies } from '../../src/store/cross-version.js';
import { prepareUnit } from '../../src/store/prepared.js';
import { Store } from '../../src/store/store.js';
import { asSchema17 } from '../store/older-schema.js';
import { json, kv, processInput, tempDir } from '../support/helpers.js';

const events = takeEvents({ seed: 27, startMs: Date.UTC(2026, 5, 1) }, 20_000);
const PREFIX = new Map(LOG_TYPES.map((t) => [t.name, t.filePrefixes[0]!]));

/** API 1.0 files as the API names them (the type is in the file name), key_value or json. */
async function v1Units(list: readonly GeneratedEvent[], format: 'key_value' | 'json'): Promise<Unit[]> {
  const units: Unit[] = [];
  for (const type of new Set(list.map((e) => e.logType))) {
    const ofType = list.filter((e) => e.logType === type);
    const body = format === 'json' ? toV1JsonFile(ofType) : ofType.map(toKeyValueLine).join('\n');
    units.push(await processInput(`${PREFIX.get(type)}20260601.${format === 'json' ? 'json' : 'log'}`, body));
  }
  return units;
}

/** API 2.0 NDJSON, batch or stream shape. */
function v2Unit(list: readonly (GeneratedEvent | V2Record)[], shape: 'batch' | 'stream'): Promise<Unit> {
  const records = list.map((e, i) => ('fields' in e ? toV2Record(e as GeneratedEvent, { shape, partition: 3, offset: i }) : e));
  return processInput(`v2-${shape}.ndjson`, records.map((r) => JSON.stringify(r)).join('\n'));
}

function newStore(): Store {
  return new Store(join(tempDir('cross'), 'store.db'));
}

function write(store: Store, units: readonly Unit[]): { stored: number; duplicates: number } {
  const total = { stored: 0, duplicates: 0 };
  for (const u of units) {
    const c = store.writeUnit(u);
    total.stored += c.stored;
    total.duplicates += c.duplicates;
    assert.equal(c.collisions, 0);
  }
  return total;
}

const eventCount = (store: Store) => (store.db.prepare('SELECT count(*) AS n FROM events').get() as { n: number }).n;

describe('cross-version identity: one event, one stored row, whichever API served it', () => {
  it('gives an event one cross-version key through API 1.0 key_value and json and API 2.0 batch and stream', async () => {
    const sample = events.slice(0, 3000);
    const byShape = [
      (await v1Units(sample, 'key_value')).flatMap((u) => u.events.map((e) => e.cross?.key)),
      (await v1Units(sample, 'json')).flatMap((u) => u.events.map((e) => e.cross?.key)),
    ];
    assert.deepEqual(byShape[0], byShape[1]);
    const v1Keys = new Set(byShape[0]);
    for (const shape of ['batch', 'stream'] as const) {
      const v2Keys = (await v2Unit(sample, shape)).events.map((e) => e.cross?.key);
      assert.equal(v2Keys.length, sample.length);
      assert.ok(v2Keys.every((k) => k !== undefined && v1Keys.has(k)), `${shape}: every API 2.0 key is one of API 1.0`);
    }
  });

  it('stores 20,000 events once: API 1.0 (part) → API 2.0 batch → stream, and the reverse order, the same count and no collision', async () => {
    const part = events.slice(0, 12_000);
    const forward = newStore();
    const first = write(forward, await v1Units(part, 'key_value'));
    assert.equal(first.stored, part.length);
    write(forward, [await v2Unit(events, 'batch'), await v2Unit(events, 'stream')]);
    assert.equal(eventCount(forward), events.length);
    const reverse = newStore();
    write(reverse, [await v2Unit(events.slice(8000), 'stream'), await v2Unit(events, 'batch')]);
    write(reverse, [...(await v1Units(events, 'json')), ...(await v1Units(part, 'key_value'))]);
    assert.equal(eventCount(reverse), events.length);
    // Reading everything again changes nothing.
    const again = write(reverse, [...(await v1Units(events, 'key_value')), await v2Unit(events, 'batch')]);
    assert.deepEqual(again, { stored: 0, duplicates: 2 * events.length });
    forward.close();
    reverse.close();
  });

  it('never merges distinct events that differ only in what the other API renames, splits or re-encodes (cross-version collide set)', async () => {
    const receipt = events.find((e) => e.logType === 'receipt' && e.fields.some(([k]) => k === 'SpamProcessingDetail'))!;
    const base = toV2Record(receipt, { shape: 'batch' });
    const ms = Number(base.timestamp);
    const stem = String(base.aggregateId).replace(/_\d+$/, '');
    const distinct: Record<string, V2Record> = {
      'the time one second on (API 1.0 keeps whole seconds)': { ...base, timestamp: ms - (ms % 1000) + 1000 },
      'a recipient list with one more address': { ...base, recipients: `${base.recipients}, other@acme-corp.com` },
      'another aCode with the same aggregateId suffix': { ...base, aggregateId: `${stem.slice(0, -1)}Z_${String(base.aggregateId).split('_').at(-1)}` },
      'another JSON-in-string spamProcessingDetail': { ...base, spamProcessingDetail: JSON.stringify({ spf: { info: 'SPF_SOFTFAIL', allow: true } }) },
      'another spamInfo (JSON in a string)': { ...base, spamInfo: '["Spam"]' },
    };
    for (const [what, other] of Object.entries(distinct)) {
      for (const order of ['v1 first', 'v2 first'] as const) {
        const store = newStore();
        const units = [...(await v1Units([receipt], 'key_value')), await v2Unit([other], 'stream')];
        write(store, order === 'v1 first' ? units : units.reverse());
        assert.equal(eventCount(store), 2, `${what}, ${order}: two events`);
        store.close();
      }
    }
    // The control: the same event re-encoded the ways the two APIs differ is one event.
    const same: V2Record = { ...base, timestamp: ms - (ms % 1000) + 999, aggregateId: stem, recipients: ` ${String(base.recipients).toUpperCase()} `, processingId: 'another_1' };
    const store = newStore();
    write(store, [...(await v1Units([receipt], 'json')), await v2Unit([same], 'batch')]);
    assert.equal(eventCount(store), 1);
    store.close();
  });

  it('keeps API 2.0 lines that differ only in processingId or milliseconds apart, even beside their API 1.0 line, in either order', async () => {
    const e = events.find((x) => x.logType === 'process')!;
    const a = toV2Record(e, { shape: 'batch' });
    const ms = Number(a.timestamp) - (Number(a.timestamp) % 1000);
    const copies = [{ ...a, timestamp: ms + 1, processingId: 'p1' }, { ...a, timestamp: ms + 2, processingId: 'p1' }, { ...a, timestamp: ms + 1, processingId: 'p2' }];
    for (const order of ['v1 first', 'v2 first']) {
      const store = newStore();
      const v1 = await v1Units([e], 'key_value');
      const v2 = await v2Unit(copies, 'stream');
      write(store, order === 'v1 first' ? [...v1, v2] : [v2, ...v1]);
      assert.equal(eventCount(store), 3, `${order}: the API 1.0 line is one of the three, none merged`);
      store.close();
    }
    // The existing same-version collide set stays apart too (v2 records sharing aggregateId).
    const sameVersion = [{ type: 'delivery', aggregateId: 'A_1700000000', processingId: 'p1', timestamp: '1700000000000', recipients: 'a@x' }];
    const variants = [...sameVersion, { ...sameVersion[0]!, processingId: 'p2' }, { ...sameVersion[0]!, recipients: 'b@x' }, { ...sameVersion[0]!, timestamp: '1700000000001' }];
    // processingId and 1 ms share a cross-version key, another recipient does not; all four stay apart.
    assert.equal(new Set(variants.map((v) => crossIdentity(json(JSON.stringify(v)), 'delivery')?.key)).size, 2);
    const store = newStore();
    write(store, [await v2Unit(variants as V2Record[], 'batch'), ...(await v1Units([], 'key_value'))]);
    assert.equal(eventCount(store), 4);
    store.close();
  });

  it('upgrades a store written before it: stored ids unchanged, and API 2.0 copies of its API 1.0 events are duplicates (migration says so in the schema)', async () => {
    const dir = tempDir('cross-upgrade');
    const path = join(dir, 'old.db');
    const old = new Store(path);
    write(old, await v1Units(events.slice(0, 4000), 'key_value'));
    const ids = old.db.prepare('SELECT lower(hex(id)) AS id FROM events ORDER BY id').all();
    old.close();
    // As an older mimelog left it: no cross-version rows, the schema before them (13 added them).
    const raw = new Database(path);
    asSchema17(raw);
    raw.exec('DROP TABLE cross_ids; DROP TABLE cross_copies; DROP TABLE cross_spans');
    raw.pragma('user_version = 12');
    raw.close();
    const upgraded = new Store(path);
    assert.deepEqual(upgraded.db.prepare('SELECT lower(hex(id)) AS id FROM events ORDER BY id').all(), ids);
    assert.equal((upgraded.db.prepare('SELECT count(*) AS n FROM cross_ids').get() as { n: number }).n, 4000);
    const c = write(upgraded, [await v2Unit(events.slice(0, 6000), 'batch')]);
    assert.deepEqual(c, { stored: 2000, duplicates: 4000 });
    assert.equal(eventCount(upgraded), 6000);
    upgraded.close();
  });

  it('a search engine\'s store decides before sending: copies are not sent, in either order and with units in flight', async () => {
    const store = newStore();
    const pending = new PendingCrossRows();
    const sent = (units: Unit[]) => {
      // Every unit decided before the previous one is recorded (as a remote sink does), then all recorded in order.
      const decided = units.map((u) => withoutCopies(store.crossVersion, pending, u));
      for (const d of decided) {
        const report = { indexed: d.unit.events.length, duplicates: 0, collisions: [], rejected: [], resent: 0 };
        store.recordDeliveries(prepareUnit(d.unit, { events: false }), [{ destination: 'engine', report }], undefined, d);
        for (const r of d.rows) pending.remove(r);
      }
      return decided.reduce((n, d) => n + d.unit.events.length, 0);
    };
    const part = events.slice(0, 3000);
    assert.equal(sent(await v1Units(part, 'key_value')), part.length);
    assert.equal(sent([await v2Unit(events.slice(0, 5000), 'batch'), await v2Unit(events.slice(0, 5000), 'stream')]), 2000, 'only the events API 1.0 did not serve');
    assert.equal(sent([...(await v1Units(part, 'json')), await v2Unit(events.slice(0, 5000), 'batch')]), 0, 'read again: nothing sent');
    store.close();
  });

  it('leaves the records the feeds and unknown types make without a cross-version key (only the SIEM log types pair)', () => {
    assert.equal(crossIdentity(kv('datetime=2021-03-05T16:25:17+0000|acc=C0A0|x=1'), 'unknown'), undefined);
    assert.equal(crossIdentity(kv('datetime=2021-03-05T16:25:17+0000|acc=C0A0|id=a'), 'audit'), undefined);
  });
});

describe('cross-version tables are data: a name from input is never read from Object\'s prototype', () => {
  it('a log type or an API 1.0 key named constructor, toString or __proto__ has no cross-version key and maps to its own lowerCamelCase name', async () => {
    const { v2KeyFor } = await import('../../src/mimecast/v2-fields.js');
    const record = { fields: { Sender: 'a@example.com' } } as unknown as Parameters<typeof crossIdentity>[0];
    for (const name of ['constructor', 'toString', '__proto__', 'hasOwnProperty']) {
      assert.equal(crossIdentity(record, name), undefined, name);
      assert.equal(v2KeyFor('receipt', name), name.charAt(0).toLowerCase() + name.slice(1), name);
      assert.equal(v2KeyFor(name, 'Sender'), 'senderEnvelope', name);
    }
  });
});
