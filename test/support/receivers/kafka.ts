/**
 * Test support: a real Apache Kafka 4.1.1 broker (KRaft, broker and controller in one JVM) from
 * the jars scripts/receivers/kafka.sh fetched into test/kafka-node/target/libs. Each test file
 * starts its own on free loopback ports in a temp dir: a PLAINTEXT listener and, on request, an
 * SSL listener whose certificate a test CA made here signed. `stop()` kills the JVM and keeps the
 * data, `start()` brings it back on the same ports; `close()` also removes the folder.
 */
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Consumer, FetchIsolationLevels, ListOffsetTimestamps, MessagesStreamModes } from '@platformatic/kafka';
import { makeTestCertificates, pkcs12Keystore } from '../certificates.js';
import { ROOT, freePorts } from '../helpers.js';
import { type CommittedRecord, readCommitted } from '../../../src/sinks/kafka/committed-log.js';

export const KAFKA_LIBS = join(ROOT, 'test', 'kafka-node', 'target', 'libs');
const JVM = ['-Xms64m', '-Xmx256m', '-XX:+UseSerialGC', '-XX:TieredStopAtLevel=1', '-Djava.awt.headless=true'];
const READY = 'Kafka Server started';
const TLS_PASSWORD = 'test-keystore';

/** Whether the broker's jars are there; tests fail with `notFetchedHint` otherwise. */
export function kafkaFetched(): boolean {
  return existsSync(join(KAFKA_LIBS, '.complete'));
}
export const notFetchedHint = 'the Kafka test broker is not fetched: run scripts/receivers/kafka.sh (needs Java 17 and Maven)';

/** A test CA and a server certificate for 127.0.0.1 it signed, as PEM files and a PKCS12 keystore. */
function makeCertificates(dir: string): { caFile: string; keystore: string } {
  const certs = makeTestCertificates(dir);
  return { caFile: certs.ca, keystore: pkcs12Keystore(certs, join(dir, 'server.p12'), TLS_PASSWORD) };
}

/** A cluster id as Kafka writes one: 16 random bytes, base64url (not starting with "-"). */
function clusterId(): string {
  for (;;) {
    const id = randomBytes(16).toString('base64url');
    if (!id.startsWith('-')) return id;
  }
}

export interface BrokerOptions {
  /** Also an SSL listener, with a certificate of a CA made for this broker (`caFile`). */
  readonly tls?: boolean;
  /** Also a SASL_PLAINTEXT listener taking SCRAM-SHA-256 and SCRAM-SHA-512 for this user (`saslBootstrap`). */
  readonly scram?: { readonly user: string; readonly password: string };
  /** Broker settings added to server.properties (e.g. `message.max.bytes`). */
  readonly properties?: Readonly<Record<string, string | number>>;
}

export interface ReadMessage {
  readonly topic: string;
  readonly partition: number;
  readonly offset: bigint;
  readonly key: string;
  readonly value: string;
  readonly headers: Record<string, string>;
}

export class KafkaBroker {
  private child: ChildProcess | undefined;
  private log: string[] = [];

  private constructor(
    private readonly dir: string,
    readonly port: number,
    readonly tlsPort: number | undefined,
    readonly caFile: string | undefined,
    readonly saslPort: number | undefined,
  ) {}

  /** Formats a fresh data folder and starts the broker; resolves once it logged that it started. */
  static async start(options: BrokerOptions = {}): Promise<KafkaBroker> {
    if (!kafkaFetched()) throw new Error(notFetchedHint);
    const dir = mkdtempSync(join(tmpdir(), 'mimelog-kafka-'));
    const [port, controller, tlsPort, saslPort] = (await freePorts(4)) as [number, number, number, number];
    const certs = options.tls ? makeCertificates(join(dir, 'tls')) : undefined;
    const listeners = [`PLAINTEXT://127.0.0.1:${port}`, ...(certs ? [`SSL://127.0.0.1:${tlsPort}`] : []), ...(options.scram ? [`SASL_PLAINTEXT://127.0.0.1:${saslPort}`] : [])];
    const scramLogin = 'org.apache.kafka.common.security.scram.ScramLoginModule required;';
    const props: Record<string, string | number> = {
      'process.roles': 'broker,controller',
      'node.id': 1,
      'controller.quorum.voters': `1@127.0.0.1:${controller}`,
      listeners: [...listeners, `CONTROLLER://127.0.0.1:${controller}`].join(','),
      'advertised.listeners': listeners.join(','),
      'listener.security.protocol.map': 'PLAINTEXT:PLAINTEXT,SSL:SSL,SASL_PLAINTEXT:SASL_PLAINTEXT,CONTROLLER:PLAINTEXT',
      'controller.listener.names': 'CONTROLLER',
      'inter.broker.listener.name': 'PLAINTEXT',
      'log.dirs': join(dir, 'data'),
      'num.partitions': 1,
      'offsets.topic.replication.factor': 1,
      'offsets.topic.num.partitions': 1,
      'transaction.state.log.replication.factor': 1,
      'transaction.state.log.min.isr': 1,
      'transaction.state.log.num.partitions': 1,
      'share.coordinator.state.topic.replication.factor': 1,
      'share.coordinator.state.topic.min.isr': 1,
      'share.coordinator.state.topic.num.partitions': 1,
      'group.initial.rebalance.delay.ms': 0,
      'auto.create.topics.enable': 'true',
      ...(certs ? { 'ssl.keystore.type': 'PKCS12', 'ssl.keystore.location': certs.keystore, 'ssl.keystore.password': TLS_PASSWORD, 'ssl.key.password': TLS_PASSWORD } : {}),
      ...(options.scram ? {
        'sasl.enabled.mechanisms': 'SCRAM-SHA-256,SCRAM-SHA-512',
        'listener.name.sasl_plaintext.scram-sha-256.sasl.jaas.config': scramLogin,
        'listener.name.sasl_plaintext.scram-sha-512.sasl.jaas.config': scramLogin,
      } : {}),
      ...options.properties,
    };
    // SCRAM credentials live in the cluster metadata: written when the storage is formatted.
    const scramUsers = options.scram ? ['SCRAM-SHA-256', 'SCRAM-SHA-512'].flatMap((m) => ['--add-scram', `${m}=[name=${options.scram!.user},password=${options.scram!.password}]`]) : [];
    writeFileSync(join(dir, 'server.properties'), Object.entries(props).map(([k, v]) => `${k}=${v}`).join('\n') + '\n');
    writeFileSync(join(dir, 'log4j2.properties'), LOG4J);
    execFileSync('java', [...JVM, `-Dlog4j2.configurationFile=${join(dir, 'log4j2.properties')}`, '-cp', `${KAFKA_LIBS}/*`, 'kafka.tools.StorageTool', 'format', '-t', clusterId(), '-c', join(dir, 'server.properties'), ...scramUsers], { stdio: 'pipe' });
    const broker = new KafkaBroker(dir, port, certs ? tlsPort : undefined, certs?.caFile, options.scram ? saslPort : undefined);
    // Whatever ends the test process (a failure before `after`, an exit): no JVM or folder left behind.
    process.once('exit', () => {
      broker.child?.kill('SIGKILL');
      rmSync(dir, { recursive: true, force: true });
    });
    await broker.start();
    return broker;
  }

  get bootstrap(): string {
    return `127.0.0.1:${this.port}`;
  }

  get tlsBootstrap(): string {
    if (this.tlsPort === undefined) throw new Error('this broker has no TLS listener');
    return `127.0.0.1:${this.tlsPort}`;
  }

  get saslBootstrap(): string {
    if (this.saslPort === undefined) throw new Error('this broker has no SASL listener');
    return `127.0.0.1:${this.saslPort}`;
  }

  /** Starts the JVM on the existing data folder (again, after `stop()`). */
  async start(): Promise<void> {
    this.log = [];
    const child = spawn('java', [...JVM, `-Dlog4j2.configurationFile=${join(this.dir, 'log4j2.properties')}`, '-cp', `${KAFKA_LIBS}/*`, 'kafka.Kafka', join(this.dir, 'server.properties')], { stdio: ['ignore', 'pipe', 'pipe'] });
    this.child = child;
    const ready = new Promise<void>((resolve, reject) => {
      const keep = (c: Buffer) => {
        this.log.push(c.toString());
        if (this.log.length > 300) this.log.shift();
        if (c.toString().includes(READY)) resolve();
      };
      child.stdout!.on('data', keep);
      child.stderr!.on('data', keep);
      child.once('exit', (code) => reject(new Error(`the Kafka broker exited (${code}) before it started:\n${this.recentLog()}`)));
    });
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`the Kafka broker did not start within 60 s:\n${this.recentLog()}`)), 60_000);
    });
    try {
      await Promise.race([ready, timeout]);
    } catch (err) {
      await this.stop();
      throw err;
    } finally {
      clearTimeout(timer);
    }
  }

  /** kill -9 of the broker's JVM: what the broker had not written to disk is its problem, as in a crash. */
  async stop(): Promise<void> {
    const child = this.child;
    if (!child || child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise((r) => child.once('exit', r));
    child.kill('SIGKILL');
    await exited;
  }

  async close(): Promise<void> {
    await this.stop();
    rmSync(this.dir, { recursive: true, force: true });
  }

  recentLog(): string {
    return this.log.join('').slice(-4000);
  }

  /**
   * Every message of `topics`, read by a consumer of a fresh group from the earliest offset, until
   * `expect` messages came and nothing more for `settleMs` (or `timeoutMs` passed).
   * `readCommitted`: what a consumer with isolation.level=read_committed sees.
   */
  async read(topics: string[], o: { expect: number; timeoutMs?: number; settleMs?: number; readCommitted?: boolean }): Promise<ReadMessage[]> {
    const consumer = new Consumer({
      clientId: 'mimelog-test-reader', groupId: `reader-${randomBytes(6).toString('hex')}`, bootstrapBrokers: [this.bootstrap],
      isolationLevel: o.readCommitted ? FetchIsolationLevels.READ_COMMITTED : FetchIsolationLevels.READ_UNCOMMITTED, maxWaitTime: 200,
    });
    const got: ReadMessage[] = [];
    try {
      const stream = await consumer.consume({ topics, mode: MessagesStreamModes.EARLIEST, autocommit: false });
      const deadline = Date.now() + (o.timeoutMs ?? 30_000);
      let lastAt = Date.now();
      stream.on('data', (m) => {
        const headers: Record<string, string> = {};
        for (const [k, v] of m.headers) headers[k.toString()] = v.toString();
        got.push({ topic: m.topic, partition: m.partition, offset: m.offset, key: m.key?.toString() ?? '', value: m.value?.toString() ?? '', headers });
        lastAt = Date.now();
      });
      while (Date.now() < deadline && !(got.length >= o.expect && Date.now() - lastAt >= (o.settleMs ?? 500))) await new Promise((r) => setTimeout(r, 50));
      await stream.close();
    } finally {
      await consumer.close(true);
    }
    return got;
  }
}

/**
 * Partition 0 of `topic` from its start, as a read_committed consumer sees it (the records of
 * committed transactions and those written outside one), with mimelog's own reader of raw batches.
 */
export async function readCommittedTopic(broker: KafkaBroker, topic: string): Promise<CommittedRecord[]> {
  const consumer = new Consumer({ clientId: 'mimelog-test-reader', groupId: `reader-${randomBytes(6).toString('hex')}`, bootstrapBrokers: [broker.bootstrap] });
  try {
    // A commit returns before the coordinator has written its markers into the partition: wait
    // until no transaction is open there (the last stable offset reaches the high watermark).
    const deadline = Date.now() + 15_000;
    const end = async (isolationLevel: number) => (await consumer.listOffsets({ topics: [topic], partitions: { [topic]: [0] }, timestamp: ListOffsetTimestamps.LATEST, isolationLevel })).get(topic)?.[0] ?? 0n;
    while (Date.now() < deadline && (await end(1)) < (await end(0))) await new Promise((r) => setTimeout(r, 100));
    return await readCommitted(consumer, topic, 0, 0n);
  } finally {
    await consumer.close(true);
  }
}

/** Quiet, but it keeps the line that says the broker started. */
const LOG4J = `status = warn
appender.out.type = Console
appender.out.name = STDOUT
appender.out.layout.type = PatternLayout
appender.out.layout.pattern = [%d] %p %m (%c)%n
rootLogger.level = WARN
rootLogger.appenderRef.out.ref = STDOUT
logger.srv.name = kafka.server.KafkaRaftServer
logger.srv.level = INFO
`;
