/**
 * `kind: kafka`: a Kafka destination (see README.md in this folder for what an acknowledgement
 * means, the keys and the limits).
 */
import { z } from 'zod';
import type { ConnectionOptions as TlsOptions } from 'node:tls';
import { ENV } from '../../config/env.js';
import { UnreadableFile, readCaFile, readSmallFile } from '../../config/read-file.js';
import { caFile, numberKeys } from '../../config/zod-keys.js';
import { MimelogError } from '../../util/errors.js';
import { SECRETS } from '../../util/secrets.js';
import type { DestinationContext, DestinationKind } from '../destination.js';
import { templateProblem, topicProblem } from './topic.js';

// The Kafka client is loaded in open() only: every command reads this file through the registry.
const MECHANISMS = ['PLAIN', 'SCRAM-SHA-256', 'SCRAM-SHA-512'] as const;
/** A key or certificate file is a few kilobytes. */
const MAX_PEM_BYTES = 256 * 1024;
/** Back-off between tries of a request that failed for a reason that may pass (leader moving, broker down). */
const RETRY = { baseMs: 200, maxMs: 10_000 };

const broker = z.string().regex(/^(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9.-]+):\d{1,5}$/, 'host:port');

const keys = {
  brokers: z.array(broker).min(1, 'at least one host:port'),
  /** One topic, or a template: `{dataset}` (event.dataset) and `{log_type}`. */
  topic: z.string().default('mimecast-siem'),
  /** Ask the broker to create a missing topic (it does when its auto.create.topics.enable is true). */
  create_topics: z.boolean().default(true),
  client_id: z.string().min(1).max(255).default('mimelog'),
  tls: z.boolean().default(false),
  ca_file: caFile.optional(),
  cert_file: z.string().min(1).optional(),
  key_file: z.string().min(1).optional(),
  /** Accept any broker certificate: for tests only. */
  insecure: z.boolean().default(false),
  sasl_mechanism: z.enum(MECHANISMS).optional(),
  user: z.string().min(1).optional(),
  password: z.string().min(1).optional(),
  /** Exactly once for read_committed consumers: each unit one transaction under this id (one mimelog per id). */
  transactional_id: z.string().regex(/^[A-Za-z0-9._-]{1,200}$/, 'letters, digits, ".", "_" or "-" (at most 200)').optional(),
  /** Where each unit's marker goes in its transaction (transactional mode). */
  state_topic: z.string().default('mimelog-state'),
  ...numberKeys(['searchTimeout', 'searchGiveUp', 'kafkaBatchBytes']),
};

type KafkaConfig = z.infer<z.ZodObject<typeof keys>>;

/** The broken cross-key rules, as one message. */
function check(c: KafkaConfig): string | undefined {
  const problems = [
    templateProblem(c.topic) && `topic: ${templateProblem(c.topic)}`,
    topicProblem(c.state_topic) && `state_topic: ${topicProblem(c.state_topic)}`,
    (c.cert_file === undefined) !== (c.key_file === undefined) && 'cert_file and key_file go together (a client certificate and its key)',
    c.sasl_mechanism !== undefined && c.user === undefined && `sasl_mechanism ${c.sasl_mechanism} needs user`,
    c.sasl_mechanism === undefined && c.user !== undefined && 'user needs sasl_mechanism (PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512)',
    c.sasl_mechanism === 'PLAIN' && !usesTls(c) && 'sasl_mechanism PLAIN sends the password in clear: set tls: true (or ca_file)',
    c.insecure && !usesTls(c) && 'insecure applies to TLS only: set tls: true',
  ].filter((p): p is string => typeof p === 'string');
  return problems.length > 0 ? problems.join('; ') : undefined;
}

function usesTls(c: KafkaConfig): boolean {
  return c.tls || c.ca_file !== undefined || c.cert_file !== undefined;
}

/** A PEM file named by `key`, or a config error naming it and why it cannot be read. */
function pem(key: string, path: string, read: (p: string) => string): string {
  try {
    return read(path);
  } catch (err) {
    if (err instanceof UnreadableFile) throw new MimelogError('config', `sink.${key} ${path}: ${err.message}`);
    throw err;
  }
}

function tlsOptions(c: KafkaConfig): TlsOptions | undefined {
  if (!usesTls(c)) return undefined;
  const readPem = (p: string) => readSmallFile(p, MAX_PEM_BYTES).text;
  return {
    ca: c.ca_file === undefined ? undefined : pem('ca_file', c.ca_file, readCaFile),
    cert: c.cert_file === undefined ? undefined : pem('cert_file', c.cert_file, readPem),
    key: c.key_file === undefined ? undefined : pem('key_file', c.key_file, readPem),
    rejectUnauthorized: !c.insecure,
  };
}

function saslOptions(c: KafkaConfig, env: NodeJS.ProcessEnv) {
  if (c.sasl_mechanism === undefined) return undefined;
  const password = c.password ?? env[ENV.kafka.password];
  if (password === undefined || password === '') throw new MimelogError('config', `sink: sasl_mechanism ${c.sasl_mechanism} needs password (or password_file, or ${ENV.kafka.password})`);
  SECRETS.add(password);
  return { mechanism: c.sasl_mechanism, username: c.user, password };
}

export const kafkaKind: DestinationKind<typeof keys> = {
  kind: 'kafka',
  summary: 'Apache Kafka: an idempotent producer (acks=all), key = event.id, value = the ECS document, topic per dataset or one topic',
  acknowledgement: "the broker's produce answer for the event's request, with acks=all (every in-sync replica holds it); with transactional_id, the commit of the unit's transaction, which holds its marker",
  keys,
  example: { brokers: ['127.0.0.1:9092'] },
  check,
  async open(c: KafkaConfig, name: string, ctx: DestinationContext) {
    const { KafkaDestination } = await import('./kafka-destination.js');
    // Said as the other destinations say it: with SASL, whoever stands in the middle reads the password.
    if (c.insecure) ctx.log.warn(`kafka ${name}: insecure: true, the brokers' certificates are not checked (for tests only)`);
    const brokers = c.brokers;
    const timeoutMs = c.timeout_s * 1000;
    return KafkaDestination.open(name, {
      client: {
        clientId: c.client_id, bootstrapBrokers: brokers, timeout: timeoutMs, requestTimeout: timeoutMs, connectTimeout: Math.min(timeoutMs, 10_000),
        retryDelay: RETRY.baseMs, tls: tlsOptions(c), sasl: saslOptions(c, ctx.env),
      },
      topic: c.topic,
      createTopics: c.create_topics,
      batchBytes: c.produce_bytes,
      giveUpMs: c.give_up_s * 1000,
      retryBaseMs: RETRY.baseMs,
      retryMaxMs: RETRY.maxMs,
      transactional: c.transactional_id === undefined ? undefined : { id: c.transactional_id, stateTopic: c.state_topic },
    }, ctx.log);
  },
};
