/**
 * What the Sentinel tests share: an Azure emulator (src/simulator/azure-logs.ts) set up with the
 * shipped DCR's stream declaration, the destination's keys pointing at it, and events to send.
 */
import { readFileSync } from 'node:fs';
import { PassThrough } from 'node:stream';
import { z } from 'zod';
import { Logger } from '../../../src/log/logger.js';
import type { Unit } from '../../../src/core/unit.js';
import { AzureLogsEmulator, type AzureLogsOptions, type StreamColumn } from '../../../src/simulator/azure-logs.js';
import { type SentinelConfig, sentinelKind } from '../../../src/sinks/sentinel/index.js';
import type { Destination } from '../../../src/sinks/destination.js';
import { ROOT, processInput } from '../../support/helpers.js';

export const TENANT = 'contoso.onmicrosoft.com';
export const CLIENT_ID = '0f1e2d3c-4b5a-6978-8695-a4b3c2d1e0f9';
export const SECRET = 'Q~sentinel.Secret_value-42';
export const DCR = `dcr-${'5c'.repeat(16)}`;
export const STREAM = 'Custom-MimecastSIEM';

/** The shipped ARM template (what a user deploys). */
export const TEMPLATE = JSON.parse(readFileSync(`${ROOT}src/sinks/sentinel/dcr-template.json`, 'utf8')) as {
  resources: { type: string; properties: { schema?: { columns: StreamColumn[] }; streamDeclarations?: Record<string, { columns: StreamColumn[] }> } }[];
};
export const DECLARED: readonly StreamColumn[] = TEMPLATE.resources.find((r) => r.properties.streamDeclarations)!.properties.streamDeclarations![STREAM]!.columns;

export function emulator(extra: Partial<AzureLogsOptions> = {}): AzureLogsEmulator {
  return new AzureLogsEmulator({ tenantId: TENANT, clientId: CLIENT_ID, clientSecret: SECRET, dcrImmutableId: DCR, stream: STREAM, columns: DECLARED, ...extra });
}

/** The destination's `sink:` keys for this emulator (short waits), as YAML would give them. */
export function sinkKeys(url: string, extra: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    endpoint: url, authority: url, tenant_id: TENANT, client_id: CLIENT_ID, client_secret: SECRET, dcr_immutable_id: DCR, stream: STREAM,
    max_retry_after_s: 2, timeout_s: 5, ...extra,
  };
}

/** A destination opened through its kind (keys validated by its zod schema), and what it logged. */
export async function openDestination(url: string, extra: Record<string, unknown> = {}, env: NodeJS.ProcessEnv = {}): Promise<{ dest: Destination; logged: () => string }> {
  const config = z.object(sentinelKind.keys).parse(sinkKeys(url, extra)) as SentinelConfig;
  const out = new PassThrough();
  let text = '';
  out.on('data', (c: Buffer) => (text += c.toString()));
  const dest = await sentinelKind.open(config, 'azure', { log: new Logger(out, 'debug'), env });
  return { dest, logged: () => text };
}

/** A Mimecast receipt log line; `n` makes it a different event, `subject` pads it. */
export function receipt(n: number, subject = `hello ${n}`): string {
  const s = String(n % 60).padStart(2, '0');
  return `datetime=2026-11-01T10:${String(Math.floor(n / 60) % 60).padStart(2, '0')}:${s}+0000|aCode=code${n}|acc=C0A0|IP=10.0.${n % 250}.1|Dir=Inbound|MsgId=<m${n}@example.com>|Subject=${subject}|Sender=s${n}@example.com|Rcpt=r${n}@example.org|Act=Acc`;
}

export async function unitOf(lines: readonly string[]): Promise<Unit> {
  const unit = await processInput('events.kv', `${lines.join('\n')}\n`);
  if (unit.events.length !== lines.length) throw new Error(`only ${unit.events.length} of ${lines.length} lines became events`);
  return unit;
}

export const range = (n: number): number[] => Array.from({ length: n }, (_, i) => i);
