/**
 * The settings table (src/config/settings.ts) is the one place a number is declared: these tests
 * are generated from it, so a setting added there is checked on both sides without a new test.
 * For every setting: its flag (in every command that has it) and its config key (in every source
 * kind that has it) accept the bounds, refuse one step past each with the flag or key and the
 * range, and default to the table's value; the schema has no numeric key outside the table, and
 * the README holds the table as printed.
 */
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { Command, type Option } from 'commander';
import { stringify } from 'yaml';
import { registerCollect } from '../../src/cli/collect.js';
import { registerIngest } from '../../src/cli/ingest.js';
import { registerRun } from '../../src/cli/run.js';
import { registerStoreCommands } from '../../src/cli/store-commands.js';
import { type DefaultContext, NUMBER_SETTINGS, type NumberSetting, defaultOf, keyPath } from '../../src/config/settings.js';
import { settingsMarkdown } from '../../src/config/settings-doc.js';
import { CONFIG_SCHEMA, loadConfig } from '../../src/service/config.js';
import { ConfigError } from '../../src/util/errors.js';
import { DESTINATION_KINDS } from '../../src/sinks/registry.js';
import { ROOT, runCli, tempDir } from '../support/helpers.js';

const SETTINGS = Object.entries(NUMBER_SETTINGS) as [string, NumberSetting][];

/** One step past each bound, and the bounds themselves. */
function probes(s: NumberSetting): { valid: number[]; below: number; above: number } {
  const step = s.integer ? 1 : 0.001;
  return { valid: [s.min, s.max], below: s.min - step, above: s.max + step };
}

const allCommands = (() => {
  const program = new Command();
  registerIngest(program);
  registerStoreCommands(program);
  registerCollect(program);
  registerRun(program);
  return program.commands;
})();

/** Every (command, option) pair that has this flag. */
const optionsWith = (flag: string): [string, Option][] =>
  allCommands.flatMap((c) => c.options.filter((o) => o.long === flag).map((o): [string, Option] => [c.name(), o]));

const parse = (o: Option, text: string): unknown => (o.parseArg as (value: string, previous: unknown) => unknown)(text, undefined);

describe('settings: the command line', () => {
  for (const [name, s] of SETTINGS.filter(([, s]) => s.flag !== undefined)) {
    it(`${s.flag}: accepts ${s.min} and ${s.max}, refuses what lies past them with the flag and the range, defaults to the table's value`, () => {
      assert.equal(name, s.flag!.slice(2).replace(/-([a-z])/g, (_, c: string) => c.toUpperCase()), 'a setting is named as commander names its flag');
      const found = optionsWith(s.flag!);
      assert.ok(found.length > 0, `some command has ${s.flag}`);
      const { valid, below, above } = probes(s);
      for (const [command, option] of found) {
        for (const v of valid) assert.equal(parse(option, String(v)), v, `${command} ${s.flag} ${v}`);
        const refused = (text: string, what: RegExp) => assert.throws(() => parse(option, text), (err: Error) => {
          assert.match(err.message, new RegExp(`^${s.flag}: `), `${command} ${s.flag} ${text}: names the flag`);
          assert.match(err.message, what, `${command} ${s.flag} ${text}`);
          assert.ok(err.message.includes(`from ${s.min} to ${s.max}`), `${command} ${s.flag} ${text}: says the range`);
          return true;
        });
        refused(String(below), new RegExp(`at least ${s.min}`));
        refused(String(above), new RegExp(`at most ${s.max}`));
        for (const junk of ['1e400', 'abc', '', '0x10', 'NaN', '-Infinity']) refused(junk, /expected a (whole )?number/);
        if (s.integer && s.min + 0.5 < s.max) refused(String(s.min + 0.5), /expected a whole number/);
        assert.equal(option.defaultValue, defaultOf(s, 'cli'), `${command} ${s.flag}: default`);
      }
    });
  }

  it('the command line refuses an out-of-range value before doing anything: retain --days 1e20, search --limit 0', async () => {
    const dir = tempDir('settings-cli');
    const days = await runCli(['retain', '--db', join(dir, 'x.db'), '--days', '1e20']);
    assert.equal(days.code, 1);
    assert.equal(days.stderr, 'mimelog: --days: at most 36500 days (allowed: from 8 to 36500 days)\n');
    const limit = await runCli(['search', '--db', join(dir, 'x.db'), '--limit', '0']);
    assert.equal(limit.code, 1);
    assert.match(limit.stderr, /^mimelog: --limit: at least 1 \(allowed: from 1 to 1000000\)\n$/);
  });
});

/** A minimal valid source of each kind; secrets inline (the file is written mode 600). */
const SOURCES: Record<Exclude<DefaultContext, 'cli'>, Record<string, unknown>> = {
  'mimecast-v1': { kind: 'mimecast-v1', url: 'http://127.0.0.1:9', credentials: { app_id: 'a', app_key: 'b', access_key: 'c', secret_key: 'd' } },
  'mimecast-v2-batch': { kind: 'mimecast-v2-batch', url: 'http://127.0.0.1:9', credentials: { client_id: 'a', client_secret: 'b' } },
  'mimecast-v2-stream': { kind: 'mimecast-v2-stream', url: 'http://127.0.0.1:9', credentials: { client_id: 'a', client_secret: 'b' } },
  'mimecast-v2-feeds': { kind: 'mimecast-v2-feeds', url: 'http://127.0.0.1:9', credentials: { client_id: 'a', client_secret: 'b' } },
  spool: { kind: 'spool', path: '/nonexistent/spool' },
};

const dir = tempDir('settings-yaml');
let files = 0;

/** Loads a config holding one source of `kind` with `extra` put where the setting lives. */
function load(s: NumberSetting, kind: keyof typeof SOURCES, value: number | undefined): { config?: ReturnType<typeof loadConfig>; problems: readonly string[] } {
  const put = value === undefined ? {} : { [s.key!]: value };
  if (s.scope === 'cluster') return loadDoc(clusterDoc(s.key!, put));
  const doc = {
    store: join(dir, 'x.db'),
    ...(s.scope === 'top' ? put : {}),
    ...(s.scope === 'sink' ? { sink: { ...sinkWith(s.key!), ...put } } : {}),
    sources: [{ name: 'one', ...SOURCES[kind], ...(s.scope === 'source' ? put : {}) }],
  };
  return loadDoc(doc);
}

/** A config of replicas (a search sink, an API source) with the cluster key put, its partner key where every value of the key is allowed. */
function clusterDoc(key: string, put: Record<string, number>): Record<string, unknown> {
  const partner = key === 'lease_s' ? { renew_s: 1 } : { lease_s: 600 };
  return { store: join(dir, 'x.db'), sink: { kind: 'opensearch', urls: ['http://127.0.0.1:9'] }, cluster: { ...partner, ...put }, sources: [{ name: 'one', ...SOURCES['mimecast-v1'] }] };
}

function loadDoc(doc: Record<string, unknown>): { config?: ReturnType<typeof loadConfig>; problems: readonly string[] } {
  const file = join(dir, `c${files++}.yaml`);
  writeFileSync(file, stringify(doc), { mode: 0o600 });
  try {
    return { config: loadConfig(file, {}), problems: [] };
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    return { problems: err.problems };
  }
}

/** A working sink entry of the destination kind that has this key. */
function sinkWith(key: string): Record<string, unknown> {
  const kind = DESTINATION_KINDS.find((k) => key in k.keys);
  assert.ok(kind, `a destination kind has the key ${key}`);
  return { kind: kind.kind, ...kind.example };
}

/** The loaded value of the setting. */
function valueOf(s: NumberSetting, config: ReturnType<typeof loadConfig>): unknown {
  const where: Record<string, unknown> = s.scope === 'top' ? config : s.scope === 'sink' ? config.sink[0]! : s.scope === 'cluster' ? config.cluster! : config.sources[0]!;
  return where[s.key!];
}

describe('settings: the service config', () => {
  for (const [, s] of SETTINGS.filter(([, s]) => s.key !== undefined)) {
    it(`${keyPath(s)}: accepts ${s.min} and ${s.max}, refuses what lies past them with the key and the range, defaults to the table's value`, () => {
      const path = s.scope === 'source' ? `sources[0].${s.key}` : s.scope === 'sink' ? `sink.${s.key}` : keyPath(s)!;
      // The kinds that have the key (the others call it unknown); a top or sink key: any one kind.
      const kinds = (Object.keys(SOURCES) as (keyof typeof SOURCES)[]).filter((k) => !load(s, k, s.min).problems.some((p) => p === `${path}: unknown key`));
      assert.ok(kinds.length > 0, `some source kind has ${s.key}`);
      for (const kind of s.scope === 'source' ? kinds : kinds.slice(0, 1)) {
        const { valid, below, above } = probes(s);
        for (const v of valid) {
          const r = load(s, kind, v);
          assert.deepEqual(r.problems, [], `${kind} ${path}: ${v}`);
          assert.equal(valueOf(s, r.config!), v);
        }
        const refused = (v: number | string, what: string) => {
          const r = load(s, kind, v as number);
          const line = r.problems.find((p) => p.startsWith(`${path}: `));
          assert.ok(line, `${kind} ${path}: ${v} refused (${r.problems.join('; ')})`);
          assert.ok(line.includes(what), `${line} says ${what}`);
          if (typeof v === 'number') assert.ok(line.includes(`from ${s.min} to ${s.max}`), `${line} says the range`);
        };
        refused(below, `at least ${s.min}`);
        refused(above, `at most ${s.max}`);
        refused(1e300, `at most ${s.max}`);
        if (s.integer && s.min + 0.5 < s.max) refused(s.min + 0.5, 'expected a whole number');
        refused('soon', 'expected a number');
        const defaults = load(s, kind, undefined);
        assert.deepEqual(defaults.problems, []);
        assert.equal(valueOf(s, defaults.config!), defaultOf(s, kind), `${kind} ${path}: default`);
      }
    });
  }

  it('the schema has no numeric key that the table does not declare', () => {
    const found = new Set<string>();
    type Def = { type: string; shape?: Record<string, unknown>; innerType?: unknown; element?: unknown; options?: unknown[]; in?: unknown; out?: unknown };
    const walk = (schema: unknown, path: string): void => {
      const def = (schema as { _zod: { def: Def } })._zod.def;
      if (def.type === 'number') found.add(path);
      for (const [k, v] of Object.entries(def.shape ?? {})) walk(v, path ? `${path}.${k}` : k);
      for (const inner of [def.innerType, def.in, def.out]) if (inner) walk(inner, path);
      if (def.element) walk(def.element, `${path}[]`);
      for (const o of def.options ?? []) walk(o, path);
    };
    walk(CONFIG_SCHEMA, '');
    const declared = new Set(SETTINGS.map(([, s]) => keyPath(s)).filter((p) => p !== undefined));
    assert.deepEqual([...found].sort(), [...declared].sort());
  });

  it('the README holds the settings table as printed from the table', () => {
    const readme = readFileSync(join(ROOT, 'README.md'), 'utf8');
    assert.ok(readme.includes(settingsMarkdown()), 'README.md is out of date: run npm run settings-table and paste its output under "Configuration"');
  });
});
