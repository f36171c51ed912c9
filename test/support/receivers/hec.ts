/**
 * A real Splunk HEC receiver for tests: the OpenTelemetry Collector built by
 * scripts/receivers/hec.sh (splunk_hec receiver + ack extension + file exporter), started on a
 * free loopback port in its own temp folder, optionally with TLS. What it received is read back
 * from the file exporter's OTLP-JSON lines. Where it is laxer than Splunk: README.md of
 * src/sinks/splunk-hec (no token check, no channel required, acks true at once).
 */
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { Agent, request } from 'undici';
import { ROOT, tempDir } from '../helpers.js';
import { freePort } from '../helpers.js';

const running = new Set<ChildProcess>();
// Never left behind, even when a test fails before its `after`.
process.on('exit', () => {
  for (const child of running) child.kill('SIGKILL');
});

let binary: string | undefined;

/** The collector binary: built once (cached in ~/.cache/mimelog-test), then found at once. */
export function hecReceiverBinary(): string {
  binary ??= execFileSync(join(ROOT, 'scripts/receivers/hec.sh'), { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] }).trim().split('\n').pop()!;
  return binary;
}

/** One event as the receiver stored it. */
export interface HecReceived {
  /** `fields."event.id"` */
  readonly id: string;
  readonly hash?: string;
  /** The event's `time` as the collector kept it, in ms (it turns seconds into nanoseconds through a float). */
  readonly timeMs: number;
  readonly host?: string;
  readonly source?: string;
  readonly sourcetype?: string;
  readonly index?: string;
  /** `event`, back as JSON (numbers come back as doubles). */
  readonly event: unknown;
}

export interface HecReceiverOptions {
  /** Reuse a port (a restart). */
  readonly port?: number;
  readonly tls?: { readonly certFile: string; readonly keyFile: string };
}

export class HecReceiver {
  private child: ChildProcess | undefined;

  private constructor(
    readonly dir: string,
    readonly port: number,
    private readonly o: HecReceiverOptions,
  ) {}

  get url(): string {
    return `${this.o.tls ? 'https' : 'http'}://127.0.0.1:${this.port}`;
  }

  get outFile(): string {
    return join(this.dir, 'received.jsonl');
  }

  static async start(o: HecReceiverOptions = {}): Promise<HecReceiver> {
    const r = new HecReceiver(tempDir('hec-rx'), o.port ?? (await freePort()), o);
    await r.startProcess();
    return r;
  }

  private config(): string {
    const tls = this.o.tls ? `\n    tls:\n      cert_file: ${this.o.tls.certFile}\n      key_file: ${this.o.tls.keyFile}` : '';
    return `extensions:
  ack:
    max_number_of_partition: 1000
    max_number_of_pending_acks_per_partition: 100000
receivers:
  splunk_hec:
    endpoint: 127.0.0.1:${this.port}
    ack:
      extension: ack${tls}
exporters:
  file:
    path: ${this.outFile}
    append: true
    flush_interval: 50ms
service:
  extensions: [ack]
  telemetry:
    metrics:
      level: none
    logs:
      level: warn
  pipelines:
    logs:
      receivers: [splunk_hec]
      exporters: [file]
`;
  }

  private async startProcess(): Promise<void> {
    const config = join(this.dir, 'otelcol-hec.yaml');
    writeFileSync(config, this.config());
    const child = spawn(hecReceiverBinary(), [`--config=${config}`], { stdio: ['ignore', 'ignore', 'pipe'] });
    running.add(child);
    let stderr = '';
    child.stderr!.on('data', (d: Buffer) => (stderr = (stderr + d.toString()).slice(-4000)));
    child.once('exit', () => running.delete(child));
    this.child = child;
    const agent = new Agent({ connect: { rejectUnauthorized: false } });
    try {
      const deadline = Date.now() + 30_000;
      for (;;) {
        if (child.exitCode !== null) throw new Error(`the HEC receiver exited (${child.exitCode}): ${stderr}`);
        try {
          const res = await request(`${this.url}/services/collector/health`, { dispatcher: agent });
          await res.body.text();
          if (res.statusCode === 200) return;
        } catch {
          // not listening yet
        }
        if (Date.now() > deadline) throw new Error(`the HEC receiver did not become healthy in 30 s: ${stderr}`);
        await sleep(30);
      }
    } finally {
      await agent.close();
    }
  }

  /** SIGTERM, and waits until it is gone (the file exporter flushes on the way out). */
  async stop(): Promise<void> {
    const child = this.child;
    this.child = undefined;
    if (!child || child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
    child.kill('SIGTERM');
    const killed = await Promise.race([exited.then(() => true), sleep(10_000, undefined, { ref: false }).then(() => false)]);
    if (!killed) {
      child.kill('SIGKILL');
      await exited;
    }
  }

  /** Starts it again on the same port and file (acks held in memory are gone, as after a real restart). */
  async restart(): Promise<void> {
    await this.stop();
    await this.startProcess();
  }

  /** Every event in the file so far. */
  received(): HecReceived[] {
    if (!existsSync(this.outFile)) return [];
    const out: HecReceived[] = [];
    const text = readFileSync(this.outFile, 'utf8');
    // Only whole lines: the exporter may be writing the last one (a test polls while it runs).
    for (const line of text.slice(0, text.lastIndexOf('\n') + 1).split('\n')) {
      if (line.trim() === '') continue;
      for (const rl of JSON.parse(line).resourceLogs ?? []) {
        const resource = attributes(rl.resource?.attributes);
        for (const sl of rl.scopeLogs ?? []) {
          for (const lr of sl.logRecords ?? []) {
            const fields = attributes(lr.attributes);
            out.push({
              id: String(fields['event.id']),
              hash: fields['event.hash'] as string | undefined,
              timeMs: Number(BigInt(lr.timeUnixNano ?? '0') / 1000n) / 1000,
              host: resource['host.name'] as string | undefined,
              source: resource['com.splunk.source'] as string | undefined,
              sourcetype: resource['com.splunk.sourcetype'] as string | undefined,
              index: resource['com.splunk.index'] as string | undefined,
              event: anyValue(lr.body),
            });
          }
        }
      }
    }
    return out;
  }

  /** Polls the file until it holds at least `n` events (the exporter flushes every 50 ms). */
  waitFor(n: number, timeoutMs = 20_000): Promise<HecReceived[]> {
    return this.waitUntil((got) => got.length >= n, timeoutMs);
  }

  /** Polls the file until it holds at least `n` distinct event ids: when copies arrive, they make up a count early. */
  waitForIds(n: number, timeoutMs = 20_000): Promise<HecReceived[]> {
    return this.waitUntil((got) => new Set(got.map((g) => g.id)).size >= n, timeoutMs);
  }

  private async waitUntil(done: (got: HecReceived[]) => boolean, timeoutMs: number): Promise<HecReceived[]> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const got = this.received();
      if (done(got) || Date.now() > deadline) return got;
      await sleep(50);
    }
  }
}

type OtlpValue = { stringValue?: string; intValue?: string; doubleValue?: number; boolValue?: boolean; arrayValue?: { values?: OtlpValue[] }; kvlistValue?: { values?: { key: string; value: OtlpValue }[] } };

/** An OTLP-JSON AnyValue as plain JSON. */
function anyValue(v: OtlpValue | undefined): unknown {
  if (v === undefined) return null;
  if (v.stringValue !== undefined) return v.stringValue;
  if (v.intValue !== undefined) return Number(v.intValue);
  if (v.doubleValue !== undefined) return v.doubleValue;
  if (v.boolValue !== undefined) return v.boolValue;
  if (v.arrayValue) return (v.arrayValue.values ?? []).map(anyValue);
  if (v.kvlistValue) return Object.fromEntries((v.kvlistValue.values ?? []).map((kv) => [kv.key, anyValue(kv.value)]));
  return null;
}

function attributes(list: { key: string; value: OtlpValue }[] | undefined): Record<string, unknown> {
  return Object.fromEntries((list ?? []).map((kv) => [kv.key, anyValue(kv.value)]));
}
