/**
 * Test support: real search-engine nodes, each its own JVM on loopback ports: OpenSearch 2.19
 * (test/opensearch-node, a single node or a cluster) and Elasticsearch 8.15 and 9.1
 * (test/elasticsearch-node, single nodes), all built by `npm test` through
 * scripts/build-test-node.sh. Stopping a node is a real process kill; starting it again reuses
 * its data folder.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ROOT, freePort } from './helpers.js';

export type Engine = 'opensearch' | 'elasticsearch8' | 'elasticsearch9';

interface EngineSpec {
  /** How the engine calls itself in test names and errors. */
  readonly label: string;
  /** mimelog's `--sink` value for it. */
  readonly sink: 'opensearch' | 'elasticsearch';
  /** The Maven build output: classes/ and classpath.txt. */
  readonly target: string;
  readonly java: string;
  readonly jvmFlags: readonly string[];
  /** Only OpenSearch's test node forms clusters. */
  readonly clusters: boolean;
}

const JAVA_25 = '/usr/lib/jvm/temurin-25-jdk-amd64/bin/java';
const ES_TARGET = join(ROOT, 'test', 'elasticsearch-node', 'target');

export const ENGINES: Readonly<Record<Engine, EngineSpec>> = {
  opensearch: { label: 'OpenSearch 2.19', sink: 'opensearch', target: join(ROOT, 'test', 'opensearch-node', 'target'), java: 'java', jvmFlags: ['-Xms256m', '-Xmx512m'], clusters: true },
  elasticsearch8: { label: 'Elasticsearch 8.15', sink: 'elasticsearch', target: join(ES_TARGET, 'es8'), java: 'java', jvmFlags: ['-Xms256m', '-Xmx512m'], clusters: false },
  elasticsearch9: {
    label: 'Elasticsearch 9.1', sink: 'elasticsearch', target: join(ES_TARGET, 'es9'), java: JAVA_25, clusters: false,
    // Native access for zstd (best_compression) from the libraries the build links into native/.
    jvmFlags: ['-Xms256m', '-Xmx512m', '--enable-native-access=ALL-UNNAMED', '--sun-misc-unsafe-memory-access=allow', `-Des.nativelibs.path=${join(ES_TARGET, 'es9', 'native')}`],
  },
};

/** `c1`: the quick compiler only (tests); `full`: C1 then C2, as a production JVM runs (benchmarks). */
export type Jit = 'c1' | 'full';

export const ALL_ENGINES = Object.keys(ENGINES) as Engine[];

export interface NodeSpec {
  readonly name: string;
  readonly httpPort: number;
  readonly transportPort: number;
  readonly home: string;
}

export class EngineCluster {
  private readonly processes = new Map<string, ChildProcess>();
  private readonly logs = new Map<string, string[]>();

  private constructor(
    readonly engine: Engine,
    readonly nodes: readonly NodeSpec[],
    private readonly dir: string,
    private readonly jit: Jit,
  ) {}

  get spec(): EngineSpec {
    return ENGINES[this.engine];
  }

  /**
   * Starts `size` nodes (1: single-node discovery; more: one cluster) and waits until they serve.
   * Tests run the nodes with the C1 compiler only: a test node lives for minutes, so C2's work never
   * pays back (C1 halves a node's CPU: start 11.7 -> 6.6 CPU-s, the 3-node cluster test 197 -> 102).
   * Benchmarks ask for the full JIT, so that delivery rates are those of a real engine.
   */
  static async start(engine: Engine, size = 1, jit: Jit = 'c1'): Promise<EngineCluster> {
    if (size > 1 && !ENGINES[engine].clusters) throw new Error(`the ${ENGINES[engine].label} test node runs single nodes only`);
    const dir = mkdtempSync(join(tmpdir(), `mimelog-${engine}-`));
    const specs: NodeSpec[] = [];
    for (let i = 0; i < size; i++) specs.push({ name: `node-${i}`, httpPort: await freePort(), transportPort: await freePort(), home: join(dir, `node-${i}`) });
    const cluster = new EngineCluster(engine, specs, dir, jit);
    await Promise.all(specs.map((s) => cluster.startNode(s.name)));
    await cluster.waitHealthy(size === 1 ? 'yellow' : 'green', size);
    return cluster;
  }

  get urls(): string[] {
    return this.nodes.map((n) => `http://127.0.0.1:${n.httpPort}`);
  }

  /** Starts (or restarts) one node and waits until its HTTP port answers. */
  async startNode(name: string): Promise<void> {
    const spec = this.nodes.find((n) => n.name === name)!;
    const { target, java, jvmFlags, label } = this.spec;
    const classpath = `${join(target, 'classes')}:${readFileSync(join(target, 'classpath.txt'), 'utf8').trim()}`;
    const args = [`home=${spec.home}`, `name=${spec.name}`, `http.port=${spec.httpPort}`, `transport.port=${spec.transportPort}`];
    if (this.nodes.length > 1) args.push(`seeds=${this.nodes.map((n) => n.transportPort).join(',')}`, `managers=${this.nodes.map((n) => n.name).join(',')}`);
    const jitFlags = this.jit === 'c1' ? ['-XX:TieredStopAtLevel=1'] : [];
    const child = spawn(java, [...jvmFlags, ...jitFlags, '-XX:+UseSerialGC', '-cp', classpath, 'mimelog.testnode.TestNode', ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    const log: string[] = [];
    this.logs.set(name, log);
    const keep = (c: Buffer) => {
      log.push(c.toString());
      if (log.length > 200) log.shift();
    };
    child.stdout!.on('data', keep);
    child.stderr!.on('data', keep);
    this.processes.set(name, child);
    const deadline = Date.now() + 120_000;
    while (Date.now() < deadline) {
      if (child.exitCode !== null) throw new Error(`${label} ${name} exited (${child.exitCode}):\n${log.join('').slice(-3000)}`);
      try {
        const res = await fetch(`http://127.0.0.1:${spec.httpPort}/`);
        if (res.ok) return;
      } catch {
        // not listening yet
      }
      await new Promise((r) => setTimeout(r, 250));
    }
    throw new Error(`${label} ${name} did not answer within 120 s:\n${log.join('').slice(-3000)}`);
  }

  /** kill -9 of one node's JVM. */
  async killNode(name: string): Promise<void> {
    const child = this.processes.get(name);
    if (!child || child.exitCode !== null) return;
    const exited = new Promise((r) => child.once('exit', r));
    child.kill('SIGKILL');
    await exited;
  }

  async waitHealthy(status: 'yellow' | 'green', nodes: number): Promise<void> {
    const res = await this.request('GET', `/_cluster/health?wait_for_status=${status}&wait_for_nodes=${nodes}&timeout=120s`);
    if (res.timed_out) throw new Error(`cluster not ${status} with ${nodes} nodes: ${JSON.stringify(res)}`);
  }

  /** A JSON request to the first node that answers. */
  async request(method: string, path: string, body?: unknown): Promise<any> {
    let last: unknown;
    for (const url of this.urls) {
      try {
        const res = await fetch(`${url}${path}`, {
          method,
          headers: body === undefined ? {} : { 'content-type': 'application/json' },
          body: body === undefined ? undefined : JSON.stringify(body),
        });
        return await res.json();
      } catch (err) {
        last = err;
      }
    }
    throw last;
  }

  /** Every `event.id` in the indices matching `pattern`, sorted (the engine's event set). */
  async ids(pattern = 'mimecast-siem-*'): Promise<string[]> {
    // An answer that is not a whole page (an error, a shard that failed: a node busy or an index
    // just created) would read as "no more ids": read the set again, and after a few tries say why.
    for (let attempt = 1; ; attempt++) {
      try {
        return await this.idsOnce(pattern);
      } catch (err) {
        if (attempt >= 5) throw err;
        await new Promise((resolve) => setTimeout(resolve, 500 * attempt));
      }
    }
  }

  private async idsOnce(pattern: string): Promise<string[]> {
    await this.request('POST', `/${pattern}/_refresh`);
    const ids: string[] = [];
    const whole = (page: any) => {
      if (!Array.isArray(page?.hits?.hits) || (page._shards?.failed ?? 0) > 0) throw new Error(`not a whole page of ids: ${JSON.stringify(page).slice(0, 500)}`);
      return page;
    };
    let page = whole(await this.request('POST', `/${pattern}/_search?scroll=1m`, { size: 5000, _source: false, sort: ['_doc'] }));
    while (page.hits.hits.length > 0) {
      for (const h of page.hits.hits as { _id: string }[]) ids.push(h._id);
      page = whole(await this.request('POST', '/_search/scroll', { scroll: '1m', scroll_id: page._scroll_id }));
    }
    return ids.sort();
  }

  async count(pattern = 'mimecast-siem-*'): Promise<number> {
    await this.request('POST', `/${pattern}/_refresh`);
    const answer = await this.request('GET', `/${pattern}/_count`);
    // An error answer (a shard not yet started, a busy node) has no count: never read it as a number
    // (`undefined < n` is false, which ended a wait for n documents early: the service test's [] flake).
    if (typeof answer?.count !== 'number') throw new Error(`not a count of ${pattern}: ${JSON.stringify(answer).slice(0, 300)}`);
    return answer.count as number;
  }

  async stop(): Promise<void> {
    await Promise.all(this.nodes.map((n) => this.killNode(n.name)));
    rmSync(this.dir, { recursive: true, force: true });
  }
}

/** Whether the engine's test node was built (Java and Maven present); tests fail with this hint otherwise. */
export function testNodeBuilt(engine: Engine = 'opensearch'): boolean {
  return existsSync(join(ENGINES[engine].target, 'classpath.txt'));
}

export function notBuiltHint(engine: Engine): string {
  return `the ${ENGINES[engine].label} test node is not built: run npm test (scripts/build-test-node.sh needs Java 17, Java 25 for Elasticsearch 9, Maven and a C compiler)`;
}
