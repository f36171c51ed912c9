/** The syslog destination's keys: what is refused before anything connects, and why. */
import assert from 'node:assert/strict';
import { chmodSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { z } from 'zod';
import { syslogKind } from '../../../src/sinks/syslog/index.js';
import { tempDir } from '../../support/helpers.js';
import { openSyslog } from './open.js';

const schema = z.object(syslogKind.keys);

describe('syslog: keys', () => {
  it('defaults: json body, local0.info, 64 KiB messages, 1000 in flight', () => {
    const c = schema.parse({ host: 'siem', transport: 'relp' });
    assert.deepEqual([c.format, c.facility, c.severity, c.max_message_bytes, c.max_in_flight, c.insecure], ['json', 'local0', 'info', 65_536, 1000, false]);
  });

  it('refuses an unknown transport, format, facility or severity', () => {
    for (const bad of [{ transport: 'udp' }, { format: 'gelf' }, { facility: 'local8' }, { severity: 'loud' }]) {
      assert.equal(schema.safeParse({ host: 'siem', transport: 'tcp', ...bad }).success, false, JSON.stringify(bad));
    }
  });

  it('TLS keys only with transport tls; a client certificate only with its key', () => {
    const ca = pem(tempDir('syslog-keys'));
    const check = (keys: object) => syslogKind.check!(schema.parse({ host: 'siem', ...keys }));
    assert.equal(check({ transport: 'relp', ca_file: ca }), 'ca_file: only with transport: tls');
    assert.equal(check({ transport: 'tcp', insecure: true }), 'insecure: only with transport: tls');
    assert.equal(check({ transport: 'tls', cert_file: '/c' }), 'cert_file and key_file go together (a client certificate and its key)');
    assert.equal(check({ transport: 'tls', ca_file: ca, cert_file: '/c', key_file: '/k' }), undefined);
  });

  it('a CA file that is not a certificate is refused when the config is read; a key file others may read, at open; each with the file and the reason', async () => {
    const dir = tempDir('syslog-keys');
    const notPem = join(dir, 'ca.txt');
    writeFileSync(notPem, 'hello');
    const parsed = schema.safeParse({ host: '127.0.0.1', transport: 'tls', ca_file: notPem });
    assert.equal(parsed.success, false);
    assert.deepEqual(parsed.error!.issues.map((i) => [i.path.join('.'), i.message]), [['ca_file', `cannot use ${notPem} as a CA file (holds no PEM certificate (-----BEGIN CERTIFICATE-----))`]]);
    const key = join(dir, 'client.key');
    writeFileSync(key, '-----BEGIN PRIVATE KEY-----\n');
    chmodSync(key, 0o644);
    await assert.rejects(openSyslog({ host: '127.0.0.1', port: 9, transport: 'tls', cert_file: pem(dir), key_file: key }), new RegExp(`syslog destination: key_file ${key} may be read by other users`));
  });
});

/** A file that passes for PEM (the checks read only its marker). */
function pem(dir: string): string {
  const f = join(dir, 'cert.pem');
  writeFileSync(f, '-----BEGIN CERTIFICATE-----\n');
  return f;
}
