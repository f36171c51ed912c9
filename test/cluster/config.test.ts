/** `cluster:` in the config file: what it needs of the rest of the file, refused with the path and the fix. */
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { it } from 'node:test';
import { ROOT, runCli, tempDir } from '../support/helpers.js';

const SOURCES = {
  stream: '  - name: s1\n    kind: mimecast-v2-stream\n    url: http://127.0.0.1:9\n    credentials:\n      client_id: a\n      client_secret: ${SECRET}\n',
  batch: '  - name: b1\n    kind: mimecast-v2-batch\n    url: http://127.0.0.1:9\n    credentials:\n      client_id: a\n      client_secret: ${SECRET}\n',
  spool: (dir: string) => `  - name: d1\n    kind: spool\n    path: ${dir}\n`,
};

function config(dir: string, body: string): string {
  const file = join(dir, `c${Math.random().toString(36).slice(2)}.yaml`);
  writeFileSync(file, `store: ${join(dir, 's.db')}\nlisten: 127.0.0.1:0\n${body}`, { mode: 0o600 });
  return file;
}

it('cluster: needs a search-engine sink, sources whose checkpoints the engine holds, and renewals well inside the lease; --check names each problem', async () => {
  const dir = tempDir('cluster-config');
  const bad = config(dir, `cluster:\n  replica: r1\n  lease_s: 10\n  renew_s: 5\nsources:\n${SOURCES.stream}${SOURCES.batch}${SOURCES.spool(dir)}`);
  const res = await runCli(['run', '--config', bad, '--check'], { env: { SECRET: 'x' } });
  assert.equal(res.code, 1, res.stderr);
  assert.match(res.stderr, /cluster\.renew_s: renew at least three times per lease \(renew_s ≤ lease_s \/ 3 = 3\)/);
  assert.match(res.stderr, /cluster: replicas keep their leases and checkpoints in the search engine: sink: needs an entry of kind opensearch or elasticsearch/);
  assert.doesNotMatch(res.stderr, /sources\[1\]/, 'an API 2.0 batch source runs under cluster: (its work queue is in the engine)');
  assert.match(res.stderr, /sources\[2\]\.kind: a spool source cannot run under cluster: \(its directory is on one machine's disk/);
  assert.doesNotMatch(res.stderr, /sources\[0\]/);

  const good = config(dir, `sink:\n  kind: opensearch\n  urls: [http://127.0.0.1:9]\ncluster:\n  replica: r1\nsources:\n${SOURCES.stream}`);
  const ok = await runCli(['run', '--config', good, '--check'], { env: { SECRET: 'x' } });
  assert.equal(ok.code, 0, ok.stderr);
  assert.match(ok.stdout, /cluster: replica r1, lease 30 s, state index mimelog-state/);
});

it('cluster: does not run with --once (a replica runs until stopped)', async () => {
  const dir = tempDir('cluster-once');
  const file = config(dir, `sink:\n  kind: opensearch\n  urls: [http://127.0.0.1:9]\ncluster:\n  replica: r1\nsources:\n${SOURCES.stream}`);
  const res = await runCli(['run', '--config', file, '--once'], { env: { SECRET: 'x' } });
  assert.notEqual(res.code, 0);
  assert.match(res.stderr, /cluster: replicas run until stopped; --once is for a single replica/);
});

it('accepts the cluster example the repository ships (deploy/cluster/mimelog-cluster.example.yaml), its id and store from the environment', async () => {
  const dir = tempDir('cluster-example');
  const text = readFileSync(join(ROOT, 'deploy', 'cluster', 'mimelog-cluster.example.yaml'), 'utf8').replaceAll('/etc/mimelog/', `${dir}/`);
  for (const f of ['acme-app-key', 'acme-access-key', 'acme-secret-key', 'globex-client-secret', 'search-password']) writeFileSync(join(dir, f), 'a-secret-value\n', { mode: 0o600 });
  writeFileSync(join(dir, 'search-ca.pem'), readFileSync(join(ROOT, 'test', 'sinks', 'fixtures', 'loopback-cert.pem')));
  writeFileSync(join(dir, 'mimelog.yaml'), text, { mode: 0o600 });
  const env = { ACME_APP_ID: 'app-id', GLOBEX_CLIENT_ID: 'client-id', MIMELOG_REPLICA: 'replica-b', MIMELOG_DB: join(dir, 'b.db') };
  const r = await runCli(['run', '--config', join(dir, 'mimelog.yaml'), '--check'], { env });
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /ok, 3 sources \(acme: mimecast-v1, globex-stream: mimecast-v2-stream, globex-feeds: mimecast-v2-feeds\).*cluster: replica replica-b, lease 30 s, state index mimelog-state/);
});

it('cluster.state_index is refused where the events go: inside a search sink\'s index pattern (its template and retention would apply to the leases)', async () => {
  const dir = tempDir('cluster-state-index');
  const sink = (index: string) => `sink:\n  kind: opensearch\n  urls: [http://127.0.0.1:9]\n  index: ${index}\n`;
  for (const index of ['mimelog-{yyyy}', 'mimelog-state']) {
    const bad = config(dir, `${sink(index)}cluster:\n  replica: r1\nsources:\n${SOURCES.stream}`);
    const res = await runCli(['run', '--config', bad, '--check'], { env: { SECRET: 'x' } });
    assert.equal(res.code, 1, `${index}: ${res.stderr}`);
    assert.match(res.stderr, /cluster\.state_index: mimelog-state is matched by the events' index pattern/);
  }
  const good = config(dir, `${sink('mimelog-events-{yyyy}.{MM}')}cluster:\n  replica: r1\nsources:\n${SOURCES.stream}`);
  const ok = await runCli(['run', '--config', good, '--check'], { env: { SECRET: 'x' } });
  assert.equal(ok.code, 0, ok.stderr);
});
