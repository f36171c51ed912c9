/**
 * Delivers units to Kafka with an idempotent producer (acks=all): an event is acknowledged only
 * when the broker's produce answer for its request came back without error, that is when every
 * in-sync replica has it. Units go one at a time, each request after the last one answered, so
 * the producer's sequence numbers stay in order and a request sent again after a lost answer is
 * recognised by the broker as a copy (no duplicate within a producer session).
 */
import { ProduceAcks, Producer, type ProducerOptions, stringSerializers } from '@platformatic/kafka';
import type { Logger } from '../../log/logger.js';
import type { Unit } from '../../core/unit.js';
import { prepareDeadLetter } from '../../store/prepared.js';
import { backoffDelay, sleep } from '../../util/backoff.js';
import { MimelogError } from '../../util/errors.js';
import type { Destination, DestinationReport } from '../destination.js';
import { classify, type Failure } from './failure.js';
import { type OutRecord, partitionOf, requests, toRecord } from './records.js';
import { TopicNamer, topicProblem } from './topic.js';

export type ClientOptions = Omit<ProducerOptions<string, string, string, string>, 'idempotent' | 'acks' | 'serializers'>;

export interface KafkaSettings {
  readonly client: ClientOptions;
  readonly topic: string;
  readonly createTopics: boolean;
  readonly batchBytes: number;
  /** How long one request may keep failing with retriable errors before the run stops. */
  readonly giveUpMs: number;
  readonly retryBaseMs: number;
  readonly retryMaxMs: number;
}

/** The client's own retries per call before our back-off takes over (at least 2: fewer means endless for an idempotent producer). */
const CLIENT_RETRIES = 2;

type Report = { indexed: number; duplicates: number; resent: number; collisions: never[]; rejected: ReturnType<typeof prepareDeadLetter>[] };

export class KafkaDestination implements Destination {
  private producer: Producer<string, string, string, string>;
  private readonly namer: TopicNamer;
  /** The last unit's delivery: the next starts after it (one producer, in-order sequences). */
  private chain: Promise<unknown> = Promise.resolve();

  private constructor(
    readonly name: string,
    private readonly settings: KafkaSettings,
    private readonly log: Logger,
  ) {
    this.namer = new TopicNamer(settings.topic);
    this.producer = this.newProducer();
  }

  /** Connects, authenticates and gets a producer id (which checks the idempotent-write right), or says why not. */
  static async open(name: string, settings: KafkaSettings, log: Logger): Promise<KafkaDestination> {
    const d = new KafkaDestination(name, settings, log);
    try {
      const info = await d.producer.initIdempotentProducer({});
      log.info('kafka ready', { destination: name, brokers: settings.client.bootstrapBrokers.map(String), topic: settings.topic, producer_id: String(info.producerId) });
    } catch (err) {
      await closeQuietly(d.producer);
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
    await this.chain.catch(() => undefined);
    await closeQuietly(this.producer);
  }

  private newProducer(): Producer<string, string, string, string> {
    return new Producer({ ...this.settings.client, idempotent: true, acks: ProduceAcks.ALL, retries: CLIENT_RETRIES, serializers: stringSerializers });
  }

  private async deliverNow(unit: Unit): Promise<DestinationReport> {
    const report: Report = { indexed: 0, duplicates: 0, resent: 0, collisions: [], rejected: [] };
    const byTopic = new Map<string, OutRecord[]>();
    unit.events.forEach((e, slot) => {
      const topic = this.namer.topicFor(e);
      const problem = topicProblem(topic);
      if (problem) return this.reject(report, unit, [{ slot }], `no topic for event ${e.id}: ${problem}`);
      const record = toRecord(e, slot, unit, topic);
      const list = byTopic.get(topic);
      if (list) list.push(record);
      else byTopic.set(topic, [record]);
    });
    for (const [topic, records] of byTopic) {
      const partitions = await this.partitionsOf(topic, records.length);
      if (typeof partitions === 'string') {
        this.reject(report, unit, records, `kafka refused topic ${topic}: ${partitions}`);
        continue;
      }
      for (const r of records) r.partition = partitionOf(r.key, partitions);
      for (const request of requests(records, this.settings.batchBytes)) await this.send(request, unit, report);
    }
    return report;
  }

  /** The topic's partition count (creating the topic when allowed), or why the topic refuses us. */
  private async partitionsOf(topic: string, events: number): Promise<number | string> {
    return this.withRetry(events, undefined, async () => {
      const metadata = await this.producer.metadata({ topics: [topic], autocreateTopics: this.settings.createTopics });
      return metadata.topics.get(topic)!.partitionsCount;
    }, (f) => f.reason);
  }

  /** Sends one request's records until each is acknowledged or dead-lettered. */
  private async send(records: OutRecord[], unit: Unit, report: Report): Promise<void> {
    const messages = records.map((r) => ({ topic: r.topic, partition: r.partition, key: r.key, value: r.value, headers: r.headers }));
    const outcome = await this.withRetry(records.length, report, async () => {
      await this.producer.send({ messages });
      return 'acknowledged' as const;
    }, (f) => f);
    if (outcome === 'acknowledged') {
      report.indexed += records.length;
    } else if (outcome.kind === 'too_large' && records.length > 1) {
      // The broker's bound is below ours: halves, down to one event, which alone is a dead letter.
      const half = Math.ceil(records.length / 2);
      await this.send(records.slice(0, half), unit, report);
      await this.send(records.slice(half), unit, report);
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
   * the events of each new try (none when nothing was sent, e.g. a metadata call).
   */
  private async withRetry<T, R>(events: number, resending: Report | undefined, attempt: () => Promise<T>, refused: (f: Failure) => R): Promise<T | R> {
    const started = Date.now();
    for (let tries = 0; ; tries++) {
      let failure: Failure;
      try {
        return await attempt();
      } catch (err) {
        failure = classify(err);
      }
      if (failure.kind === 'too_large' || failure.kind === 'reject') return refused(failure);
      if (failure.kind === 'stop') throw new MimelogError('destination', `kafka destination ${this.name}: ${failure.reason}; nothing after the last stored unit was checkpointed`);
      if (Date.now() - started > this.settings.giveUpMs) {
        throw new MimelogError('destination', `kafka destination ${this.name} did not accept ${events} events for ${Math.round((Date.now() - started) / 1000)} s (last: ${failure.reason}); nothing after the last stored unit was checkpointed`);
      }
      if (failure.kind === 'new_producer') await this.replaceProducer(failure.reason);
      const delay = backoffDelay(tries, { baseMs: this.settings.retryBaseMs, maxMs: this.settings.retryMaxMs });
      this.log.warn('kafka unreachable or busy: retrying', { destination: this.name, events, attempt: tries + 1, delay_ms: delay, reason: failure.reason });
      if (resending) resending.resent += events;
      await sleep(delay);
    }
  }

  /** A new producer id: records sent again after this may be written twice (the old id's copies are not recognised). */
  private async replaceProducer(reason: string): Promise<void> {
    this.log.warn('kafka producer replaced: events sent again may be written twice', { destination: this.name, reason });
    const old = this.producer;
    this.producer = this.newProducer();
    await closeQuietly(old);
  }

  private reject(report: Report, unit: Unit, records: readonly { slot: number }[], reason: string): void {
    this.log.warn('kafka refused events: dead-lettered', { destination: this.name, events: records.length, reason });
    for (const r of records) {
      const e = unit.events[r.slot]!;
      report.rejected.push(prepareDeadLetter({ source: unit.source, position: e.position, reason, raw: e.raw }));
    }
  }
}

/** Closes a producer, dropping what it still holds (a close never fails a run). */
function closeQuietly(p: Producer<string, string, string, string>): Promise<void> {
  return new Promise((resolve) => p.close(true, () => resolve()));
}
