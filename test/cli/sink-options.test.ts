/**
 * `sink:` (run's config and `--sink-config`) and `--sink`: one destination or a list, each name
 * once, unknown kinds and wrong keys named with their place, a kind that needs settings sent to
 * `--sink-config`, and a list that keeps the events in the store and counts them there.
 */
import assert from 'node:assert/strict';
import { chmodSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { loadConfig, loadSinkConfig } from '../../src/service/config.js';
import { ConfigError } from '../../src/util/errors.js';
import { SAMPLES, runCli, tempDir } from '../support/helpers.js';

const dir = tempDir('mimelog-sink-options-');
after(() => rmSync(dir, { recursive: true, force: true }));

let files = 0;
function file(text: string): string {
  const path = join(dir, `f${files++}.yaml`);
  writeFileSync(path, text);
  chmodSync(path, 0o600);
  return path;
}

function problems(load: () => unknown): readonly string[] {
  try {
    load();
  } catch (err) {
    if (err instanceof ConfigError) return err.problems;
    throw err;
  }
  return [];
}

const SOURCE = 'sources:\n  - {name: s, kind: spool, path: /tmp}\n';

describe('sink: in a config', () => {
  it('takes no sink (the store), one mapping, or a list; a mapping without kind is the store', () => {
    assert.deepEqual(loadConfig(file(SOURCE), {}).sink, [{ kind: 'sqlite' }]);
    assert.deepEqual(loadConfig(file(`sink: {}\n${SOURCE}`), {}).sink, [{ kind: 'sqlite' }]);
    const list = loadConfig(file(`sink:\n  - kind: sqlite\n  - {kind: opensearch, urls: ["https://127.0.0.1:9200"], bulk_docs: 50}\n${SOURCE}`), {}).sink;
    assert.deepEqual(list.map((e) => e.kind), ['sqlite', 'opensearch']);
    assert.equal((list[1] as unknown as { bulk_docs: number }).bulk_docs, 50);
  });

  it('names the place of each problem as written: a mapping by its keys, a list by its index', () => {
    assert.deepEqual(problems(() => loadConfig(file(`sink: {kind: opensearch, urls: ["https://127.0.0.1:9200"], bulk_docs: 0}\n${SOURCE}`), {})), ['sink.bulk_docs: at least 1 (allowed: from 1 to 100000)']);
    assert.deepEqual(problems(() => loadConfig(file(`sink: [{kind: sqlite}, {kind: elasticsearch, urls: ["https://127.0.0.1:9200"], colour: red}]\n${SOURCE}`), {})), ['sink[1].colour: unknown key']);
  });

  it('refuses an unknown kind with the list of kinds, and two sinks of one name', () => {
    const [unknown] = problems(() => loadSinkConfig(file('sink: {kind: carrier-pigeon}\n'), {}));
    assert.match(unknown!, /^sink\.kind: unknown sink kind "carrier-pigeon", expected one of "sqlite", "opensearch", "elasticsearch"/);
    const twice = problems(() => loadSinkConfig(file('sink:\n  - {kind: opensearch, urls: ["http://127.0.0.1:1"]}\n  - {kind: opensearch, urls: ["http://127.0.0.1:2"]}\n'), {}));
    assert.deepEqual(twice, ['sink[1].name: two sinks are named "opensearch": give each its own name:']);
    assert.deepEqual(problems(() => loadSinkConfig(file('sink:\n  - {kind: opensearch, urls: ["http://127.0.0.1:1"]}\n  - {kind: opensearch, name: second, urls: ["http://127.0.0.1:2"]}\n'), {})), []);
  });

  it('refuses an empty list', () => {
    assert.deepEqual(problems(() => loadSinkConfig(file('sink: []\n'), {})), ['sink: at least one sink']);
  });

  it('refuses a list of 1,000 destinations (each would open its connections) with the bound', () => {
    const entries = Array.from({ length: 1000 }, (_, i) => `  - {kind: syslog, name: s${i}, host: 127.0.0.1, transport: tcp}`).join('\n');
    assert.deepEqual(problems(() => loadSinkConfig(file(`sink:\n${entries}\n`), {})), ['sink: at most 16 sinks']);
  });
});

describe('--sink and --sink-config', () => {
  const input = `${SAMPLES}understanding-siem-logs.kv`;

  it('refuses a kind twice, an unknown kind, and --sink with --sink-config, before reading any input', async () => {
    const db = join(dir, 'refused.db');
    const twice = await runCli(['ingest', '--db', db, '--sink', 'sqlite,sqlite', input]);
    assert.equal(twice.code, 1);
    assert.match(twice.stderr, /--sink names a kind twice/);
    const unknown = await runCli(['ingest', '--db', db, '--sink', 'sqlite,pigeon', input]);
    assert.equal(unknown.code, 1);
    assert.match(unknown.stderr, /unknown --sink "pigeon", expected sqlite, opensearch, elasticsearch/);
    const both = await runCli(['ingest', '--db', db, '--sink', 'opensearch', '--sink-config', file('sink: {kind: sqlite}\n'), input]);
    assert.equal(both.code, 1);
    assert.match(both.stderr, /give --sink or --sink-config, not both/);
  });

  it('--sink-config naming the store stores the events as --sink sqlite does', async () => {
    const db = join(dir, 'config.db');
    const run = await runCli(['ingest', '--db', db, '--sink-config', file('sink:\n  - kind: sqlite\n'), input, '--summary', 'json']);
    assert.equal(run.code, 0, run.stderr);
    const stats = JSON.parse((await runCli(['stats', '--db', db, '--json'])).stdout);
    assert.ok(stats.events > 0);
    assert.deepEqual(stats.destinations, []);
  });

  it('a --sink-config problem is a config error naming the file and the key', async () => {
    const bad = file('sink: {kind: opensearch, urls: ["https://user:pw@127.0.0.1:9200"]}\n');
    const run = await runCli(['ingest', '--db', join(dir, 'bad.db'), '--sink-config', bad, input]);
    assert.notEqual(run.code, 0);
    assert.ok(run.stderr.includes(`${bad}: sink.urls[0]: must not carry a user name or password`), run.stderr);
    assert.doesNotMatch(run.stderr, /pw@/);
  });
});
