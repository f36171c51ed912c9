/**
 * Delivers units to Kafka with an idempotent producer (acks=all): an event is acknowledged only
 * when the broker's produce answer for its request came back without error, that is when every
 * in-sync replica has it. Units go one at a time, each request after the last one answered, so
 * the producer's sequence numbers stay in order and a request sent again after a lost answer is
 * recognised by the broker as a copy (no duplicate within a producer session).
 */
import { ProduceAcks, Producer, stringSerializers } from '@platformatic/kafka';
import type { Logger } from '../../log/logger.js';
import type { Unit } from '../../core/unit.js';
import { backoffDelay, sleep } from '../../util/backoff.js';
import { MimelogError } from '../../util/errors.js';
import { type Destination, type DestinationReport, refusedEvent } from '../destination.js';
import { Abandoned, classify, type Failure } from './failure.js';
import { type OutRecord, partitionOf, requests, toRecord } from './records.js';
import { TopicNamer, topicProblem } from './topic.js';
import { type TransactionHost, type TransactionSettings, UnitTransactions } from './transactions.js';
import type { ClientOptions, Message, Report } from './messages.js';

export type { ClientOptions, Message, Report } from './messages.js';


export interface KafkaSettings {
  readonly client: ClientOptions;
  readonly topic: string;
  readonly createTopics: boolean;
  readonly batchBytes: number;
  /** How long one request may keep failing with retriable errors before the run stops. */
  readonly giveUpMs: number;
  readonly retryBaseMs: number;
  readonly retryMaxMs: number;
  /** Each unit one transaction, with its marker on a state topic (transactions.ts). */
  readonly transactional?: TransactionSettings;
}

/** The client's own retries per call before our back-off takes over (at least 2: fewer means endless for an idempotent producer). */
const CLIENT_RETRIES = 2;



/** How a request's records are sent: by the producer (retried in place) or inside a transaction. */
export interface Sender {
  readonly inPlace: boolean;
  send(messages: Message[]): Promise<unknown>;
}

export class KafkaDestination implements Destination, TransactionHost {
  private current: Producer<string, string, string, string>;
  /** Set in transactional mode (`transactional_id`). */
  private transactions: UnitTransactions | undefined;
  private readonly namer: TopicNamer;
  /** The last unit's delivery: the next starts after it (one producer, in-order sequences). */
  private chain: Promise<unknown> = Promise.resolve();
  /** Closing: a retry in progress stops waiting (the run is stopping; what is unacknowledged is not committed). */
  private readonly closing = new AbortController();

  private constructor(
    readonly name: string,
    private readonly settings: KafkaSettings,
    private readonly log: Logger,
  ) {
    this.namer = new TopicNamer(settings.topic);
    this.current = this.newProducer();
    if (settings.transactional) this.transactions = new UnitTransactions(this, settings.transactional, log);
  }

  producer(): Producer<string, string, string, string> {
    return this.current;
  }

  get client(): ClientOptions {
    return this.settings.client;
  }

  get giveUpMs(): number {
    return this.settings.giveUpMs;
  }

  get stopping(): AbortSignal {
    return this.closing.signal;
  }

  get retry(): { baseMs: number; maxMs: number } {
    return { baseMs: this.settings.retryBaseMs, maxMs: this.settings.retryMaxMs };
  }

  /** Connects, authenticates and gets a producer id (which checks the idempotent-write right), or says why not. */
  static async open(name: string, settings: KafkaSettings, log: Logger): Promise<KafkaDestination> {
    const d = new KafkaDestination(name, settings, log);
    try {
      // Taking a transactional id over waits while the coordinator aborts the open transaction of a
      // killed run (CONCURRENT_TRANSACTIONS): retried like a delivery, up to give_up_s.
      const transactions = d.transactions;
      if (transactions) await d.withRetry(0, undefined, () => transactions.start(), (f) => Promise.reject(new Error(f.reason)));
      else await d.current.initIdempotentProducer({});
      log.info('kafka ready', { destination: name, brokers: settings.client.bootstrapBrokers.map(String), topic: settings.topic, producer_id: String(d.current.producerId), transactional_id: settings.transactional?.id });
    } catch (err) {
      await closeQuietly(d.current);
      if (err instanceof MimelogError) throw err;
      throw new MimelogError('destination', `kafka destination ${name}: cannot start a producer on ${settings.client.bootstrapBrokers.map(String).join(', ')}: ${classify(err).reason}`);
    }
    return d;
  }

  deliver(unit: Unit): Promise<DestinationReport> {
    const delivered = this.chain.then(() => this.deliverNow(unit));
    this.chain = delivered;
    return delivered;
  }

  async close(): Promise<void> {
    this.closing.abort();
    // The producer first: a send it still holds fails at once, so a delivery in progress ends.
    const first = this.current;
    await closeQuietly(first);
    await this.chain.catch(() => undefined);
    if (this.current !== first) await closeQuietly(this.current); // replaced meanwhile (a fenced producer)
  }

  private newProducer(): Producer<string, string, string, string> {
    return new Producer({ ...this.settings.client, transactionalId: this.settings.transactional?.id, idempotent: true, acks: ProduceAcks.ALL, retries: CLIENT_RETRIES, serializers: stringSerializers });
  }

  private deliverNow(unit: Unit): Promise<DestinationReport> {
    return this.transactions ? this.transactions.deliver(unit) : this.deliverEvents(unit, unit.events.map((_, slot) => slot), { inPlace: true, send: (messages) => this.current.send({ messages }) });
  }

  /**
   * Sends the unit's events at `slots`: each acknowledged, or dead-lettered for a reason the broker or the
   * topic template gives. `via.inPlace`: retriable failures are retried here (idempotent mode);
   * otherwise they throw `Abandoned` for the caller to start the unit over (transactional mode).
   */
  async deliverEvents(unit: Unit, slots: readonly number[], via: Sender): Promise<Report> {
    const report: Report = { indexed: 0, duplicates: 0, resent: 0, collisions: [], rejected: [] };
    const byTopic = new Map<string, OutRecord[]>();
    for (const slot of slots) {
      const e = unit.events[slot]!;
      const topic = this.namer.topicFor(e);
      const problem = topicProblem(topic);
      if (problem) {
        this.reject(report, unit, [{ slot }], `no topic for event ${e.id}: ${problem}`);
        continue;
      }
      const record = toRecord(e, slot, unit, topic);
      const list = byTopic.get(topic);
      if (list) list.push(record);
      else byTopic.set(topic, [record]);
    }
    for (const [topic, records] of byTopic) {
      const partitions = await this.partitionsOf(topic, records.length);
      if (typeof partitions === 'string') {
        this.reject(report, unit, records, `kafka refused topic ${topic}: ${partitions}`);
        continue;
      }
      for (const r of records) r.partition = partitionOf(r.key, partitions);
      for (const request of requests(records, this.settings.batchBytes)) await this.send(request, unit, report, via);
    }
    return report;
  }

  /** The topic's partition count (creating the topic when allowed), or why the topic refuses us. */
  private async partitionsOf(topic: string, events: number): Promise<number | string> {
    return this.withRetry(events, undefined, async () => {
      const metadata = await this.current.metadata({ topics: [topic], autocreateTopics: this.settings.createTopics });
      return metadata.topics.get(topic)!.partitionsCount;
    }, (f) => f.reason);
  }

  /** Sends one request's records until each is acknowledged or dead-lettered. */
  private async send(records: OutRecord[], unit: Unit, report: Report, via: Sender): Promise<void> {
    const messages = records.map((r) => ({ topic: r.topic, partition: r.partition, key: r.key, value: r.value, headers: r.headers }));
    const outcome = await this.withRetry(records.length, via.inPlace ? report : 'abandon', async () => {
      await via.send(messages);
      return 'acknowledged' as const;
    }, (f) => f);
    if (outcome === 'acknowledged') {
      report.indexed += records.length;
    } else if (outcome.kind === 'too_large' && records.length > 1) {
      // The broker's bound is below ours: halves, down to one event, which alone is a dead letter.
      const half = Math.ceil(records.length / 2);
      await this.send(records.slice(0, half), unit, report, via);
      await this.send(records.slice(half), unit, report, via);
    } else {
      const topic = records[0]!.topic;
      this.reject(report, unit, records, `kafka refused the event for topic ${topic}: ${outcome.reason}`);
    }
  }

  /**
   * Runs `attempt` until it succeeds, waiting with back-off while failures are retriable and making
   * a new producer when the broker forgot this one. A failure that sending again cannot cure is
   * returned through `refused`; one a person must fix, or retriable failures past the give-up bound,
   * throw (the run stops, the checkpoint stays). `resending`: the report whose `resent` counts
   * the events of each new try (none when nothing was sent, e.g. a metadata call); `abandon`:
   * a retriable failure throws `Abandoned` at once (inside a transaction, which must start over).
   */
  async withRetry<T, R>(events: number, resending: Report | undefined | 'abandon', attempt: () => Promise<T>, refused: (f: Failure) => R): Promise<T | R> {
    const started = Date.now();
    for (let tries = 0; ; tries++) {
      let failure: Failure;
      try {
        return await attempt();
      } catch (err) {
        failure = classify(err);
      }
      if (failure.kind === 'too_large' || failure.kind === 'reject') return refused(failure);
      if (this.closing.signal.aborted) throw this.closedError(events);
      if (failure.kind === 'stop') throw new MimelogError('destination', `kafka destination ${this.name}: ${failure.reason}; nothing after the last stored unit was checkpointed`);
      if (resending === 'abandon') throw new Abandoned(failure);
      if (Date.now() - started > this.settings.giveUpMs) {
        throw new MimelogError('destination', `kafka destination ${this.name} did not accept ${events} events for ${Math.round((Date.now() - started) / 1000)} s (last: ${failure.reason}); nothing after the last stored unit was checkpointed`);
      }
      if (failure.kind === 'new_producer') await this.replaceProducer(failure.reason);
      const delay = backoffDelay(tries, { baseMs: this.settings.retryBaseMs, maxMs: this.settings.retryMaxMs });
      this.log.warn('kafka unreachable or busy: retrying', { destination: this.name, events, attempt: tries + 1, delay_ms: delay, reason: failure.reason });
      if (resending !== undefined) resending.resent += events;
      if (!(await sleep(delay, this.closing.signal))) throw this.closedError(events);
    }
  }

  private closedError(events: number): MimelogError {
    return new MimelogError('destination', `kafka destination ${this.name} closed with ${events} events unacknowledged; nothing after the last stored unit was checkpointed`);
  }

  /** A new producer id: records sent again after this may be written twice (the old id's copies are not recognised). */
  async replaceProducer(reason: string): Promise<void> {
    this.log.warn('kafka producer replaced: events sent again may be written twice', { destination: this.name, reason });
    const old = this.current;
    this.current = this.newProducer();
    await closeQuietly(old);
  }

  private reject(report: Report, unit: Unit, records: readonly { slot: number }[], reason: string): void {
    this.log.warn('kafka refused events: dead-lettered', { destination: this.name, events: records.length, reason });
    for (const r of records) {
      const e = unit.events[r.slot]!;
      report.rejected.push(refusedEvent(unit, e, reason));
    }
  }
}

/** Closes a producer, dropping what it still holds (a close never fails a run). */
function closeQuietly(p: Producer<string, string, string, string>): Promise<void> {
  return new Promise((resolve) => p.close(true, () => resolve()));
}
