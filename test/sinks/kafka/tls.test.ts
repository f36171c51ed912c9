/**
 * The Kafka destination over TLS and SASL, against a real broker's SSL listener (its certificate
 * signed by a test CA) and SASL_PLAINTEXT listener (SCRAM): the right CA and the right password
 * deliver; another CA, or a wrong password, is refused at open with a clear error that never
 * shows the password.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { tempDir } from '../../support/helpers.js';
import { brokerForSuite, openKafka, unitOf } from './kafka-support.js';

const SCRAM = { user: 'mimelog', password: 'scram-secret-4711' };

describe('kafka destination over TLS and SASL (Kafka 4.1.1 SSL and SASL_PLAINTEXT listeners)', () => {
  const broker = brokerForSuite({ tls: true, scram: SCRAM });

  it("delivers through the SSL listener when ca_file is the broker's CA", async () => {
    const dest = await openKafka({ brokers: [broker().tlsBootstrap], topic: 'secure', ca_file: broker().caFile });
    try {
      const unit = await unitOf('tls.log', 50, 11);
      assert.equal((await dest.deliver(unit)).indexed, 50);
      const read = await broker().read(['secure'], { expect: 50 });
      assert.deepEqual(read.map((m) => m.key).sort(), unit.events.map((e) => e.id).sort());
    } finally {
      await dest.close();
    }
  });

  it('a broker certificate another CA signed is refused at open, saying TLS and why', async () => {
    const dir = tempDir('kafka-other-ca');
    const otherCa = join(dir, 'other-ca.pem');
    execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '1', '-subj', '/CN=another CA', '-keyout', join(dir, 'other.key'), '-out', otherCa], { stdio: 'pipe' });
    const started = Date.now();
    await assert.rejects(openKafka({ brokers: [broker().tlsBootstrap], ca_file: otherCa }), (err: Error) => {
      assert.equal(err.name, 'MimelogError');
      assert.match(err.message, /kafka destination kafka: cannot start a producer on 127\.0\.0\.1:\d+: TLS: (UNABLE_TO_VERIFY_LEAF_SIGNATURE|SELF_SIGNED_CERT_IN_CHAIN|UNABLE_TO_GET_ISSUER_CERT)/);
      return true;
    });
    assert.ok(Date.now() - started < 15_000, 'refused at once, not retried until a give-up bound');
    // Plain text spoken to the SSL listener is no connection either.
    await assert.rejects(openKafka({ brokers: [broker().tlsBootstrap], timeout_s: 2 }), /cannot start a producer/);
  });

  for (const mechanism of ['SCRAM-SHA-256', 'SCRAM-SHA-512']) {
    it(`${mechanism}: the password from password (or ${'MIMELOG_KAFKA_PASSWORD'}) delivers; a wrong one stops at open, saying so without the password`, async () => {
      const dest = await openKafka({ brokers: [broker().saslBootstrap], topic: `sasl-${mechanism.slice(-3)}`, sasl_mechanism: mechanism, user: SCRAM.user }, undefined, { MIMELOG_KAFKA_PASSWORD: SCRAM.password });
      try {
        assert.equal((await dest.deliver(await unitOf('sasl.log', 20, 12))).indexed, 20);
      } finally {
        await dest.close();
      }
      const wrong = 'wrong-password-0815';
      await assert.rejects(openKafka({ brokers: [broker().saslBootstrap], sasl_mechanism: mechanism, user: SCRAM.user, password: wrong }), (err: Error) => {
        assert.match(err.message, /cannot start a producer on .*SASL authentication failed.*check user, password and sasl_mechanism/);
        assert.ok(!err.message.includes(wrong), 'the password is not in the error');
        return true;
      });
    });
  }

  it('refuses settings that cannot be right: a client certificate without its key, PLAIN without TLS, SASL without a password', async () => {
    await assert.rejects(openKafka({ brokers: [broker().tlsBootstrap], cert_file: broker().caFile }), /cert_file and key_file go together/);
    await assert.rejects(openKafka({ brokers: [broker().bootstrap], sasl_mechanism: 'PLAIN', user: 'u', password: 'secret-password' }), /PLAIN sends the password in clear/);
    await assert.rejects(openKafka({ brokers: [broker().bootstrap], sasl_mechanism: 'SCRAM-SHA-512', user: 'u' }), /needs password \(or password_file, or MIMELOG_KAFKA_PASSWORD\)/);
    await assert.rejects(openKafka({ brokers: [broker().tlsBootstrap], ca_file: '/nonexistent/ca.pem' }), /cannot use \/nonexistent\/ca\.pem as a CA file \(no such file\)/);
  });
});
