/**
 * Test support: rsyslog as its own instance, on loopback, for one test file. It listens for RFC
 * 5424 over plain TCP (imtcp), over TLS (imtcp with gtls) and over RELP (imrelp), each on a free
 * port, and writes every message it receives as one JSON line: rsyslog's own parse of the header
 * and structured data (mmpstrucdata), and of a CEF body (mmnormalize's cef parser). Its work
 * folder, certificates and config live in a temp folder; the system's rsyslog is never touched.
 * Install it with scripts/receivers/rsyslog.sh.
 */
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { makeTestCertificates } from '../certificates.js';
import { freePort, tempDir } from '../helpers.js';

/** One message as rsyslog stored it. */
export interface Received {
  readonly input: 'tcp-plain' | 'tcp-tls' | 'tcp-mtls' | 'relp';
  readonly pri: string;
  readonly timestamp: string;
  readonly hostname: string;
  readonly app: string;
  readonly procid: string;
  readonly msgid: string;
  readonly sd: string;
  readonly msg: string;
  readonly raw: string;
  /** rsyslog's parse: `rfc5424-sd` (mmpstrucdata) and `cef` (mmnormalize), as it stored them. */
  readonly parsed: { 'rfc5424-sd'?: Record<string, Record<string, string>>; cef?: CefParse };
}

export interface CefParse {
  readonly DeviceVendor: string;
  readonly DeviceProduct: string;
  readonly DeviceVersion: string;
  readonly SignatureID: string;
  readonly Name: string;
  readonly Severity: string;
  readonly Extensions: Record<string, string>;
}

export interface TlsFiles {
  readonly ca: string;
  /** A CA that signed nothing the receiver holds: a client trusting only it must refuse the receiver. */
  readonly otherCa: string;
  /** A client certificate and key signed by `ca`. */
  readonly clientCert: string;
  readonly clientKey: string;
}

export const RSYSLOGD = process.env.MIMELOG_RSYSLOGD ?? '/usr/sbin/rsyslogd';

/** The JSON line per message: header fields as rsyslog's RFC 5424 parser read them, and its parses. */
const TEMPLATE = `template(name="json" type="list" option.jsonf="on") {
  property(outname="input" name="inputname" format="jsonf")
  property(outname="pri" name="pri" format="jsonf")
  property(outname="timestamp" name="timereported" dateFormat="rfc3339" format="jsonf")
  property(outname="hostname" name="hostname" format="jsonf")
  property(outname="app" name="app-name" format="jsonf")
  property(outname="procid" name="procid" format="jsonf")
  property(outname="msgid" name="msgid" format="jsonf")
  property(outname="sd" name="structured-data" format="jsonf")
  property(outname="msg" name="msg" format="jsonf")
  property(outname="raw" name="rawmsg" format="jsonf")
  property(outname="parsed" name="$!" format="jsonf")
}`;

export class Rsyslog {
  private child: ChildProcess | undefined;
  readonly out: string;

  private constructor(
    readonly dir: string,
    readonly ports: { readonly tcp: number; readonly tls: number; readonly mtls: number; readonly relp: number },
    readonly tls: TlsFiles,
  ) {
    this.out = join(dir, 'received.jsonl');
  }

  /** Writes the config and certificates and starts rsyslogd; call stop() in an after() hook. */
  static async start(options: { maxMessageSize?: string } = {}): Promise<Rsyslog> {
    if (!existsSync(RSYSLOGD)) throw new Error(`${RSYSLOGD} is missing: run scripts/receivers/rsyslog.sh`);
    const dir = tempDir('rsyslog');
    const certs = makeTestCertificates(join(dir, 'tls'));
    const ports = { tcp: await freePort(), tls: await freePort(), mtls: await freePort(), relp: await freePort() };
    mkdirSync(join(dir, 'work'));
    writeFileSync(join(dir, 'cef.rb'), 'version=2\nrule=:%cef:cef%\n');
    writeFileSync(join(dir, 'rsyslog.conf'), `
global(workDirectory="${dir}/work" processInternalMessages="on" maxMessageSize="${options.maxMessageSize ?? '128k'}"
  defaultNetstreamDriverCAFile="${certs.ca}" defaultNetstreamDriverCertFile="${certs.serverCert}" defaultNetstreamDriverKeyFile="${certs.serverKey}")
module(load="imtcp" maxSessions="200")
module(load="imrelp")
module(load="mmpstrucdata")
module(load="mmnormalize")
input(type="imtcp" address="127.0.0.1" port="${ports.tcp}" name="tcp-plain" ruleset="remote")
input(type="imtcp" address="127.0.0.1" port="${ports.tls}" name="tcp-tls" ruleset="remote"
      streamDriver.name="gtls" streamDriver.mode="1" streamDriver.authMode="anon")
input(type="imtcp" address="127.0.0.1" port="${ports.mtls}" name="tcp-mtls" ruleset="remote"
      streamDriver.name="gtls" streamDriver.mode="1" streamDriver.authMode="x509/certvalid")
input(type="imrelp" address="127.0.0.1" port="${ports.relp}" name="relp" ruleset="remote")
${TEMPLATE}
ruleset(name="remote") {
  action(type="mmpstrucdata")
  if ($msg startswith "CEF:") then { action(type="mmnormalize" rulebase="${dir}/cef.rb") }
  action(type="omfile" file="${dir}/received.jsonl" template="json")
}
*.* action(type="omfile" file="${dir}/rsyslogd-internal.log")
`);
    const rx = new Rsyslog(dir, ports, certs);
    await rx.run();
    return rx;
  }

  /** Starts rsyslogd (again, after stop(): same ports, same files) and waits for its three listeners. */
  async run(): Promise<void> {
    const child = spawn(RSYSLOGD, ['-n', '-f', join(this.dir, 'rsyslog.conf'), '-i', join(this.dir, 'rsyslog.pid')], { stdio: ['ignore', 'ignore', 'pipe'] });
    this.child = child;
    let stderr = '';
    child.stderr!.on('data', (c: Buffer) => (stderr += c.toString()));
    const deadline = Date.now() + 10_000;
    while (!this.listening()) {
      if (child.exitCode !== null || Date.now() > deadline) {
        await this.stop();
        throw new Error(`rsyslogd did not listen on ${Object.values(this.ports).join(', ')}: ${stderr}`);
      }
      await sleep(50);
    }
  }

  private listening(): boolean {
    const text = execFileSync('ss', ['-ltnH'], { encoding: 'utf8' });
    return Object.values(this.ports).every((p) => text.includes(`127.0.0.1:${p} `));
  }

  /** Stops rsyslogd (SIGTERM, then SIGKILL after 5 s) and waits for its exit. */
  async stop(): Promise<void> {
    const child = this.child;
    this.child = undefined;
    if (!child || child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise((resolve) => child.once('exit', resolve));
    child.kill('SIGTERM');
    const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
    await exited;
    clearTimeout(timer);
  }

  /** Every message received so far. */
  received(): Received[] {
    if (!existsSync(this.out)) return [];
    const text = readFileSync(this.out, 'utf8');
    // Only whole lines: rsyslogd may be writing the last one.
    return text.slice(0, text.lastIndexOf('\n') + 1).split('\n').filter((l) => l !== '').map((l) => {
      const r = JSON.parse(l) as Omit<Received, 'parsed'> & { parsed: string };
      return { ...r, parsed: JSON.parse(r.parsed) as Received['parsed'] };
    });
  }

  /** Waits until `count` messages were received (or `timeoutMs` passed) and returns them all. */
  waitFor(count: number, timeoutMs = 15_000): Promise<Received[]> {
    return this.waitUntil((got) => got.length >= count, timeoutMs);
  }

  /**
   * Waits until `done` holds of the messages received (or `timeoutMs` passed) and returns them all.
   * When copies may arrive, wait for the ids, not a count: copies make up the count while the last
   * messages rsyslog acknowledged are still on their way to its output file.
   */
  async waitUntil(done: (got: Received[]) => boolean, timeoutMs = 15_000): Promise<Received[]> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const got = this.received();
      if (done(got) || Date.now() > deadline) return got;
      await sleep(100);
    }
  }

  /** rsyslogd's own log (errors about a session, for a failed test's message). */
  internalLog(): string {
    const f = join(this.dir, 'rsyslogd-internal.log');
    return existsSync(f) ? readFileSync(f, 'utf8') : '';
  }
}
