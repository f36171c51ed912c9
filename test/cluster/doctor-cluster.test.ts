/**
 * `mimelog doctor --config` of a config with `cluster:` checks the state index, against a loopback
 * stand-in for the engine's HTTP API (its answers set per test, hostile ones too): reachable, the
 * mapping the replicas search by, the deployment marker against the store's `<store>.cluster.json`.
 */
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { type IncomingMessage, type ServerResponse, createServer } from 'node:http';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { closeNow, listenOnLoopback, runCli, tempDir } from '../support/helpers.js';
import { stateRunConfig } from './replica-support.js';

const STATE = 'mimelog-state';
const MAPPING = { [STATE]: { mappings: { dynamic: 'false', properties: { kind: { type: 'keyword' }, replica: { type: 'keyword' }, source: { type: 'keyword' } } } } };

interface Check {
  status: string;
  check: string;
  seen: string;
  todo?: string;
}

describe('doctor --config checks the state index of a cluster: config', () => {
  /** What the stand-in answers: per path, a status and a body. */
  let answers: Record<string, [number, unknown]> = {};
  const server = createServer((req: IncomingMessage, res: ServerResponse) => {
    req.resume();
    const [status, body] = answers[req.url ?? ''] ?? [404, { error: { reason: 'no such thing' } }];
    res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(body));
  });
  const dir = tempDir('doctor-cluster');
  const store = join(dir, 'run.db');
  let url = '';
  before(async () => {
    url = await listenOnLoopback(server);
  });
  after(() => {
    closeNow(server);
  });

  const config = (urls = [url]): string => stateRunConfig(join(dir, 'run.yaml'), { store, urls, stateIndex: STATE });
  const remember = (deployment: unknown) => writeFileSync(`${store}.cluster.json`, JSON.stringify({ [STATE]: deployment }));

  /** The state index's checks of `doctor --config --json`, and its exit status. */
  async function doctor(urls?: string[]): Promise<{ code: number; checks: Check[] }> {
    const r = await runCli(['doctor', '--config', config(urls), '--json', '--timeout', '2']);
    const { results } = JSON.parse(r.stdout) as { results: Check[] };
    return { code: r.code, checks: results.filter((c) => c.check.startsWith(`state index ${STATE}`)) };
  }
  const statusOf = (checks: Check[]) => Object.fromEntries(checks.map((c) => [c.check.replace(`state index ${STATE}: `, ''), c.status]));

  it('reachable, mapped as the replicas search, the marker the one this store joined: ok', async () => {
    answers = { [`/${STATE}/_mapping`]: [200, MAPPING], [`/${STATE}/_doc/deployment`]: [200, { _source: { kind: 'deployment', id: 'dep-1', sources: ['s1'] }, _seq_no: 3, _primary_term: 1, found: true }] };
    remember('dep-1');
    const { checks } = await doctor();
    assert.deepEqual(statusOf(checks), { reachable: 'ok', mapping: 'ok', deployment: 'ok' }, JSON.stringify(checks));
  });

  it('a marker other than the one this store joined (the index re-created), or none (deleted), is a FAIL that says what to do; exit 1', async () => {
    answers = { [`/${STATE}/_mapping`]: [200, MAPPING], [`/${STATE}/_doc/deployment`]: [200, { _source: { kind: 'deployment', id: 'dep-2' }, _seq_no: 0, _primary_term: 1, found: true }] };
    remember('dep-1');
    const other = await doctor();
    assert.equal(other.code, 1);
    const d = other.checks.find((c) => c.check.endsWith('deployment'))!;
    assert.equal(d.status, 'FAIL');
    assert.match(d.seen, /joined deployment "dep-1".*holds deployment dep-2: it was deleted or re-created/);
    assert.match(d.todo!, /cluster\.json/);
    answers = {}; // the index deleted: 404 everywhere
    const gone = await doctor();
    assert.deepEqual(statusOf(gone.checks), { reachable: 'ok', deployment: 'FAIL' });
    assert.match(gone.checks[1]!.seen, /holds no deployment marker/);
  });

  it('a store that joined none yet, and an index not made yet: ok (the first replica makes them)', async () => {
    answers = {};
    writeFileSync(`${store}.cluster.json`, '{}');
    const { checks } = await doctor();
    assert.deepEqual(statusOf(checks), { reachable: 'ok', deployment: 'ok' });
  });

  it('hostile answers: a mapping whose kind is text, a marker whose id is 1e300 or 5 MB of text: FAIL, each shown cut short', async () => {
    remember('dep-1');
    const textKind = { [STATE]: { mappings: { properties: { kind: { type: 'text' }, replica: { type: 'keyword' } } } } };
    answers = { [`/${STATE}/_mapping`]: [200, textKind], [`/${STATE}/_doc/deployment`]: [200, { _source: { id: 1e300 }, _seq_no: 0, _primary_term: 1 }] };
    const a = await doctor();
    assert.deepEqual(statusOf(a.checks), { reachable: 'ok', mapping: 'FAIL', deployment: 'FAIL' });
    assert.match(a.checks[1]!.seen, /kind is "text", not keyword; source is "missing", not keyword/);
    assert.match(a.checks[2]!.seen, /id is 1e\+300, not one/);
    answers[`/${STATE}/_doc/deployment`] = [200, { _source: { id: 'x'.repeat(5 * 1024 * 1024) }, _seq_no: 0, _primary_term: 1 }];
    const b = await doctor();
    assert.equal(b.checks[2]!.status, 'FAIL');
    assert.ok(b.checks[2]!.seen.length < 200, `shown cut short (${b.checks[2]!.seen.length} characters)`);
  });

  it("a marker id holding terminal control characters is shown escaped in doctor's lines, never sent to the terminal as they are", async () => {
    remember('dep-1');
    const hostile = '\u001b]0;owned\u0007\u001b[2J\rdep-2';
    answers = { [`/${STATE}/_mapping`]: [200, MAPPING], [`/${STATE}/_doc/deployment`]: [200, { _source: { id: hostile }, _seq_no: 0, _primary_term: 1 }] };
    const r = await runCli(['doctor', '--config', config(), '--timeout', '2']);
    const line = r.stdout.split('\n').find((l) => l.includes(`state index ${STATE}: deployment`));
    assert.ok(line, r.stdout);
    assert.doesNotMatch(r.stdout, /[\u0000-\u0008\u000b-\u001f\u007f]/, 'no control character reaches the terminal');
    assert.match(line, /dep-2/);
  });

  it('an engine nobody answers at: FAIL reachable, with the address', async () => {
    const { code, checks } = await doctor(['http://127.0.0.1:9']);
    assert.equal(code, 1);
    assert.deepEqual(statusOf(checks), { reachable: 'FAIL' });
    assert.match(checks[0]!.seen, /127\.0\.0\.1:9/);
  });
});
