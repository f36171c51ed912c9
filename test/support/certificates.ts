/**
 * Test certificates made with the machine's openssl: a CA, a server certificate for
 * localhost/127.0.0.1 it signed, a client certificate it signed, and an unrelated CA that signed
 * nothing here (for "the wrong CA is refused"). One maker for every TLS test and receiver.
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

export interface TestCertificates {
  readonly ca: string;
  readonly otherCa: string;
  readonly serverCert: string;
  readonly serverKey: string;
  readonly clientCert: string;
  readonly clientKey: string;
}

/** Writes the certificates into `dir` (made if missing) and returns their paths. */
export function makeTestCertificates(dir: string): TestCertificates {
  mkdirSync(dir, { recursive: true });
  const openssl = (...args: string[]) => execFileSync('openssl', args, { cwd: dir, stdio: 'pipe' });
  const ext = (usage: string) => `subjectAltName=DNS:localhost,IP:127.0.0.1\nextendedKeyUsage=${usage}\nkeyUsage=digitalSignature,keyEncipherment\n`;
  writeFileSync(join(dir, 'server.ext'), ext('serverAuth'));
  writeFileSync(join(dir, 'client.ext'), ext('clientAuth'));
  const rsa = ['-newkey', 'rsa:2048', '-nodes'];
  openssl('req', '-x509', ...rsa, '-days', '30', '-subj', '/CN=mimelog-test-ca', '-keyout', 'ca.key', '-out', 'ca.pem');
  openssl('req', '-x509', ...rsa, '-days', '30', '-subj', '/CN=mimelog-other-ca', '-keyout', 'other.key', '-out', 'other.pem');
  for (const [who, cn] of [['server', 'localhost'], ['client', 'mimelog-client']]) {
    openssl('req', ...rsa, '-subj', `/CN=${cn}`, '-keyout', `${who}.key`, '-out', `${who}.csr`);
    openssl('x509', '-req', '-in', `${who}.csr`, '-CA', 'ca.pem', '-CAkey', 'ca.key', '-CAcreateserial', '-days', '30', '-sha256', '-extfile', `${who}.ext`, '-out', `${who}.pem`);
  }
  const at = (name: string) => join(dir, name);
  return { ca: at('ca.pem'), otherCa: at('other.pem'), serverCert: at('server.pem'), serverKey: at('server.key'), clientCert: at('client.pem'), clientKey: at('client.key') };
}

/** The server certificate and key as a PKCS12 keystore (what a Java server such as Kafka reads). */
export function pkcs12Keystore(certs: TestCertificates, file: string, password: string): string {
  execFileSync('openssl', ['pkcs12', '-export', '-in', certs.serverCert, '-inkey', certs.serverKey, '-out', file, '-passout', `pass:${password}`], { stdio: 'pipe' });
  return file;
}
