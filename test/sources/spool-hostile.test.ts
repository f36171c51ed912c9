/**
 * The spool as an attacker who can write into it, and an unlucky production, meet it: it reads
 * only regular files inside itself (links out, hard links, FIFOs and sockets refused, each with
 * one warning and a count), never blocks, and never skips a record of a file that changed.
 */
import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import { appendFileSync, linkSync, mkdirSync, readFileSync, renameSync, statSync, symlinkSync, truncateSync, utimesSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { describe, it } from 'node:test';
import Database from 'better-sqlite3';
import type { Publication, Publisher } from '../../src/core/publish.js';
import { Logger } from '../../src/log/logger.js';
import { Driver } from '../../src/pipeline/driver.js';
import { driveFiles } from '../../src/pipeline/run.js';
import { takeEvents, toKeyValueLine, toV2Record } from '../../src/simulator/generate.js';
import { SqliteSink } from '../../src/sinks/sqlite.js';
import { type SpoolObserver, runSpool } from '../../src/sources/spool.js';
import { type RefusalReason, listSpool, openSpoolFile } from '../../src/sources/spool-walk.js';
import { Store } from '../../src/store/store.js';
import { BIN, processInput, tempDir, transformer } from '../support/helpers.js';

/** Key-value lines of distinct events (each seed its own events). */
function records(seed: number, n: number): string {
  return `${takeEvents({ seed, startMs: Date.UTC(2026, 10, 1) }, n).map(toKeyValueLine).join('\n')}\n`;
}

/** The event ids that reading `text` as one file yields. */
async function idsOf(text: string): Promise<string[]> {
  return (await processInput('x.log', text)).events.map((e) => e.id);
}

function storedIdSet(db: string): Set<string> {
  const d = new Database(db, { readonly: true });
  try {
    return new Set((d.prepare('SELECT lower(hex(id)) AS id FROM events').all() as { id: string }[]).map((r) => r.id));
  } finally {
    d.close();
  }
}

function count(db: string, sql: string): number {
  const d = new Database(db, { readonly: true });
  try {
    return (d.prepare(sql).get() as { n: number }).n;
  } finally {
    d.close();
  }
}

async function assertAllStored(db: string, texts: readonly string[]): Promise<void> {
  const stored = storedIdSet(db);
  for (const text of texts) {
    const missing = (await idsOf(text)).filter((id) => !stored.has(id));
    assert.equal(missing.length, 0, `${missing.length} records never stored`);
  }
}

interface SpoolRun {
  readonly log: Record<string, unknown>[];
  readonly refused: Partial<Record<RefusalReason, number>>;
  /** Files read in each pass. */
  readonly filesRead: number;
}

/** Files read in each pass, added up. */
const filesReadIn = (log: readonly Record<string, unknown>[]): number => log.filter((l) => l.msg === 'spool pass').reduce((n, l) => n + (l.files as number), 0);

/**
 * Runs the spool in this process into a real store: one pass, or passes for at least `forMs` and
 * until `until` holds of what was logged (a pass may take longer than `forMs` on a loaded machine),
 * 20 s at most.
 * `onPublish` runs before each publication reaches the driver (to change a file while it is read).
 */
async function spool(dir: string, db: string, o: { forMs?: number; until?: (run: SpoolRun) => boolean; onPublish?: (p: Publication) => void } = {}): Promise<SpoolRun> {
  const lines: string[] = [];
  const out = new Writable({ write: (c: Buffer, _e, done) => { lines.push(...c.toString().split('\n').filter(Boolean)); done(); } });
  const refused: Partial<Record<RefusalReason, number>> = {};
  const observer: SpoolObserver = { refused: (r) => (refused[r] = (refused[r] ?? 0) + 1) };
  const sofar = (): SpoolRun => {
    const log = lines.map((l) => JSON.parse(l) as Record<string, unknown>);
    return { log, refused, filesRead: filesReadIn(log) };
  };
  const store = new Store(db);
  const stop = new AbortController();
  const giveUpAt = Date.now() + 20_000; // a spool that never gets there stops anyway, for the test to say why
  const stopWhenDone = () => (o.until === undefined || o.until(sofar()) || Date.now() > giveUpAt ? stop.abort() : void (timer = setTimeout(stopWhenDone, 20)));
  let timer = o.forMs === undefined ? undefined : setTimeout(stopWhenDone, o.forMs);
  try {
    const driver = new Driver(transformer(), new SqliteSink(store), { kind: 'file', workers: 1 });
    await driveFiles(driver, (publisher) => {
      const watched: Publisher = { publish: (p) => (o.onPublish?.(p), publisher.publish(p)), flush: () => publisher.flush() };
      const options = { path: dir, pollIntervalMs: 20, once: o.forMs === undefined, exclude: [db, `${db}-wal`, `${db}-shm`, `${db}-journal`] };
      return runSpool(options, watched, (p) => store.registry.checkpoint(p), new Logger(out, 'debug'), stop.signal, observer);
    });
  } finally {
    clearTimeout(timer);
    store.close();
  }
  return sofar();
}

function setUp(name: string): { dir: string; spoolDir: string; db: string } {
  const dir = tempDir(name);
  const spoolDir = join(dir, 'spool');
  mkdirSync(spoolDir);
  return { dir, spoolDir, db: join(dir, 'store.db') };
}

describe('spool: only regular files inside the spool are read', () => {
  it('refuses links leading out, hard links, a FIFO and a socket (one warning per path, a count per reason), reads the rest, never blocks', async () => {
    const { dir, spoolDir, db } = setUp('spool-refuse');
    const outside = join(dir, 'private');
    mkdirSync(outside);
    const secret = 'client_secret=do-not-read-me-0123456789';
    writeFileSync(join(outside, 'secret.txt'), `${secret}\n`);
    writeFileSync(join(outside, 'other.log'), records(2, 5));
    const good = records(1, 40);
    const inner = records(3, 30);
    writeFileSync(join(spoolDir, 'good.log'), good);
    mkdirSync(join(spoolDir, 'sub'));
    writeFileSync(join(spoolDir, 'sub', 'inner.log'), inner);
    symlinkSync(join(outside, 'secret.txt'), join(spoolDir, 'secret-link.log'));
    symlinkSync('/proc/self/environ', join(spoolDir, 'environ.log'));
    symlinkSync(outside, join(spoolDir, 'dir-link'));
    symlinkSync(join(spoolDir, 'sub', 'inner.log'), join(spoolDir, 'a-link-inside.log')); // inside: read (once)
    symlinkSync(spoolDir, join(spoolDir, 'loop')); // back to the spool: not walked again
    linkSync(join(outside, 'other.log'), join(spoolDir, 'hard.log'));
    execFileSync('mkfifo', [join(spoolDir, 'pipe.log')]);
    const socket = createServer();
    await new Promise<void>((res) => socket.listen(join(spoolDir, 'sock.log'), res));
    try {
      const started = Date.now();
      const run = await spool(spoolDir, db, { forMs: 600, until: (r) => r.filesRead >= 2 });
      assert.ok(Date.now() - started < 5000, 'the FIFO did not hold the spool');
      assert.deepEqual(run.refused, { link_outside: 3, hard_link: 1, fifo: 1, socket: 1 });
      const warned = run.log.filter((l) => l.msg === 'spool entry refused').map((l) => `${String(l.path).slice(spoolDir.length + 1)} ${String(l.reason)}`).sort();
      assert.deepEqual(warned, ['dir-link link_outside', 'environ.log link_outside', 'hard.log hard_link', 'pipe.log fifo', 'secret-link.log link_outside', 'sock.log socket'], 'one warning per path, over many polls');
      assert.equal(run.filesRead, 2, 'good.log, and inner.log once (through the link first)');
      await assertAllStored(db, [good, inner]);
      assert.equal(count(db, 'SELECT count(*) AS n FROM events'), 70);
      assert.equal(count(db, 'SELECT count(*) AS n FROM dead_letters'), 0, 'nothing of the secret, the environment or the other file became a dead letter');
    } finally {
      socket.close();
    }
  });

  it('a hard link to the store is not read; a hard-linked file is read once its other name is gone', async () => {
    const { dir, spoolDir } = setUp('spool-hardlink');
    const db = join(spoolDir, 'store.db'); // the store inside the spool
    const body = records(4, 20);
    writeFileSync(join(dir, 'staged.log'), body);
    linkSync(join(dir, 'staged.log'), join(spoolDir, 'dropped.log'));
    const first = await spool(spoolDir, db);
    assert.equal(first.filesRead, 0);
    assert.equal(first.refused.hard_link, 1);
    linkSync(db, join(spoolDir, 'store-copy.db'));
    renameSync(join(dir, 'staged.log'), join(dir, 'gone.log'));
    execFileSync('rm', [join(dir, 'gone.log')]);
    const second = await spool(spoolDir, db);
    assert.equal(second.filesRead, 1, 'only dropped.log: the store under another name is never read');
    await assertAllStored(db, [body]);
    assert.equal(count(db, 'SELECT count(*) AS n FROM dead_letters'), 0);
  });

  it('a file swapped between listing and opening (for a link out, a FIFO, a directory link out) is refused at open, without blocking', async () => {
    const { dir, spoolDir } = setUp('spool-swap');
    const outside = join(dir, 'private');
    mkdirSync(outside);
    writeFileSync(join(outside, 'secret.log'), 'secret\n');
    for (const n of ['a.log', 'b.log']) writeFileSync(join(spoolDir, n), records(5, 2));
    mkdirSync(join(spoolDir, 'sub'));
    writeFileSync(join(spoolDir, 'sub', 'secret.log'), records(6, 2));
    const listing = await listSpool(spoolDir, []);
    assert.deepEqual(listing.files.map((f) => f.path.slice(spoolDir.length + 1)), ['a.log', 'b.log', 'sub/secret.log']);
    // After the listing: a.log becomes a link out, b.log a FIFO, sub a link to the private folder.
    renameSync(join(spoolDir, 'a.log'), join(dir, 'a.old'));
    symlinkSync(join(outside, 'secret.log'), join(spoolDir, 'a.log'));
    renameSync(join(spoolDir, 'b.log'), join(dir, 'b.old'));
    execFileSync('mkfifo', [join(spoolDir, 'b.log')]);
    renameSync(join(spoolDir, 'sub'), join(dir, 'sub.old'));
    symlinkSync(outside, join(spoolDir, 'sub'));
    const reasons: string[] = [];
    for (const f of listing.files) {
      const opened = await openSpoolFile(f, listing);
      assert.ok('refused' in opened, `${f.path} was opened`);
      reasons.push(opened.refused.reason);
    }
    assert.deepEqual(reasons, ['moved', 'fifo', 'moved']);
  });
});

describe('spool: a file that changed is read again, never skipped', () => {
  it('a file replaced with mv while the old one is being read: both are stored', async () => {
    const { dir, spoolDir, db } = setUp('spool-mv');
    const oldBody = records(10, 3000);
    const newBody = records(11, 50);
    const path = join(spoolDir, 'drop.log');
    writeFileSync(path, oldBody);
    let replaced = false;
    await spool(spoolDir, db, {
      onPublish: () => {
        if (replaced) return;
        replaced = true;
        writeFileSync(join(dir, 'next.tmp'), newBody);
        renameSync(join(dir, 'next.tmp'), path); // what the README asks writers to do
      },
    });
    assert.ok(replaced);
    await assertAllStored(db, [oldBody]);
    await spool(spoolDir, db);
    await assertAllStored(db, [oldBody, newBody]);
  });

  it('a replacement with an older modification time (rsync -a) is read', async () => {
    const { dir, spoolDir, db } = setUp('spool-rsync');
    const path = join(spoolDir, 'drop.log');
    writeFileSync(path, records(12, 100));
    await spool(spoolDir, db);
    const replacement = records(13, 100);
    writeFileSync(join(dir, '.drop.log.tmp'), replacement);
    const old = new Date(Date.now() - 86_400_000);
    utimesSync(join(dir, '.drop.log.tmp'), old, old);
    renameSync(join(dir, '.drop.log.tmp'), path);
    await spool(spoolDir, db);
    await assertAllStored(db, [replacement]);
  });

  it('a line appended right after a commit, in the same modification second, is read (and only it)', async () => {
    const { spoolDir, db } = setUp('spool-append');
    const path = join(spoolDir, 'drop.log');
    const first = records(14, 200);
    writeFileSync(path, first);
    writeFileSync(join(spoolDir, 'untouched.log'), records(15, 10));
    await spool(spoolDir, db);
    const before = statSync(path);
    const more = records(16, 1);
    appendFileSync(path, more);
    utimesSync(path, before.atime, before.mtime); // a file system that keeps whole seconds
    const second = await spool(spoolDir, db);
    assert.equal(second.filesRead, 1, 'the untouched file is not read again');
    await assertAllStored(db, [first, more]);
    assert.equal(count(db, "SELECT coalesce(sum(value), 0) AS n FROM counters WHERE name = 'duplicates'"), 0, 'read on, not again');
  });

  it('a file truncated to a prefix and regrown with other content (same head) is read whole', async () => {
    const { spoolDir, db } = setUp('spool-regrow');
    const path = join(spoolDir, 'drop.log');
    const prefix = records(17, 1000); // well over the 64 KiB head
    assert.ok(prefix.length > 128 * 1024);
    writeFileSync(path, prefix + records(18, 1000));
    await spool(spoolDir, db);
    truncateSync(path, prefix.length);
    const regrown = records(19, 1200);
    appendFileSync(path, regrown);
    await spool(spoolDir, db);
    await assertAllStored(db, [prefix, regrown]);
  });

  it('a file rewritten in its middle only (same head, same bytes before the point read to), then grown, is read whole', async () => {
    const { spoolDir, db } = setUp('spool-middle');
    const path = join(spoolDir, 'drop.log');
    const head = records(23, 1000); // over the 64 KiB head
    const end = records(25, 100); // over the 4 KiB before the point read to
    const before = records(24, 500);
    writeFileSync(path, head + before + end);
    await spool(spoolDir, db);
    // Every line keeps its length: the bytes after the middle stay where they were.
    const middle = before.replace(/aCode=([^|]+)/g, (_, code: string) => `aCode=${'Z'.repeat(code.length)}`);
    assert.equal(middle.length, before.length);
    const grown = records(27, 10);
    writeFileSync(path, head + middle + end + grown); // rewritten in place: the same inode
    await spool(spoolDir, db);
    await assertAllStored(db, [middle, grown]);
  });

  it('a file a writer grows faster than it is read does not hold the pass; the next pass reads on', async () => {
    const { spoolDir, db } = setUp('spool-endless');
    const path = join(spoolDir, 'drop.log');
    const first = records(28, 3000);
    writeFileSync(path, first);
    const appended: string[] = [];
    const writer = (): void => {
      if (appended.length >= 40) return; // bounded, so that a reader that never stops still ends this test
      appended.push(records(100 + appended.length, 1500));
      appendFileSync(path, appended.at(-1)!);
    };
    const pass = await spool(spoolDir, db, { onPublish: writer });
    assert.ok(appended.length < 10, `one pass read on while the file kept growing (${appended.length} appends)`);
    assert.equal(count(db, 'SELECT count(*) AS n FROM events'), 3000, 'the first pass read what was there when it opened the file');
    assert.equal(pass.filesRead, 1);
    await spool(spoolDir, db);
    await assertAllStored(db, [first, ...appended]);
  });

  it('a line caught half-written is read again whole once the file grows', async () => {
    const { spoolDir, db } = setUp('spool-half');
    const path = join(spoolDir, 'drop.log');
    const body = records(20, 50);
    const last = body.split('\n').at(-2)!;
    writeFileSync(path, body.slice(0, body.length - Math.floor(last.length / 2) - 1)); // the last line cut in its middle
    await spool(spoolDir, db);
    appendFileSync(path, body.slice(body.length - Math.floor(last.length / 2) - 1));
    await spool(spoolDir, db);
    await assertAllStored(db, [body]);
  });

  it('a file read on that now fails as a whole keeps that failure as a dead letter (it is not skipped as an old position)', async () => {
    const { spoolDir, db } = setUp('spool-whole');
    const path = join(spoolDir, 'doc.json');
    // An API 1.0 json document, pretty-printed: no line of it is a record by itself.
    writeFileSync(path, '{\n"type": "MTA",\n"data": [{"datetime": "2026-11-01T00:00:00+0000",\n"aCode": "abc", "Act": "Acc"}]\n}\n');
    await spool(spoolDir, db);
    assert.equal(count(db, 'SELECT count(*) AS n FROM dead_letters'), 0);
    appendFileSync(path, '{"type": "MTA", "data": [{"aCode":\n'); // a writer that appends instead of renaming
    await spool(spoolDir, db);
    assert.equal(count(db, 'SELECT count(*) AS n FROM dead_letters WHERE position = 0'), 1, 'the broken document is a dead letter, with its bytes');
  });

  it('an identity stored by an older version means a re-read, not a skip', async () => {
    const { spoolDir, db } = setUp('spool-legacy');
    const path = join(spoolDir, 'drop.log');
    writeFileSync(path, records(21, 30));
    await spool(spoolDir, db);
    const d = new Database(db);
    d.prepare("UPDATE checkpoints SET identity = 'head:00112233445566778899aabbccddeeff', updated_at = ?").run(Date.now() + 86_400_000);
    d.close();
    const replacement = records(22, 30);
    const before = statSync(path);
    writeFileSync(path, replacement); // rewritten in place, its time set back
    utimesSync(path, before.atime, before.mtime);
    await spool(spoolDir, db);
    await assertAllStored(db, [replacement]);
    assert.ok(readFileSync(path, 'utf8') === replacement);
  });
});

/** NDJSON lines (API 2.0 records) of distinct events. */
function jsonRecords(seed: number, n: number): string {
  return `${takeEvents({ seed, startMs: Date.UTC(2026, 10, 1) }, n).map((e) => JSON.stringify(toV2Record(e, { shape: 'batch' }))).join('\n')}\n`;
}

/** The file's mtime set back an hour: written long ago, settled. */
function settle(path: string): void {
  const old = new Date(Date.now() - 3_600_000);
  utimesSync(path, old, old);
}

describe('spool: a last line without a newline is not a record until the file settles', () => {
  for (const [format, make] of [['key_value', records], ['NDJSON', jsonRecords]] as const) {
    it(`${format}: a line caught half-written is neither an event nor a dead letter; the whole line is stored once`, async () => {
      const { spoolDir, db } = setUp(`spool-half-${format}`);
      const path = join(spoolDir, 'drop.log');
      const body = make(30, 20);
      const line = make(31, 1);
      const cut = Math.floor(line.length / 2);
      writeFileSync(path, body + line.slice(0, cut));
      await spool(spoolDir, db);
      assert.equal(count(db, 'SELECT count(*) AS n FROM events'), 20, 'the complete lines, not the half one');
      assert.equal(count(db, 'SELECT count(*) AS n FROM dead_letters'), 0);
      const idle = await spool(spoolDir, db);
      assert.equal(idle.filesRead, 0, 'nothing complete beyond what was read: not read again');
      appendFileSync(path, line.slice(cut));
      await spool(spoolDir, db);
      await assertAllStored(db, [body, line]);
      assert.equal(count(db, 'SELECT count(*) AS n FROM events'), 21);
      assert.equal(count(db, 'SELECT count(*) AS n FROM dead_letters'), 0);
      assert.equal(count(db, "SELECT coalesce(sum(value), 0) AS n FROM counters WHERE name = 'duplicates'"), 0, 'read on after the last complete line');
    });
  }

  it('a half line alone in a new file is not read; a half json document waits too', async () => {
    const { spoolDir, db } = setUp('spool-half-alone');
    writeFileSync(join(spoolDir, 'a.kv'), 'datetime=2026-12-01T11:00:01+0000|aCode=half1|acc=C0A0|Sender=a@x.com|Rc');
    writeFileSync(join(spoolDir, 'b.json'), '{\n"type": "MTA",\n"data": [{"datetime": "2026-11-01T00:00:00+0000",\n"aCode": "abc"');
    const run = await spool(spoolDir, db);
    assert.equal(run.filesRead, 0);
    assert.equal(count(db, 'SELECT count(*) AS n FROM events') + count(db, 'SELECT count(*) AS n FROM dead_letters'), 0);
  });

  it('a settled file without a final newline is read completely, its last line included, and once', async () => {
    const { spoolDir, db } = setUp('spool-settled');
    const path = join(spoolDir, 'drop.log');
    const body = records(32, 20);
    writeFileSync(path, body.slice(0, -1)); // no final newline
    await spool(spoolDir, db);
    assert.equal(count(db, 'SELECT count(*) AS n FROM events'), 19, 'fresh: the last line waits');
    settle(path);
    await spool(spoolDir, db);
    await assertAllStored(db, [body]);
    assert.equal(count(db, 'SELECT count(*) AS n FROM events'), 20);
    assert.equal((await spool(spoolDir, db)).filesRead, 0, 'read to its end: not read again');
    const doc = join(spoolDir, 'doc.json');
    writeFileSync(doc, '{"type": "MTA",\n"data": [{"datetime": "2026-11-01T00:00:00+0000", "aCode": "abc", "Act": "Acc"}]}');
    settle(doc);
    await spool(spoolDir, db);
    assert.equal(count(db, 'SELECT count(*) AS n FROM events'), 21, 'a settled json document without a final newline is read');
    assert.equal(count(db, 'SELECT count(*) AS n FROM dead_letters'), 0);
  });
});

describe('mimelog run: a spool with a FIFO and a link out', () => {
  it('never blocks: /readyz ok, /metrics counts the refusals per reason, SIGTERM ends it with exit 0', async () => {
    const { dir, spoolDir, db } = setUp('spool-service');
    writeFileSync(join(dir, 'secret'), 'password=hunter2hunter2\n');
    symlinkSync(join(dir, 'secret'), join(spoolDir, 'a-secret.log'));
    execFileSync('mkfifo', [join(spoolDir, 'b-pipe.log')]);
    const body = records(40, 25);
    writeFileSync(join(spoolDir, 'c.log'), body);
    const config = join(dir, 'run.yaml');
    writeFileSync(config, `store: ${db}\nlisten: 127.0.0.1:0\nsources:\n  - name: drop\n    kind: spool\n    path: ${spoolDir}\n    poll_interval_s: 1\n`);
    const service = spawn(process.execPath, [BIN, 'run', '--config', config], { stdio: ['ignore', 'ignore', 'pipe'] });
    let err = '';
    service.stderr!.on('data', (c: Buffer) => (err += c.toString()));
    const exited = new Promise<number | null>((res) => service.once('exit', (code) => res(code)));
    try {
      let metrics = '';
      let url: string | undefined;
      for (let i = 0; i < 100 && !/reason="fifo"/.test(metrics); i++) {
        await new Promise((res) => setTimeout(res, 100));
        url ??= /"msg":"service listening".*?"url":"([^"]+)"/.exec(err)?.[1]?.replace(/\/$/, '');
        if (url) metrics = await (await fetch(`${url}/metrics`)).text();
      }
      assert.match(metrics, /^mimelog_spool_refused_total\{source="drop",reason="fifo"\} 1$/m, err);
      assert.match(metrics, /^mimelog_spool_refused_total\{source="drop",reason="link_outside"\} 1$/m);
      const ready = await (await fetch(`${url}/readyz`)).json() as { status: string };
      assert.equal(ready.status, 'ok');
      await new Promise((res) => setTimeout(res, 1500)); // another poll: refused again, not counted again
      assert.match(await (await fetch(`${url}/metrics`)).text(), /^mimelog_spool_refused_total\{source="drop",reason="fifo"\} 1$/m);
    } finally {
      service.kill('SIGTERM');
    }
    assert.equal(await Promise.race([exited, new Promise((res) => setTimeout(res, 10_000, 'hung').unref())]), 0, err.slice(-1500));
    await assertAllStored(db, [body]);
    assert.equal(count(db, 'SELECT count(*) AS n FROM dead_letters'), 0);
    assert.doesNotMatch(err, /hunter2/);
  });
});
