/**
 * Hostile and unlucky input through the command line, as a user (or an attacker) meets it:
 * the run ends, exits say what happened, files are private, stopping always works.
 */
import assert from 'node:assert/strict';
import { spawn, execFileSync } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, readFileSync, readdirSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { createServer } from 'node:net';
import { describe, it } from 'node:test';
import Database from 'better-sqlite3';
import { takeEvents, toKeyValueLine, toV2Record } from '../../src/simulator/generate.js';
import { BIN, lines, runCli, tempDir } from '../support/helpers.js';
import { collect, query, startSimulator } from '../support/simulator.js';
import { encodeText } from '../../src/decode/text.js';
import { search } from '../../src/store/queries.js';
import { Store } from '../../src/store/store.js';

const tmp = () => tempDir('hostile');

const events = takeEvents({ seed: 21, startMs: Date.UTC(2026, 0, 1) }, 50);
const kvText = `${events.map(toKeyValueLine).join('\n')}\n`;

/** Peak RSS of a child (VmHWM, polled until it exits). */
function peakRss(pid: number): number {
  try {
    const m = /VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) * 1024 : 0;
  } catch {
    return 0;
  }
}

interface Spawned {
  code: number | null;
  signal: NodeJS.Signals | null;
  stderr: string;
  stdout: string;
  peak: number;
  ms: number;
}

/**
 * Runs mimelog with stdin fed by `feed` (which may never end); optional SIGTERM after `termAfterMs`,
 * or once `termWhen` holds (checked every 100 ms: on a loaded machine the process may need longer
 * than any fixed delay to start and install its signal handler).
 */
function spawnCli(args: string[], o: { cwd?: string; feed?: (w: NodeJS.WritableStream) => void; termAfterMs?: number; termWhen?: () => boolean; env?: NodeJS.ProcessEnv } = {}): Promise<Spawned> {
  return new Promise((resolve) => {
    const started = Date.now();
    const child = spawn(process.execPath, [BIN, ...args], { cwd: o.cwd, env: { ...process.env, ...o.env } });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    let peak = 0;
    let termAt = 0;
    const poll = setInterval(() => {
      peak = Math.max(peak, peakRss(child.pid!));
      if (o.termWhen && termAt === 0 && o.termWhen()) {
        termAt = Date.now();
        child.kill('SIGTERM');
      }
    }, 100);
    child.stdout.on('data', (c: Buffer) => out.push(c));
    child.stderr.on('data', (c: Buffer) => err.push(c));
    child.stdin.on('error', () => undefined);
    if (o.feed) o.feed(child.stdin);
    else child.stdin.end();
    const term = o.termAfterMs === undefined ? undefined : setTimeout(() => {
      termAt = Date.now();
      child.kill('SIGTERM');
    }, o.termAfterMs);
    child.on('exit', (code, signal) => {
      clearInterval(poll);
      if (term) clearTimeout(term);
      resolve({ code, signal, stdout: Buffer.concat(out).toString(), stderr: Buffer.concat(err).toString(), peak, ms: Date.now() - (termAt || started) });
    });
  });
}

/**
 * Writes `chunk` forever (until the reader goes away). `onRead` is told at the first 'drain': the
 * child has begun reading its stdin, which it does only after installing its signal handlers.
 */
function endless(chunk: Buffer, onRead: () => void = () => undefined): (w: NodeJS.WritableStream) => void {
  return (w) => {
    w.once('drain', onRead);
    const write = () => {
      while (w.write(chunk)) { /* fill */ }
      w.once('drain', write);
    };
    w.on('error', () => undefined);
    write();
  };
}

describe('hostile input through the CLI', () => {
  it('an endless stream without newlines: bounded memory, SIGTERM stops it within 2 s, exit 3', async () => {
    const dir = tmp();
    // SIGTERM after 3 s of reading, not 3 s after spawn: a loaded machine may take longer than that
    // to start the process and install its handler (the signal would then kill it, exit null).
    let readingSince = 0;
    const feed = endless(Buffer.alloc(1 << 20, 0x41), () => (readingSince = Date.now()));
    const r = await spawnCli(['ingest', '--db', join(dir, 's.db'), '-'], { feed, termWhen: () => readingSince > 0 && Date.now() - readingSince >= 3000, termAfterMs: 30_000 });
    assert.equal(r.code, 3, r.stderr);
    assert.ok(r.ms < 2000, `stopped ${r.ms} ms after SIGTERM`);
    assert.match(r.stderr, /stopped by a signal with 1 of 1 inputs not read to the end/);
    assert.ok(r.peak < 512 * 1024 * 1024, `peak RSS ${r.peak}`);
    assert.doesNotMatch(r.stderr, /at .*\.js:\d+/); // no stack trace
  });

  for (const workers of ['1', '2']) {
    it(`an idle stdin: SIGTERM stops at once, keeping what was read, exit 3 (--workers ${workers})`, async () => {
      const dir = tmp();
      const db = join(dir, 's.db');
      // SIGTERM a second after the process has opened its store (the input stays open and idle): a
      // fixed delay from spawn was too short on a loaded machine to get past start-up.
      let openedAt = 0;
      const opened = () => {
        if (openedAt === 0 && existsSync(db)) {
          try {
            const d = new Database(db, { readonly: true });
            try {
              if ((d.pragma('user_version', { simple: true }) as number) > 0) openedAt = Date.now();
            } finally {
              d.close();
            }
          } catch {
            // not created or migrated yet
          }
        }
        return openedAt > 0 && Date.now() - openedAt >= 1000;
      };
      const r = await spawnCli(['ingest', '--db', db, '--workers', workers, '-'], { feed: (w) => w.write(kvText), termWhen: opened, termAfterMs: 20_000 });
      assert.equal(r.code, 3, r.stderr);
      assert.ok(r.ms < 2000, `stopped ${r.ms} ms after SIGTERM`);
      const store = new Database(db, { readonly: true });
      const n = (store.prepare('SELECT count(*) AS n FROM events').get() as { n: number }).n;
      store.close();
      assert.equal(n, events.length, 'the complete lines read before the signal are stored');
    });
  }

  it('a 200 MB line between good records: the good ones are stored, the long one dead-lettered with its head, RSS < 512 MiB', async () => {
    const dir = tmp();
    const db = join(dir, 's.db');
    const long = Buffer.alloc(200 * 1024 * 1024, 0x61);
    const r = await spawnCli(['ingest', '--db', db, '-'], {
      feed: (w) => {
        w.write(`${toKeyValueLine(events[0]!)}\n`);
        w.write(long);
        w.end(`\n${toKeyValueLine(events[1]!)}\n`);
      },
    });
    assert.equal(r.code, 2, r.stderr);
    assert.match(r.stderr, /3 records from 1 inputs: 2 stored/);
    assert.ok(r.peak < 512 * 1024 * 1024, `peak RSS ${r.peak}`);
    const store = new Database(db, { readonly: true });
    const dl = store.prepare('SELECT reason, length(raw) AS n, truncated_from FROM dead_letters').get() as { reason: string; n: number; truncated_from: number };
    store.close();
    assert.match(dl.reason, /record of 209715200 bytes is over the limit/);
    assert.equal(dl.n, 65536);
    assert.equal(dl.truncated_from, 209715200);
  });

  it('directories: symlink loops end, a dangling link is skipped with a warning, devices and the store are not read', async () => {
    const dir = tmp();
    mkdirSync(join(dir, 'logs', 'sub'), { recursive: true });
    writeFileSync(join(dir, 'logs', 'sub', 'receipt.log'), kvText);
    symlinkSync('..', join(dir, 'logs', 'sub', 'loop1'));
    symlinkSync(join(dir, 'logs'), join(dir, 'logs', 'loop2'));
    symlinkSync(join(dir, 'nowhere'), join(dir, 'logs', 'dangling'));
    symlinkSync('/dev/zero', join(dir, 'logs', 'zero'));
    const r = await spawnCli(['ingest', '--db', join(dir, 'logs', 'mimelog.db'), join(dir, 'logs')]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stderr, new RegExp(`${events.length} records from 1 inputs: ${events.length} stored`));
    assert.match(r.stderr, /skipped .*dangling: no such file or directory/);
    assert.match(r.stderr, /skipped .*zero: a character device/);
    // Again: the store's own files (db, WAL) sit in the directory now and are not inputs.
    const again = await spawnCli(['ingest', '--db', join(dir, 'logs', 'mimelog.db'), join(dir, 'logs')]);
    assert.equal(again.code, 0, again.stderr);
    assert.match(again.stderr, /from 1 inputs: 0 stored, 50 duplicates/);
  });

  it('a named character device is refused with one line; a FIFO is read as a stream', async () => {
    const dir = tmp();
    const dev = await runCli(['ingest', '--db', join(dir, 's.db'), '/dev/zero']);
    assert.equal(dev.code, 1);
    assert.match(dev.stderr, /^mimelog: cannot read \/dev\/zero: a character device/);
    const fifo = join(dir, 'pipe');
    execFileSync('mkfifo', [fifo]);
    const writer = spawn('sh', ['-c', `cat > '${fifo}'`]);
    writer.stdin.end(kvText);
    const r = await spawnCli(['ingest', '--db', join(dir, 's.db'), fifo]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stderr, /50 records from 1 inputs: 50 stored/);
  });

  it('refuses a store SQLite would keep in memory, and names the path when a store cannot open', async () => {
    const dir = tmp();
    const file = join(dir, 'x.log');
    writeFileSync(file, kvText);
    for (const args of [['--db', ''], ['--db', ':memory:']]) {
      const r = await runCli(['ingest', ...args, file]);
      assert.equal(r.code, 1);
      assert.match(r.stderr, /must name a file/);
    }
    const empty = await runCli(['ingest', file], { env: { MIMELOG_DB: '' } });
    assert.equal(empty.code, 1);
    assert.match(empty.stderr, /must name a file/);
    const bad = await runCli(['ingest', '--db', join(dir, 'missing-dir', 's.db'), file]);
    assert.equal(bad.code, 1);
    assert.match(bad.stderr, /missing-dir\/s\.db/);
  });

  it('creates the store, its WAL and the dead-letter file readable by the owner only', async () => {
    const dir = tmp();
    const file = join(dir, 'x.log');
    writeFileSync(file, `${kvText}not a record\n`);
    const db = join(dir, 's.db');
    const r = await runCli(['ingest', '--db', db, file]);
    assert.equal(r.code, 2, r.stderr);
    assert.equal(statSync(db).mode & 0o777, 0o600);
    const dl = join(dir, 'dead.ndjson');
    const n = await runCli(['ingest', '--sink', 'ndjson', '--dead-letter', dl, file]);
    assert.equal(n.code, 2);
    assert.equal(statSync(dl).mode & 0o777, 0o600);
    // WAL: open a writer and look while it is open.
    const w = new Database(db);
    w.pragma('journal_mode = WAL');
    w.prepare('INSERT INTO counters (name, value) VALUES (?, 1) ON CONFLICT(name) DO UPDATE SET value = value + 1').run('probe');
    if (existsSync(`${db}-wal`)) assert.equal(statSync(`${db}-wal`).mode & 0o777, 0o600);
    w.close();
  });

  it('write errors name the path and never print a stack: dead-letter file, full stdout', async () => {
    const dir = tmp();
    const file = join(dir, 'x.log');
    writeFileSync(file, `${kvText}not a record\n`);
    const r = await runCli(['ingest', '--sink', 'ndjson', '--dead-letter', join(dir, 'no', 'such', 'dir.ndjson'), file]);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /cannot write dead letters to .*no\/such\/dir\.ndjson: ENOENT/);
    assert.doesNotMatch(r.stderr, /\n\s+at /);
    const db = join(dir, 's.db');
    await runCli(['ingest', '--db', db, file]);
    const full = await new Promise<{ code: number | null; stderr: string }>((resolve) => {
      const child = spawn('sh', ['-c', `'${process.execPath}' '${BIN}' search --db '${db}' --json --limit 1000 > /dev/full`]);
      const err: Buffer[] = [];
      child.stderr.on('data', (c: Buffer) => err.push(c));
      child.on('exit', (code) => resolve({ code, stderr: Buffer.concat(err).toString() }));
    });
    assert.equal(full.code, 1, full.stderr);
    assert.match(full.stderr, /cannot write to standard output: .*ENOSPC|no space/i);
  });

  it('invalid UTF-8 is stored with its exact bytes and distinct ids; export gives them back', async () => {
    const dir = tmp();
    const db = join(dir, 's.db');
    const base = `${toKeyValueLine(events[3]!)}|Note=`;
    const a = Buffer.concat([Buffer.from(base), Buffer.from([0xff, 0x41])]);
    const b = Buffer.concat([Buffer.from(base), Buffer.from([0xfe, 0x41])]);
    writeFileSync(join(dir, 'x.log'), Buffer.concat([a, Buffer.from('\n'), b, Buffer.from('\n')]));
    const r = await runCli(['ingest', '--db', db, join(dir, 'x.log')]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stderr, /2 stored, 0 duplicates/);
    const store = new Store(db, { readonly: true });
    const originals = search(store.db, { limit: 10 }).sort((x, y) => x.rowid - y.rowid).map((x) => encodeText(x.original));
    store.close();
    assert.deepEqual(originals, [a, b], 'the stored records give back their exact bytes');
    const exported = lines((await runCli(['export', '--db', db])).stdout).map((l) => JSON.parse(l) as { event: { original: string } });
    assert.ok(exported.some((d) => d.event.original.endsWith('\udcffA')));
  });

  it('replay keeps the bytes it was given and never reads the source path again', async () => {
    const dir = tmp();
    const db = join(dir, 's.db');
    const gz = gzipSync(kvText);
    writeFileSync(join(dir, 'cut.log.gz'), gz.subarray(0, gz.length - 40));
    const r = await runCli(['ingest', '--db', db, join(dir, 'cut.log.gz')]);
    assert.equal(r.code, 2, r.stderr);
    // An unrelated file at the derived name must not be imported by replay.
    writeFileSync(join(dir, 'cut.log'), `${toKeyValueLine(takeEvents({ seed: 99, startMs: Date.UTC(2026, 5, 1) }, 1)[0]!)}\n`);
    const before = new Database(db, { readonly: true });
    const sources = (before.prepare('SELECT DISTINCT source FROM dead_letters').all() as { source: string }[]).map((x) => x.source);
    const count = (before.prepare('SELECT count(*) AS n FROM events').get() as { n: number }).n;
    before.close();
    assert.deepEqual(sources, [join(dir, 'cut.log.gz')]);
    const rep = await runCli(['replay', '--db', db, '--json']);
    assert.equal(rep.code, 2);
    const after = new Database(db, { readonly: true });
    const still = (after.prepare('SELECT count(*) AS n FROM events').get() as { n: number }).n;
    after.close();
    assert.equal(still, count, 'replay imported nothing new');
  });

  it('usage errors a new user meets are one clear line', async () => {
    const dir = tmp();
    const db = join(dir, 's.db');
    writeFileSync(join(dir, 'x.log'), kvText);
    await runCli(['ingest', '--db', db, join(dir, 'x.log')]);
    const cases: [string[], RegExp][] = [
      [['search', '--db', db, '--text', '  '], /--text needs at least one letter or digit/],
      [['search', '--db', db, '--type', 'bogus'], /unknown --type "bogus"/],
      [['search', '--db', db, '--from', 'yesterday'], /--from: not an ISO 8601 date/],
      [['collect', '--db', db, '--url', 'http://user:hunter2@127.0.0.1:9/', '--once'], /must not carry a user name or password/],
      [['collect', '--db', db, '--config', join(dir, 'missing.json')], /config file .*missing\.json: no such file/],
      [['simulate', '--fault-rate', 'abc'], /--fault-rate must be a probability/],
    ];
    for (const [args, expected] of cases) {
      const r = await runCli(args);
      assert.equal(r.code, 1, args.join(' '));
      assert.match(r.stderr, expected);
      assert.doesNotMatch(r.stderr, /hunter2/);
    }
    const trace = await runCli(['trace', '--db', db, '--json', 'nothing-like-this']);
    assert.equal(trace.code, 1);
    // A zone-less time is UTC: the day of the events, not the local day.
    const day = new Date(events[0]!.timeMs).toISOString().slice(0, 10);
    const found = await runCli(['search', '--db', db, '--from', day, '--limit', '1000', '--json']);
    assert.equal(found.code, 0);
    assert.equal(lines(found.stdout).length, events.filter((e) => new Date(e.timeMs).toISOString().slice(0, 10) >= day).length);
  });

  it('refuses a config file with keys that others can read, with the chmod that fixes it', async () => {
    const dir = tmp();
    const config = join(dir, 'mimecast.json');
    writeFileSync(config, JSON.stringify({ appId: 'a', appKey: 'b', accessKey: 'c', secretKey: 'ZA==', baseUrl: 'http://127.0.0.1:9' }));
    chmodSync(config, 0o644);
    const r = await runCli(['collect', '--db', join(dir, 's.db'), '--config', config, '--once']);
    assert.equal(r.code, 1);
    assert.match(r.stderr, new RegExp(`chmod 600 ${config}`));
  });

  it('collect gives up soon, with the cause, on an address that never answered', async () => {
    const dir = tmp();
    const closed = await new Promise<number>((resolve) => {
      const srv = createServer().listen(0, '127.0.0.1', () => {
        const { port } = srv.address() as { port: number };
        srv.close(() => resolve(port));
      });
    });
    const url = `http://127.0.0.1:${closed}`;
    const v1 = await runCli(['collect', '--db', join(dir, 's.db'), '--url', url, '--once', '--retry-base-ms', '20', '--retry-max-ms', '50'], {
      env: { MIMECAST_APP_ID: 'a', MIMECAST_APP_KEY: 'b', MIMECAST_ACCESS_KEY: 'c', MIMECAST_SECRET_KEY: 'ZA==' },
    });
    assert.equal(v1.code, 1);
    assert.ok(v1.stderr.includes(`cannot reach ${url}: connection refused (ECONNREFUSED), 3 attempts and no answer yet`), v1.stderr);
    const v2 = await runCli(['collect', '--api', 'v2', '--db', join(dir, 's2.db'), '--url', url, '--once', '--retry-base-ms', '20', '--retry-max-ms', '50'], {
      env: { MIMECAST_CLIENT_ID: 'a', MIMECAST_CLIENT_SECRET: 'b' },
    });
    assert.equal(v2.code, 1);
    assert.match(v2.stderr, /connection refused \(ECONNREFUSED\)/);
  });

  it('the summary says which inputs failed, and suggests replay only when it can help', async () => {
    const dir = tmp();
    writeFileSync(join(dir, 'a.log'), kvText);
    writeFileSync(join(dir, 'b.bin'), Buffer.from([0, 1, 2, 3, 0x0a, 0xff, 0xfe, 0x0a]));
    const r = await runCli(['ingest', '--db', join(dir, 's.db'), join(dir, 'a.log'), join(dir, 'b.bin')]);
    assert.equal(r.code, 2);
    assert.match(r.stderr, new RegExp(`by input: +${join(dir, 'b.bin').replace(/[.]/g, '\\.')}=2`));
    assert.doesNotMatch(r.stderr, /replay/);
    const unknown = await runCli(['ingest', '--db', join(dir, 's.db'), '--unknown-types', 'dead-letter', '-'], { stdin: 'datetime=2026-01-01T00:00:00Z|zzz=1\n' });
    assert.equal(unknown.code, 2);
    assert.match(unknown.stderr, /--types-file, then mimelog replay/);
  });

  it('an API 1.0 file over --max-response-bytes is dead-lettered with its head, and the collector moves on', async () => {
    const r = await startSimulator({ seed: 5, events: 600, eventsPerFile: 200 });
    try {
      const db = join(r.dir, 'big.db');
      const res = await collect(r, db, ['--max-response-bytes', '4096', '--no-compress']);
      assert.equal(res.code, 2, res.stderr.slice(-1000));
      const dead = query<{ reason: string; n: number; truncated_from: number }>(db, 'SELECT reason, length(raw) AS n, truncated_from FROM dead_letters');
      // The files as served: each one over the bound is one dead letter, the others are stored.
      const served = join(r.dir, 'served');
      r.sim.writeExpected(served, 'key_value');
      const sizes = readdirSync(served).map((f) => statSync(join(served, f)).size);
      assert.ok(sizes.some((s) => s > 4096) && sizes.some((s) => s <= 4096), `sizes ${sizes.join(',')}`);
      assert.equal(dead.length, sizes.filter((s) => s > 4096).length);
      for (const d of dead) {
        assert.match(d.reason, /file larger than 4096 bytes \(--max-response-bytes\); its first 4096 bytes are kept/);
        assert.equal(d.n, 4096);
        assert.equal(d.truncated_from, 4096);
      }
      const cp = query<{ complete: number; position: number }>(db, "SELECT complete, position FROM checkpoints WHERE source LIKE 'mimecast-v1 %'");
      assert.deepEqual(cp, [{ complete: 1, position: r.info.files }]); // caught up: no file stalled it
    } finally {
      await r.sim.stop();
    }
  });

  it('check finds a damaged store (and passes a sound one)', async () => {
    const dir = tmp();
    const db = join(dir, 's.db');
    writeFileSync(join(dir, 'x.log'), kvText.repeat(40));
    assert.equal((await runCli(['ingest', '--db', db, join(dir, 'x.log')])).code, 0);
    const sound = await runCli(['check', '--db', db]);
    assert.equal(sound.code, 0, sound.stderr);
    assert.match(sound.stdout, /: ok/);
    // Overwrite a page in the middle of the file (not the header) with noise.
    const bytes = readFileSync(db);
    const page = 4096;
    const at = Math.floor(bytes.length / page / 2) * page;
    for (let i = at; i < at + page; i++) bytes[i] = (i * 131) & 0xff;
    writeFileSync(db, bytes);
    const damaged = await runCli(['check', '--db', db]);
    assert.equal(damaged.code, 1);
    assert.match(damaged.stderr, /is damaged/);
    assert.match(damaged.stderr, /\.recover/);
  });

  it('the simulator says so when its port is taken', async () => {
    const first = spawn(process.execPath, [BIN, 'simulate', '--events', '10']);
    const url = await new Promise<string>((resolve) => first.stdout.once('data', (c: Buffer) => resolve((JSON.parse(c.toString().split('\n')[0]!) as { url: string }).url)));
    const port = new URL(url).port;
    const second = await runCli(['simulate', '--events', '10', '--port', port]);
    first.kill('SIGTERM');
    assert.equal(second.code, 1);
    assert.match(second.stderr, new RegExp(`port ${port} on 127.0.0.1 is in use`));
  });

  it('v2 records with stream and batch shapes still ingest (sanity for the hostile paths)', async () => {
    const r = await runCli(['ingest', '--sink', 'ndjson', '-'], { stdin: events.slice(0, 5).map((e) => JSON.stringify(toV2Record(e, { shape: 'stream' }))).join('\n') });
    assert.equal(r.code, 0, r.stderr);
    assert.equal(lines(r.stdout).length, 5);
  });
});
