/**
 * SIGTERM while a destination hangs: `mimelog ingest --sink-config` must end within a few seconds
 * (the deliveries get a short grace, then are given up), say which destination it gave up, and
 * commit nothing that destination did not acknowledge. Destinations written here on loopback:
 * an HEC whose acks never turn true (ack_timeout_s 300), a RELP relay that opens sessions but
 * never answers a message, and Azure answering 429 with Retry-After 300.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { copyFileSync, mkdirSync, writeFileSync } from 'node:fs';
import { type Socket, createServer } from 'node:net';
import { after, describe, it } from 'node:test';
import { RelpReader, relpFrame } from '../../src/sinks/syslog/relp.js';
import { BIN, ROOT, SAMPLES, committedCount, ended, tempDir } from '../support/helpers.js';
import { SplunkEmulator, TOKEN } from './splunk-hec/splunk-emulator.js';
import { SECRET, emulator, sinkKeys } from './sentinel/azure.js';

const cleanups: (() => Promise<void> | void)[] = [];
after(async () => {
  for (const c of cleanups.reverse()) await c();
});

/** A RELP server that answers `open` and nothing after it. */
async function silentRelp(): Promise<{ port: number; messages: () => number }> {
  let messages = 0;
  const sockets = new Set<Socket>();
  const server = createServer((socket) => {
    sockets.add(socket);
    socket.on('error', () => {});
    const reader = new RelpReader();
    socket.on('data', (chunk: Buffer) => {
      for (const f of reader.push(chunk)) {
        if (f.command === 'open') socket.write(relpFrame(f.txnr, 'rsp', Buffer.from('200 OK\nrelp_version=0\ncommands=syslog')));
        if (f.command === 'syslog') messages++;
      }
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  cleanups.push(() => {
    for (const s of sockets) s.destroy();
    return new Promise<void>((resolve) => server.close(() => resolve()));
  });
  return { port: (server.address() as { port: number }).port, messages: () => messages };
}

/** How the command under test is started in `dir` with the `sink:` text: its arguments and its store. */
type Command = (dir: string, sink: string) => { args: string[]; db: string };

/** `mimelog ingest` of the sample file with `--sink-config` (stops on its own listener, `process.on`). */
const ingest: Command = (dir, sink) => {
  writeFileSync(`${dir}/sink.yaml`, sink, { mode: 0o600 });
  return { args: ['ingest', `${SAMPLES}understanding-siem-logs.kv`, '--db', `${dir}/state.db`, '--sink-config', `${dir}/sink.yaml`], db: `${dir}/state.db` };
};

/** `mimelog run` of a spool holding the sample file (stops on its own `process.once` listener). */
const run: Command = (dir, sink) => {
  mkdirSync(`${dir}/spool`);
  copyFileSync(`${SAMPLES}understanding-siem-logs.kv`, `${dir}/spool/a.kv`);
  writeFileSync(`${dir}/run.yaml`, `store: ${dir}/state.db\nlisten: 127.0.0.1:0\nsources:\n  - {name: s, kind: spool, path: ${dir}/spool}\n${sink}`, { mode: 0o600 });
  return { args: ['run', '--config', `${dir}/run.yaml`], db: `${dir}/state.db` };
};

/** Starts `command`, sends SIGTERM once `started()` says a delivery is under way; how long it took to end after. */
async function terminateWhileDelivering(sink: string, started: () => boolean, command: Command = ingest): Promise<{ code: number | null; stderr: string; afterSignalMs: number; committed: number }> {
  const { args, db } = command(tempDir('mimelog-stop-'), sink);
  const child = spawn(process.execPath, [BIN, ...args], { cwd: ROOT });
  const killer = setTimeout(() => child.kill('SIGKILL'), 30_000);
  const done = ended(child);
  while (!started()) await new Promise((r) => setTimeout(r, 20));
  await new Promise((r) => setTimeout(r, 200));
  const signalled = Date.now();
  child.kill('SIGTERM');
  const { code, stderr } = await done;
  clearTimeout(killer);
  return { code, stderr, afterSignalMs: Date.now() - signalled, committed: committedCount(db) };
}

describe('SIGTERM while a destination hangs', () => {
  it('splunk-hec whose acks never turn true (ack_timeout_s 300): ends within seconds, nothing checkpointed', async () => {
    const emu = await SplunkEmulator.start({ ackAfterPolls: Infinity });
    cleanups.push(() => emu.stop());
    const r = await terminateWhileDelivering(
      `sink:\n  kind: splunk-hec\n  url: ${emu.url}\n  token: ${TOKEN}\n  ack_poll_ms: 50\n  ack_timeout_s: 300\n  give_up_s: 3600\n`,
      () => emu.eventRequests.length > 0,
    );
    assert.ok(r.afterSignalMs < 10_000, `ended ${r.afterSignalMs} ms after SIGTERM: ${r.stderr}`);
    assert.notEqual(r.code, 0);
    assert.match(r.stderr, /SIGTERM: giving up deliveries still waiting/);
    assert.match(r.stderr, /splunk-hec destination: closed while acknowledgements were pending/);
    assert.equal(r.committed, 0, 'nothing acknowledged, nothing committed');
    assert.doesNotMatch(r.stderr, new RegExp(TOKEN));
  });

  it('sentinel answering 429 with Retry-After 300: ends within seconds, nothing checkpointed', async () => {
    const azure = emulator();
    await azure.start();
    cleanups.push(() => azure.stop());
    azure.inject(...Array.from({ length: 20 }, () => ({ kind: '429' as const, retryAfter: '300' })));
    const keys = { kind: 'sentinel', ...sinkKeys(azure.url, { max_retry_after_s: 600, give_up_s: 3600 }) };
    const r = await terminateWhileDelivering(`sink:\n${Object.entries(keys).map(([k, v]) => `  ${k}: ${JSON.stringify(v)}`).join('\n')}\n`, () => azure.calls.length > 0);
    assert.ok(r.afterSignalMs < 10_000, `ended ${r.afterSignalMs} ms after SIGTERM: ${r.stderr}`);
    assert.notEqual(r.code, 0);
    assert.match(r.stderr, /sentinel destination sentinel closed with \d+ events unacknowledged/);
    assert.equal(r.committed, 0, 'nothing acknowledged, nothing committed');
    assert.doesNotMatch(r.stderr, new RegExp(SECRET.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')));
  });

  it('syslog over RELP to a relay that never answers a message: ends within seconds, nothing checkpointed', async () => {
    const relp = await silentRelp();
    const r = await terminateWhileDelivering(
      `sink:\n  kind: syslog\n  host: 127.0.0.1\n  port: ${relp.port}\n  transport: relp\n  give_up_s: 3600\n  timeout_s: 300\n`,
      () => relp.messages() > 0,
    );
    assert.ok(r.afterSignalMs < 10_000, `ended ${r.afterSignalMs} ms after SIGTERM: ${r.stderr}`);
    assert.notEqual(r.code, 0);
    assert.match(r.stderr, /relp 127\.0\.0\.1:\d+: closed with messages unacknowledged/);
    assert.equal(r.committed, 0, 'nothing acknowledged, nothing committed');
  });

  it('mimelog run (its own SIGTERM listener is a once-listener) to a silent RELP relay: stops by itself within seconds, not killed by the signal', async () => {
    const relp = await silentRelp();
    const r = await terminateWhileDelivering(
      `sink:\n  kind: syslog\n  host: 127.0.0.1\n  port: ${relp.port}\n  transport: relp\n  give_up_s: 3600\n  timeout_s: 300\n`,
      () => relp.messages() > 0,
      run,
    );
    assert.ok(r.afterSignalMs < 10_000, `ended ${r.afterSignalMs} ms after SIGTERM: ${r.stderr}`);
    assert.notEqual(r.code, null, `ended by itself, not by the signal: ${r.stderr}`);
    assert.match(r.stderr, /"msg":"service stopped"/);
    assert.match(r.stderr, /closed with messages unacknowledged/);
    assert.equal(r.committed, 0, 'nothing acknowledged, nothing committed');
  });
});
