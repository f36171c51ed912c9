/**
 * What a failed produce means for its events, from the client's error: send again later, split the
 * request, dead-letter the events, make a new producer, or stop the run for a person to act. The
 * broker's error names (Kafka's protocol error codes) and TLS/socket codes decide, from tables.
 */
export type FailureKind =
  /** The broker is down, moving a leader, short of replicas, or slow: the same records again, with back-off. */
  | 'retry'
  /** The request is over the broker's bound: split it; one event over the bound is a dead letter. */
  | 'too_large'
  /** This topic refuses these records whatever we do (authorization, an invalid record): dead letters. */
  | 'reject'
  /** The broker forgot or fenced this producer's id: a new producer, then the same records again. */
  | 'new_producer'
  /** Credentials, TLS, cluster authorization: a person must act. */
  | 'stop';

/** Broker error names (protocol/errors.js ids) whose meaning is not the client's `canRetry`. */
const BY_BROKER_ERROR: Readonly<Record<string, FailureKind>> = {
  MESSAGE_TOO_LARGE: 'too_large',
  RECORD_LIST_TOO_LARGE: 'too_large',
  TOPIC_AUTHORIZATION_FAILED: 'reject',
  INVALID_TOPIC_EXCEPTION: 'reject',
  INVALID_RECORD: 'reject',
  POLICY_VIOLATION: 'reject',
  UNKNOWN_PRODUCER_ID: 'new_producer',
  INVALID_PRODUCER_EPOCH: 'new_producer',
  OUT_OF_ORDER_SEQUENCE_NUMBER: 'new_producer',
  PRODUCER_FENCED: 'new_producer',
  INVALID_PRODUCER_ID_MAPPING: 'new_producer',
  CLUSTER_AUTHORIZATION_FAILED: 'stop',
  TRANSACTIONAL_ID_AUTHORIZATION_FAILED: 'stop',
  SASL_AUTHENTICATION_FAILED: 'stop',
  UNSUPPORTED_SASL_MECHANISM: 'stop',
  ILLEGAL_SASL_STATE: 'stop',
  UNSUPPORTED_VERSION: 'stop',
};

/** What a person reads for a `stop`, by broker error name. */
const ADVICE: Readonly<Record<string, string>> = {
  CLUSTER_AUTHORIZATION_FAILED: 'the user may not write idempotently: grant it IdempotentWrite on the cluster (or Write on the topics, Kafka 2.8+)',
  TRANSACTIONAL_ID_AUTHORIZATION_FAILED: 'the user may not use its transactional id: grant it Write on the TransactionalId',
  SASL_AUTHENTICATION_FAILED: 'check user, password and sasl_mechanism',
  UNSUPPORTED_SASL_MECHANISM: 'the broker does not offer this sasl_mechanism',
  TOPIC_AUTHORIZATION_FAILED: 'grant the user Write (and Describe) on the topic',
};

/** TLS failures a retry cannot cure (a certificate the CA did not sign, a wrong name, plain text where TLS is spoken). */
const TLS_CODE = /CERT|SELF_SIGNED|UNABLE_TO_(VERIFY|GET)|ERR_TLS|ERR_SSL|HOSTNAME|ALTNAME/;

/** The client's network and timeout errors (its TimeoutError says canRetry false, yet a timeout is worth another try), and socket errnos. */
const RETRIABLE_CODE = /^(PLT_KFK_NETWORK|PLT_KFK_TIMEOUT|E[A-Z]+)$/;

interface ErrorNode {
  readonly message?: string;
  readonly code?: string;
  readonly apiId?: string;
  readonly canRetry?: boolean;
  readonly cause?: unknown;
  readonly errors?: unknown[];
}

/** The error and every error inside it (a MultipleErrors' list, each one's cause), depth first. */
function* causes(err: unknown, depth = 0): Generator<ErrorNode> {
  if (err === null || typeof err !== 'object' || depth > 8) return;
  const e = err as ErrorNode;
  yield e;
  for (const inner of e.errors ?? []) yield* causes(inner, depth + 1);
  yield* causes(e.cause, depth + 1);
}

export interface Failure {
  readonly kind: FailureKind;
  /** One line: the deepest useful messages, with the broker's error name. */
  readonly reason: string;
}

/** Reads the client's error. */
export function classify(err: unknown): Failure {
  const nodes = [...causes(err)];
  const named = nodes.find((n) => n.apiId !== undefined && n.apiId in BY_BROKER_ERROR);
  const tls = nodes.find((n) => typeof n.code === 'string' && TLS_CODE.test(n.code));
  const auth = nodes.find((n) => n.code === 'PLT_KFK_AUTHENTICATION');
  const reason = describe(nodes);
  if (tls) return { kind: 'stop', reason: `TLS: ${tls.code} ${tls.message ?? ''}`.trim() };
  if (named) {
    const kind = BY_BROKER_ERROR[named.apiId!]!;
    return { kind, reason: ADVICE[named.apiId!] ? `${reason} (${ADVICE[named.apiId!]})` : reason };
  }
  if (auth) return { kind: 'stop', reason: `${reason} (${ADVICE.SASL_AUTHENTICATION_FAILED})` };
  // A client error that is not the broker's or the network's (a bug, a bad option) would fail again the same way.
  const retriable = nodes.some((n) => n.canRetry === true || (typeof n.code === 'string' && RETRIABLE_CODE.test(n.code)));
  return { kind: retriable ? 'retry' : 'stop', reason };
}

/** The distinct messages of the error tree, innermost detail included, on one line. */
function describe(nodes: readonly ErrorNode[]): string {
  const parts: string[] = [];
  for (const n of nodes) {
    const text = [n.apiId, n.message].filter((s) => s !== undefined && s !== '').join(': ');
    if (text !== '' && !parts.includes(text)) parts.push(text);
  }
  return parts.slice(0, 4).join(' <- ').slice(0, 600) || 'unknown error';
}

/** A transaction given up for a retriable failure: the unit starts over in a new one. */
export class Abandoned extends Error {
  constructor(readonly failure: Failure) {
    super(failure.reason);
  }
}
