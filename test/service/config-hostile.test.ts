/**
 * The service's config and endpoints against a careful attacker and an unlucky operator: secrets
 * written in a file others can read, a secret pasted into another key, `__proto__` keys, `*_file`
 * naming a FIFO, a directory or a device, URLs with a password, a web page reaching /readyz by DNS
 * rebinding, a listen address open to other machines, and a retention no date can hold.
 */
import assert from 'node:assert/strict';
import { type ChildProcess, execFileSync, spawn, spawnSync } from 'node:child_process';
import { chmodSync, mkdirSync, symlinkSync, writeFileSync } from 'node:fs';
import { createServer, request } from 'node:http';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import Database from 'better-sqlite3';
import { loadConfig } from '../../src/service/config.js';
import { retain } from '../../src/store/retention.js';
import { Store } from '../../src/store/store.js';
import { ConfigError } from '../../src/util/errors.js';
import { BIN, SAMPLES, runCli, tempDir } from '../support/helpers.js';

const SECRET = 'S3cret-"quoted"-value\\x';

/** A config with one API 2.0 source; `credentials` and `extra` are YAML text. */
function configText(dir: string, credentials: string, extra = ''): string {
  return `store: ${join(dir, 'x.db')}
sources:
  - name: globex
    kind: mimecast-v2-stream
    url: http://127.0.0.1:9
    credentials: ${credentials}
${extra}`;
}

function write(dir: string, name: string, text: string, mode: number): string {
  const file = join(dir, name);
  writeFileSync(file, text);
  chmodSync(file, mode); // not the umask's choice: the mode is what is tested
  return file;
}

function escapeRe(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&');
}

/** The problems of loading `file`, or [] when it loads. */
function problemsOf(file: string, env: NodeJS.ProcessEnv = {}): readonly string[] {
  try {
    loadConfig(file, env);
    return [];
  } catch (err) {
    if (err instanceof ConfigError) return err.problems;
    throw err;
  }
}

/** `mimelog run --config FILE --check` with a deadline: a config that hangs it fails the test instead of the suite. */
function check(file: string, env: NodeJS.ProcessEnv = {}): { status: number | null; stderr: string; stdout: string; ms: number } {
  const t0 = Date.now();
  const r = spawnSync(process.execPath, [BIN, 'run', '--config', file, '--check'], { encoding: 'utf8', timeout: 15_000, env: { ...process.env, ...env } });
  return { status: r.status, stderr: r.stderr, stdout: r.stdout, ms: Date.now() - t0 };
}

describe('service config: secrets', () => {
  it('a secret written in a config file its group or others may read is refused, naming the key; ${ENV} and *_file are fine, and so is mode 600', () => {
    const dir = tempDir('cfg-inline');
    const secretFile = write(dir, 'secret', `${SECRET}\n`, 0o600);
    const inline = configText(dir, `{ client_id: id, client_secret: "${SECRET.replaceAll('\\', '\\\\').replaceAll('"', '\\"')}" }`, 'console:\n  listen: 127.0.0.1:8080\n  token: a-console-token-of-32-characters\n');
    for (const mode of [0o644, 0o640, 0o604]) {
      const file = write(dir, `inline-${mode.toString(8)}.yaml`, inline, mode);
      const problems = problemsOf(file);
      assert.deepEqual(problems, [
        `sources[0].credentials.client_secret: a secret written in a config file others can read (mode ${mode.toString(8)}): give it as client_secret_file or \${ENV_VAR}, or run chmod 600 ${file}`,
        `console.token: a secret written in a config file others can read (mode ${mode.toString(8)}): give it as token_file or \${ENV_VAR}, or run chmod 600 ${file}`,
      ]);
    }
    assert.deepEqual(problemsOf(write(dir, 'private.yaml', inline, 0o600)), []);
    const fromEnv = write(dir, 'env.yaml', configText(dir, '{ client_id: id, client_secret: "${GLOBEX_SECRET}" }'), 0o644);
    assert.equal(loadConfig(fromEnv, { GLOBEX_SECRET: SECRET }).sources[0]!.kind, 'mimecast-v2-stream');
    const fromFile = write(dir, 'file.yaml', configText(dir, `{ client_id: id, client_secret_file: ${secretFile} }`), 0o644);
    const loaded = loadConfig(fromFile, {});
    assert.equal((loaded.sources[0] as { credentials: { client_secret: string } }).credentials.client_secret, SECRET);
  });

  it('a secret pasted into another key is never shown by a config error, from a file, inline or from the environment', async () => {
    const dir = tempDir('cfg-reused');
    const secretFile = write(dir, 'secret', `${SECRET}\n`, 0o600);
    const extra = (value: string) => `    region: "${value}"\n    poll_interval_s: "${value}"\n    types_file: 7\n    page_size: "${value}"\n`;
    const escaped = SECRET.replaceAll('\\', '\\\\').replaceAll('"', '\\"');
    const cases: [string, NodeJS.ProcessEnv][] = [
      [configText(dir, `{ client_id: id, client_secret_file: ${secretFile} }`, extra(escaped)), {}],
      [configText(dir, `{ client_id: id, client_secret: "${escaped}" }`, extra(escaped)), {}],
      [configText(dir, '{ client_id: id, client_secret: "${S}" }', extra('${S}')), { S: SECRET }],
    ];
    for (const [i, [text, env]] of cases.entries()) {
      const file = write(dir, `reused-${i}.yaml`, text, 0o600);
      const r = await runCli(['run', '--config', file, '--check'], { env });
      assert.equal(r.code, 1, r.stderr);
      assert.match(r.stderr, /sources\[0\]\.poll_interval_s: expected a number/);
      assert.match(r.stderr, /sources\[0\]\.region: unknown region/);
      assert.ok(!r.stderr.includes('S3cret'), `case ${i}: the secret is not shown:\n${r.stderr}`);
      assert.match(r.stderr, /\[redacted\]/);
    }
  });

  it('a source or sink URL with a user name and password is refused by --check, without the password', () => {
    const dir = tempDir('cfg-url');
    const source = write(dir, 'source.yaml', configText(dir, '{ client_id: id, client_secret: "${S}" }').replace('http://127.0.0.1:9', 'https://admin:hunter2-pw@api.services.mimecast.com'), 0o600);
    const r = check(source, { S: 'a-secret-value' });
    assert.equal(r.status, 1);
    assert.match(r.stderr, /sources\[0\]\.url: must not carry a user name or password/);
    assert.ok(!r.stderr.includes('hunter2'), r.stderr);
    const sink = write(dir, 'sink.yaml', `${configText(dir, '{ client_id: id, client_secret: "${S}" }')}sink:\n  kind: opensearch\n  urls: [https://127.0.0.1:9200, "https://elastic:hunter2-pw@127.0.0.1:9201"]\n`, 0o600);
    const s = check(sink, { S: 'a-secret-value' });
    assert.equal(s.status, 1);
    assert.match(s.stderr, /sink\.urls\[1\]: must not carry a user name or password/);
    assert.ok(!s.stderr.includes('hunter2'), s.stderr);
    const notUrls = write(dir, 'not-urls.yaml', `${configText(dir, '{ client_id: id, client_secret: "${S}" }').replace('http://127.0.0.1:9', 'not-a-url')}sink:\n  kind: opensearch\n  urls: ["::nope"]\n`, 0o600);
    assert.deepEqual(problemsOf(notUrls, { S: 'a-secret-value' }), ['sink.urls[0]: an http(s) URL', 'sources[0].url: an http(s) URL']);
    const cli = spawnSync(process.execPath, [BIN, 'ingest', '--db', join(dir, 'y.db'), '--sink', 'opensearch', '--search-url', 'http://elastic:hunter2-pw@127.0.0.1:9', '-'], { encoding: 'utf8', timeout: 15_000, input: '' });
    assert.equal(cli.status, 1);
    assert.match(cli.stderr, /--search-url must not carry a user name or password/);
    assert.ok(!cli.stderr.includes('hunter2'), cli.stderr);
  });
});

describe('service config: the sink\'s secrets', () => {
  it('sink.password_file is what the service sends to the search engine (not ignored for the environment), and no error shows it', async () => {
    const dir = tempDir('cfg-sink');
    mkdirSync(join(dir, 'spool'));
    const password = 'sink-Pa55word-from-a-file';
    const seen: string[] = [];
    const server = createServer((req, res) => {
      seen.push(req.headers.authorization ?? '');
      res.writeHead(401, { 'content-type': 'application/json' }).end('{"error":"unauthorized"}');
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    try {
      const { port } = server.address() as { port: number };
      const secret = write(dir, 'password', `${password}\n`, 0o600);
      const file = write(dir, 'c.yaml', `store: ${join(dir, 'x.db')}\nlisten: 127.0.0.1:0\nsink:\n  kind: opensearch\n  urls: [http://127.0.0.1:${port}]\n  user: mimelog\n  password_file: ${secret}\n  give_up_s: 1\nsources:\n  - name: drop\n    kind: spool\n    path: ${join(dir, 'spool')}\n`, 0o600);
      const r = await runCli(['run', '--config', file, '--once'], { env: { MIMELOG_SEARCH_PASSWORD: 'not-this-one-from-the-environment' } });
      assert.equal(r.code, 1, r.stderr);
      assert.ok(seen.length > 0, 'the engine was asked');
      assert.equal(seen[0], `Basic ${Buffer.from(`mimelog:${password}`).toString('base64')}`);
      assert.ok(!r.stderr.includes(password), r.stderr);
    } finally {
      server.close();
    }
  });
});

describe('service config: hostile files', () => {
  it('__proto__, constructor and prototype keys are refused with their path (they cannot hide keys from the schema)', () => {
    const dir = tempDir('cfg-proto');
    // Before: `__proto__` became the object's prototype, its keys invisible to the unknown-key check yet read as settings.
    const hidden = write(dir, 'proto.yaml', `__proto__:\n  store: ${join(dir, 'elsewhere.db')}\n  lisen: 0.0.0.0:1\n${configText(dir, '{ client_id: id, client_secret: a-secret-value }').replace(/^store: .*\n/, '')}`, 0o600);
    assert.deepEqual(problemsOf(hidden), ['__proto__: a key named __proto__ is not allowed (it would reach into JavaScript\'s object model)']);
    const nested = write(dir, 'nested.yaml', configText(dir, '{ client_id: id, client_secret: a-secret-value, constructor: { prototype: 1 } }'), 0o600);
    assert.deepEqual(problemsOf(nested), [
      'sources[0].credentials.constructor: a key named constructor is not allowed (it would reach into JavaScript\'s object model)',
      'sources[0].credentials.constructor.prototype: a key named prototype is not allowed (it would reach into JavaScript\'s object model)',
    ]);
  });

  it('*_file naming a FIFO, a directory, a device or a huge file is refused at once; so is a config that is a FIFO', () => {
    const dir = tempDir('cfg-files');
    const fifo = join(dir, 'fifo');
    execFileSync('mkfifo', ['-m', '600', fifo]);
    const big = write(dir, 'big', 'x'.repeat(65 * 1024), 0o600);
    const cases: [string, RegExp][] = [
      [fifo, /is a FIFO \(named pipe\), not a regular file/],
      [dir, /is a directory, not a regular file/],
      ['/dev/zero', /is a device, not a regular file/],
      [big, /is larger than 65536 bytes/],
    ];
    for (const [target, reason] of cases) {
      const file = write(dir, 'c.yaml', configText(dir, `{ client_id: id, client_secret_file: ${target} }`), 0o600);
      const r = check(file);
      assert.equal(r.status, 1, `${target}: ${r.stderr}`);
      assert.ok(r.ms < 10_000, `${target}: answered in ${r.ms} ms`);
      assert.match(r.stderr, new RegExp(`sources\\[0\\]\\.credentials\\.client_secret_file: cannot read ${target.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')} \\(${reason.source}\\)`));
    }
    const r = check(fifo);
    assert.equal(r.status, 1);
    assert.match(r.stderr, /is a FIFO \(named pipe\), not a regular file/);
    // A types file is looked at first too, in the config and on the command line.
    const types = check(write(dir, 'types.yaml', `store: ${join(dir, 'x.db')}\nsources:\n  - name: drop\n    kind: spool\n    path: ${dir}\n    types_file: ${fifo}\n`, 0o600));
    assert.equal(types.status, 1, types.stderr);
    assert.match(types.stderr, /types file .*fifo: is a FIFO \(named pipe\), not a regular file/);
    const ingest = spawnSync(process.execPath, [BIN, 'ingest', '--db', join(dir, 'x.db'), '--types-file', fifo, '-'], { encoding: 'utf8', timeout: 15_000, input: '' });
    assert.equal(ingest.status, 1, ingest.stderr);
    assert.match(ingest.stderr, /types file .*fifo: is a FIFO \(named pipe\), not a regular file/);
    // collect's API 1.0 --config (JSON) is read the same way.
    const collect = spawnSync(process.execPath, [BIN, 'collect', '--db', join(dir, 'x.db'), '--config', fifo, '--once'], { encoding: 'utf8', timeout: 15_000 });
    assert.equal(collect.status, 1, collect.stderr);
    assert.match(collect.stderr, /config file .*fifo: is a FIFO \(named pipe\), not a regular file/);
  });
});

/** GET `path` with this Host header; the status. */
function get(port: number, path: string, host: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path, headers: { host } }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode ?? 0));
    });
    req.on('error', reject);
    req.end();
  });
}

describe('service endpoints', () => {
  const children: ChildProcess[] = [];
  after(() => {
    for (const c of children) if (c.exitCode === null) c.kill('SIGKILL');
  });

  it('/readyz and /metrics answer 421 to a Host that is not the service\'s (DNS rebinding); its addresses, localhost and allowed_hosts pass', async () => {
    const dir = tempDir('cfg-host');
    mkdirSync(join(dir, 'spool'));
    const file = write(dir, 'c.yaml', `store: ${join(dir, 'x.db')}\nlisten: 127.0.0.1:0\nallowed_hosts: [metrics.example.net]\nsources:\n  - name: drop\n    kind: spool\n    path: ${join(dir, 'spool')}\n`, 0o600);
    const child = spawn(process.execPath, [BIN, 'run', '--config', file], { stdio: ['ignore', 'ignore', 'pipe'] });
    children.push(child);
    let stderr = '';
    const port = await new Promise<number>((resolve, reject) => {
      child.stderr!.on('data', (c: Buffer) => {
        stderr += c.toString();
        const m = /"msg":"service listening","url":"http:\/\/127\.0\.0\.1:(\d+)\//.exec(stderr);
        if (m) resolve(Number(m[1]));
      });
      child.once('exit', () => reject(new Error(`run exited: ${stderr}`)));
    });
    for (const path of ['/readyz', '/metrics']) {
      for (const host of ['attacker.example', `attacker.example:${port}`, `localhost.attacker.example:${port}`, `127.0.0.1.attacker.example:${port}`]) {
        assert.equal(await get(port, path, host), 421, `${path} Host ${host}`);
      }
      for (const host of [`127.0.0.1:${port}`, `localhost:${port}`, `[::1]:${port}`, `METRICS.example.net:${port}`, '10.1.2.3']) {
        assert.equal(await get(port, path, host), 200, `${path} Host ${host}`);
      }
    }
    assert.equal(await get(port, '/healthz', 'attacker.example'), 200, '/healthz says only "alive"');
    assert.doesNotMatch(stderr, /"level":"warn"/, 'loopback: no exposure warning');
    const exited = new Promise((resolve) => child.once('exit', resolve));
    child.kill('SIGTERM');
    assert.equal(await exited, 0);
  });

  it('a listen address open to other machines: --check warns who can then read /readyz and /metrics', () => {
    const dir = tempDir('cfg-listen');
    const text = (listen: string) => `store: ${join(dir, 'x.db')}\nlisten: ${listen}\nsources:\n  - name: drop\n    kind: spool\n    path: ${dir}\n`;
    const open = check(write(dir, 'open.yaml', text('0.0.0.0:9464'), 0o600));
    assert.equal(open.status, 0, open.stderr);
    assert.match(open.stderr, /warning: .*listen 0\.0\.0\.0:9464 is not loopback: anyone who can connect to it can read \/readyz \(source names, states and failure reasons\) and \/metrics/);
    const closed = check(write(dir, 'closed.yaml', text('127.0.0.1:9464'), 0o600));
    assert.equal(closed.status, 0, closed.stderr);
    assert.equal(closed.stderr, '');
  });
});

describe('retention values', () => {
  it('retain refuses a cutoff no date can hold; stats and the console still read a store where an older mimelog recorded one', async () => {
    const dir = tempDir('cfg-retain');
    const db = join(dir, 's.db');
    const ingest = await runCli(['ingest', '--db', db, join(SAMPLES, 'understanding-siem-logs.kv'), '--summary', 'none']);
    assert.equal(ingest.code, 0, ingest.stderr);
    const store = new Store(db);
    await assert.rejects(retain(store.db, 1e9), /retention of 1000000000 days is longer than 36500/);
    await assert.rejects(retain(store.db, 36_500, { now: -8.64e15 + 1 }), /gives a cutoff before the earliest date/);
    store.close();
    const raw = new Database(db);
    raw.prepare('INSERT INTO retention_passes (ran_at, cutoff_ms, events_removed) VALUES (?, ?, 0)').run(Date.now(), -8.64e27);
    raw.close();
    const stats = await runCli(['stats', '--db', db, '--json']);
    assert.equal(stats.code, 0, stats.stderr);
    assert.match((JSON.parse(stats.stdout) as { store: { last_retention: { cutoff: string } } }).store.last_retention.cutoff, /^not a date/);
    assert.equal((await runCli(['stats', '--db', db])).code, 0);
    const consoleProcess = spawn(process.execPath, [BIN, 'console', '--db', db, '--listen', '127.0.0.1:0'], { stdio: ['ignore', 'ignore', 'pipe'] });
    try {
      const url = await new Promise<string>((resolve, reject) => {
        let text = '';
        consoleProcess.stderr!.on('data', (c: Buffer) => {
          text += c.toString();
          const m = /(http:\/\/\S+\/)/.exec(text);
          if (m) resolve(m[1]!);
        });
        consoleProcess.once('exit', () => reject(new Error(`console exited: ${text}`)));
      });
      const res = await fetch(`${url}api/overview`);
      assert.equal(res.status, 200);
    } finally {
      consoleProcess.kill('SIGTERM');
    }
  });
});

describe('user-given files: CA files, console tokens, system files', () => {
  it('sink ca_file naming a FIFO, a device, a missing file, a huge file or no certificate fails --check at once, naming the key', () => {
    const dir = tempDir('cfg-ca');
    const fifo = join(dir, 'fifo');
    execFileSync('mkfifo', ['-m', '600', fifo]);
    const pem = write(dir, 'ca.pem', '-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n', 0o644);
    const cases: [string, string][] = [
      [fifo, 'is a FIFO (named pipe), not a regular file'],
      ['/dev/zero', 'is a device, not a regular file'],
      [join(dir, 'missing.pem'), 'no such file'],
      [write(dir, 'huge.pem', 'x'.repeat(1024 * 1024 + 1), 0o644), 'is larger than 1048576 bytes'],
      [write(dir, 'not.pem', 'hello\n', 0o644), 'holds no PEM certificate (-----BEGIN CERTIFICATE-----)'],
    ];
    const sinkWith = (ca: string) => `${configText(dir, '{ client_id: id, client_secret: "${S}" }')}sink:\n  kind: opensearch\n  urls: [https://127.0.0.1:9200]\n  ca_file: ${ca}\n`;
    for (const [ca, reason] of cases) {
      const r = check(write(dir, 'c.yaml', sinkWith(ca), 0o600), { S: 'a-secret-value' });
      assert.equal(r.status, 1, `${ca}: ${r.stderr}`);
      assert.ok(r.ms < 10_000, `${ca}: answered in ${r.ms} ms`);
      assert.match(r.stderr, new RegExp(`sink\\.ca_file: cannot use ${escapeRe(ca)} as a CA file \\(${escapeRe(reason)}\\)`));
    }
    assert.equal(check(write(dir, 'ok.yaml', sinkWith(pem), 0o600), { S: 'a-secret-value' }).status, 0);
  });

  it('ingest --search-ca naming a FIFO or /dev/zero fails at once with the file and the reason (no hang, no unbounded read)', () => {
    const dir = tempDir('cli-ca');
    const fifo = join(dir, 'fifo');
    execFileSync('mkfifo', ['-m', '600', fifo]);
    for (const [ca, reason] of [[fifo, /is a FIFO/], ['/dev/zero', /is a device/]] as const) {
      const r = spawnSync(process.execPath, [BIN, 'ingest', '--db', join(dir, 'x.db'), '--sink', 'opensearch', '--search-url', 'http://127.0.0.1:1', '--search-ca', ca, '-'], { encoding: 'utf8', timeout: 15_000, input: '' });
      assert.equal(r.status, 1, `${ca}: ${r.stderr}`);
      assert.match(r.stderr, new RegExp(`^mimelog: CA file ${escapeRe(ca)}: ${reason.source}`, 'm'));
    }
  });

  it('console --token-file naming a FIFO fails at once; one others may read is still refused', () => {
    const dir = tempDir('console-token-file');
    const fifo = join(dir, 'fifo');
    execFileSync('mkfifo', ['-m', '600', fifo]);
    const console = (file: string) => spawnSync(process.execPath, [BIN, 'console', '--db', join(dir, 'x.db'), '--listen', '127.0.0.1:0', '--token-file', file], { encoding: 'utf8', timeout: 10_000 });
    const r = console(fifo);
    assert.equal(r.status, 1, r.stderr);
    assert.match(r.stderr, /--token-file .*fifo: is a FIFO \(named pipe\), not a regular file/);
    const open = console(write(dir, 'open-token', 'a-console-token-of-32-characters\n', 0o644));
    assert.equal(open.status, 1, open.stderr);
    assert.match(open.stderr, /--token-file .*open-token is readable by others: run chmod 600/);
  });

  it('a *_file that is a link to /proc/self/environ (or anything under /proc, /sys, /dev) is refused, saying why', () => {
    const dir = tempDir('cfg-system');
    const link = join(dir, 'secret-link');
    symlinkSync('/proc/self/environ', link);
    const file = write(dir, 'c.yaml', configText(dir, `{ client_id: id, client_secret_file: ${link} }`), 0o600);
    const problems = problemsOf(file);
    assert.equal(problems.length, 1, problems.join('\n'));
    assert.match(problems[0]!, new RegExp(`^sources\\[0\\]\\.credentials\\.client_secret_file: cannot read ${escapeRe(link)} \\(is /proc/\\d+/environ, under /proc \\(process and kernel state, such as the whole environment of a process\\), not a file a person wrote\\)$`));
  });

  it('run --check\'s ok line masks a secret reused as the store path', () => {
    const dir = tempDir('cfg-ok-line');
    const secret = 'reused-Secret-value-42';
    const file = write(dir, 'c.yaml', configText(dir, '{ client_id: id, client_secret: "${S}" }').replace(/^store: .*$/m, `store: ${join(dir, '${S}.db')}`), 0o600);
    const r = check(file, { S: secret });
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stdout, /: ok, 1 source \(.*store .*\[redacted\]\.db/);
    assert.ok(!r.stdout.includes(secret), r.stdout);
  });
});

describe('config values and places', () => {
  it('.nan, .inf and 1e400 in a numeric key say "not a finite number", not "null"', () => {
    const dir = tempDir('cfg-nan');
    for (const value of ['.nan', '.inf', '-.inf', '1e400']) {
      const file = write(dir, 'c.yaml', configText(dir, '{ client_id: id, client_secret: a-secret-value }', `    poll_interval_s: ${value}\n`), 0o600);
      assert.deepEqual(problemsOf(file), [`sources[0].poll_interval_s: not a finite number (${value === '.nan' ? 'NaN' : value.startsWith('-') ? '-Infinity' : 'Infinity'})`]);
    }
  });

  it('a YAML alias bomb is a config error naming the file, not a ReferenceError', () => {
    const dir = tempDir('cfg-alias');
    const levels = ['a: &a [x, x, x, x, x, x, x, x, x]'];
    for (let i = 1; i < 9; i++) levels.push(`${String.fromCharCode(97 + i)}: &${String.fromCharCode(97 + i)} [${Array(9).fill(`*${String.fromCharCode(96 + i)}`).join(', ')}]`);
    const file = write(dir, 'bomb.yaml', `${levels.join('\n')}\n`, 0o600);
    const r = check(file);
    assert.equal(r.status, 1, r.stderr);
    assert.match(r.stderr, new RegExp(`^mimelog: config ${escapeRe(file)}: not valid YAML: .*alias`, 'm'));
    assert.doesNotMatch(r.stderr, /ReferenceError/);
  });

  it('run --check fails on a spool path that is missing or not a directory', () => {
    const dir = tempDir('cfg-spool-path');
    const spoolAt = (path: string) => write(dir, 'c.yaml', `store: ${join(dir, 'x.db')}\nsources:\n  - name: drop\n    kind: spool\n    path: ${path}\n`, 0o600);
    const missing = check(spoolAt(join(dir, 'no-such-dir')));
    assert.equal(missing.status, 1, missing.stderr);
    assert.match(missing.stderr, /sources\[0\]\.path: .*no-such-dir does not exist/);
    const notDir = check(spoolAt(write(dir, 'a-file', '', 0o600)));
    assert.equal(notDir.status, 1, notDir.stderr);
    assert.match(notDir.stderr, /sources\[0\]\.path: .*a-file is not a directory/);
    mkdirSync(join(dir, 'spool'));
    assert.equal(check(spoolAt(join(dir, 'spool'))).status, 0);
  });

  it('a config in a directory everyone may write (no sticky bit) is warned about: anyone can swap it', () => {
    const dir = tempDir('cfg-place');
    const open = join(dir, 'open');
    mkdirSync(open);
    chmodSync(open, 0o777);
    const file = write(open, 'c.yaml', configText(dir, '{ client_id: id, client_secret: a-secret-value }'), 0o600);
    const r = check(file);
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stderr, new RegExp(`warning: config .*: ${escapeRe(open)} is writable by everyone \\(mode 777, no sticky bit\\): anyone can replace`));
    chmodSync(open, 0o1777);
    assert.doesNotMatch(check(file).stderr, /writable by everyone/);
  });
});
