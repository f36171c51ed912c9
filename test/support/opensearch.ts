/**
 * Test support: real OpenSearch 2.19 nodes, each its own JVM on loopback ports, from the Maven
 * project in test/opensearch-node (built by `npm test` through scripts/build-test-node.sh).
 * Stopping a node is a real process kill; starting it again reuses its data folder.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ROOT } from './helpers.js';

const NODE_PROJECT = join(ROOT, 'test', 'opensearch-node');

export interface NodeSpec {
  readonly name: string;
  readonly httpPort: number;
  readonly transportPort: number;
  readonly home: string;
}

export class OpenSearchCluster {
  private readonly processes = new Map<string, ChildProcess>();
  private readonly logs = new Map<string, string[]>();

  private constructor(
    readonly nodes: readonly NodeSpec[],
    private readonly dir: string,
  ) {}

  /** Starts `size` nodes (1: single-node discovery; more: one cluster) and waits until they serve. */
  static async start(size = 1): Promise<OpenSearchCluster> {
    const dir = mkdtempSync(join(tmpdir(), 'mimelog-os-'));
    const specs: NodeSpec[] = [];
    for (let i = 0; i < size; i++) specs.push({ name: `node-${i}`, httpPort: await freePort(), transportPort: await freePort(), home: join(dir, `node-${i}`) });
    const cluster = new OpenSearchCluster(specs, dir);
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
    const classpath = `${join(NODE_PROJECT, 'target', 'classes')}:${readFileSync(join(NODE_PROJECT, 'target', 'classpath.txt'), 'utf8').trim()}`;
    const args = [`home=${spec.home}`, `name=${spec.name}`, `http.port=${spec.httpPort}`, `transport.port=${spec.transportPort}`];
    if (this.nodes.length > 1) args.push(`seeds=${this.nodes.map((n) => n.transportPort).join(',')}`, `managers=${this.nodes.map((n) => n.name).join(',')}`);
    const child = spawn('java', ['-Xms256m', '-Xmx512m', '-XX:+UseSerialGC', '-cp', classpath, 'mimelog.testnode.TestNode', ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
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
      if (child.exitCode !== null) throw new Error(`OpenSearch ${name} exited (${child.exitCode}):\n${log.join('').slice(-3000)}`);
      try {
        const res = await fetch(`http://127.0.0.1:${spec.httpPort}/`);
        if (res.ok) return;
      } catch {
        // not listening yet
      }
      await new Promise((r) => setTimeout(r, 250));
    }
    throw new Error(`OpenSearch ${name} did not answer within 120 s:\n${log.join('').slice(-3000)}`);
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
    await this.request('POST', `/${pattern}/_refresh`);
    const ids: string[] = [];
    let page = await this.request('POST', `/${pattern}/_search?scroll=1m`, { size: 5000, _source: false, sort: ['_doc'] });
    while (page.hits?.hits?.length > 0) {
      for (const h of page.hits.hits as { _id: string }[]) ids.push(h._id);
      page = await this.request('POST', '/_search/scroll', { scroll: '1m', scroll_id: page._scroll_id });
    }
    return ids.sort();
  }

  async count(pattern = 'mimecast-siem-*'): Promise<number> {
    await this.request('POST', `/${pattern}/_refresh`);
    return (await this.request('GET', `/${pattern}/_count`)).count as number;
  }

  async stop(): Promise<void> {
    await Promise.all(this.nodes.map((n) => this.killNode(n.name)));
    rmSync(this.dir, { recursive: true, force: true });
  }
}

/** Whether the test node was built (Java and Maven present); tests fail with this hint otherwise. */
export function testNodeBuilt(): boolean {
  return existsSync(join(NODE_PROJECT, 'target', 'classpath.txt'));
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const port = (srv.address() as { port: number }).port;
      srv.close(() => resolve(port));
    });
  });
}
