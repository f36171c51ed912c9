/** Opening the syslog destination in a test, as the registry would, with a logger the test reads. */
import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { z } from 'zod';
import { Logger } from '../../../src/log/logger.js';
import type { Destination } from '../../../src/sinks/destination.js';
import { syslogKind } from '../../../src/sinks/syslog/index.js';

export type SyslogKeys = z.input<z.ZodObject<typeof syslogKind.keys>>;

/** A logger whose lines the test can read. */
export function capturedLog(): { log: Logger; lines: () => string } {
  let text = '';
  const out = new Writable({ write: (c, _e, done) => ((text += String(c)), done()) });
  return { log: new Logger(out, 'debug'), lines: () => text };
}

export async function openSyslog(keys: SyslogKeys, log = capturedLog().log): Promise<Destination> {
  const config = z.object(syslogKind.keys).parse(keys);
  assert.equal(syslogKind.check?.(config), undefined);
  return syslogKind.open(config, 'syslog-test', { log, env: {} });
}
