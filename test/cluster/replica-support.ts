/**
 * Test support for replicas of `mimelog run` with `cluster:` (the kill test and the replicas
 * benchmark): one config file for every replica, and replica processes started, signalled and
 * started again, each with its own id and store.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { StateIndex } from '../../src/cluster/state-index.js';
import { SearchClient } from '../../src/sinks/search/client.js';
import { BIN, runCli } from '../support/helpers.js';
import { EngineCluster, notBuiltHint, testNodeBuilt } from '../support/search-engine.js';
import { type Running, expectedIds, storedIds } from '../support/simulator.js';

export interface ClusterSource {
  readonly name: string;
  readonly kind: 'mimecast-v1' | 'mimecast-v2-stream' | 'mimecast-v2-batch';
  readonly sim: Running;
}

export interface ClusterSettings {
  readonly urls: readonly string[];
  readonly leaseS: number;
  readonly renewS: number;
  readonly stateIndex: string;
  /** Copies of each event index (the template's number_of_replicas). */
  readonly indexReplicas: number;
  /** false: the same config without `cluster:` (one process, the baseline of the benchmark). */
  readonly cluster?: boolean;
}

/** The one config every replica runs: id and store come from MIMELOG_REPLICA and MIMELOG_DB. */
export function clusterConfig(dir: string, sources: readonly ClusterSource[], c: ClusterSettings): string {
  const secret = (name: string, value: string) => {
    const f = join(dir, name);
    writeFileSync(f, `${value}\n`, { mode: 0o600 });
    return f;
  };
  const fast = '    poll_interval_s: 1\n    retry_base_ms: 20\n    retry_max_ms: 300\n    timeout_s: 5\n';
  const credentials = (s: ClusterSource) => s.kind === 'mimecast-v1'
    ? `      app_id: ${s.sim.info.credentials.appId}\n      app_key_file: ${secret(`${s.name}-app`, s.sim.info.credentials.appKey)}\n      access_key_file: ${secret(`${s.name}-access`, s.sim.info.credentials.accessKey)}\n      secret_key_file: ${secret(`${s.name}-secret`, s.sim.info.credentials.secretKey)}\n`
    : `      client_id: ${s.sim.info.v2Credentials.clientId}\n      client_secret_file: ${secret(`${s.name}-secret`, s.sim.info.v2Credentials.clientSecret)}\n    page_size: 200\n`;
  const file = join(dir, 'mimelog.yaml');
  writeFileSync(file, `store: \${MIMELOG_DB}
listen: 127.0.0.1:0
sink:
  kind: opensearch
  urls: [${c.urls.join(', ')}]
  replicas: ${c.indexReplicas}
  bulk_docs: 200
  give_up_s: 300
${c.cluster === false ? '' : `cluster:
  replica: \${MIMELOG_REPLICA}
  lease_s: ${c.leaseS}
  renew_s: ${c.renewS}
  state_index: ${c.stateIndex}
`}sources:
${sources.map((s) => `  - name: ${s.name}\n    kind: ${s.kind}\n    url: ${s.sim.info.url}\n    credentials:\n${credentials(s)}${fast}`).join('')}`, { mode: 0o600 });
  return file;
}

/** A one-node OpenSearch test engine with the state index `name` made: the set-up of the state tests. */
export async function stateEngine(name: string): Promise<{ os: EngineCluster; client: SearchClient; index: StateIndex }> {
  if (!testNodeBuilt()) throw new Error(notBuiltHint('opensearch'));
  const os = await EngineCluster.start('opensearch', 1);
  const client = new SearchClient({ urls: os.urls, auth: { kind: 'none' }, timeoutMs: 10_000 });
  const index = new StateIndex(client, name);
  await index.ensure();
  return { os, client, index };
}

/** A `run` config with `cluster:` (replica a, one stream source that is never reached), written into `file`. */
export function stateRunConfig(file: string, c: { store: string; urls: readonly string[]; stateIndex: string }): string {
  const secret = join(dirname(file), 'secret');
  writeFileSync(secret, 'x\n', { mode: 0o600 });
  writeFileSync(file, `store: ${c.store}
sink:
  kind: opensearch
  urls: [${c.urls.join(', ')}]
cluster:
  replica: a
  state_index: ${c.stateIndex}
sources:
  - name: s1
    kind: mimecast-v2-stream
    url: http://127.0.0.1:9
    credentials:
      client_id: x
      client_secret_file: ${secret}
`, { mode: 0o600 });
  return file;
}

/** Every event the sources' simulators hold, as the engine should end up holding them. */
export async function expectedOf(sources: readonly ClusterSource[]): Promise<string[]> {
  const sets = await Promise.all(sources.map((s) => (s.kind === 'mimecast-v1' ? expectedIds(s.sim) : servedByV2(s.sim))));
  return [...new Set(sets.flat())].sort();
}

/** What a simulator serves through API 2.0: its expected files, ingested into a store of their own. */
async function servedByV2(r: Running): Promise<string[]> {
  const files = join(r.dir, 'served-v2');
  r.sim.v2.writeExpected(files);
  const store = join(r.dir, 'served-v2.db');
  const ingested = await runCli(['ingest', '--summary', 'none', '--db', store, files]);
  if (ingested.code !== 0) throw new Error(`ingesting what the simulator serves failed: ${ingested.stderr}`);
  return storedIds(store);
}

/** One replica: the same config, its own id and store; started again after each kill. */
export class Replica {
  child: ChildProcess | undefined;
  log = '';
  constructor(
    readonly id: string,
    private readonly config: string,
    private readonly dir: string,
    private readonly env: NodeJS.ProcessEnv,
  ) {}

  start(): void {
    const child = spawn(process.execPath, [BIN, 'run', '--config', this.config], {
      env: { ...process.env, ...this.env, MIMELOG_REPLICA: this.id, MIMELOG_DB: join(this.dir, `${this.id}.db`) }, stdio: ['ignore', 'ignore', 'pipe'],
    });
    child.stderr!.on('data', (c: Buffer) => (this.log += c.toString()));
    this.child = child;
  }

  get alive(): boolean {
    return this.child !== undefined && this.child.exitCode === null && this.child.signalCode === null;
  }

  async signal(sig: NodeJS.Signals): Promise<number | null> {
    const child = this.child!;
    if (!this.alive) return child.exitCode;
    const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
    child.kill(sig);
    return exited;
  }
}

