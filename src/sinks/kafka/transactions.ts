/**
 * Exactly once for `read_committed` consumers, with a transactional producer: each unit is one
 * Kafka transaction holding its events and a marker (the unit's source, position and event ids)
 * on a state topic. mimelog's checkpoint lives in its local store, committed after Kafka's commit;
 * a crash between the two makes the next run send the unit again. So, before the first unit (and
 * after any failure whose outcome is unknown), the producer is started under the transactional id
 * (which fences an older producer of the same id and finishes its open transaction), and the
 * state topic's tail is read as a `read_committed` consumer would: the event ids of the last
 * committed units of this id. An event already there is reported as a duplicate, not sent again.
 * This is how Kafka Connect's exactly-once source connectors keep their offsets in Kafka.
 */
import { Consumer, type Producer } from '@platformatic/kafka';
import type { Unit } from '../../core/unit.js';
import type { Logger } from '../../log/logger.js';
import { backoffDelay, sleep } from '../../util/backoff.js';
import { MimelogError } from '../../util/errors.js';
import { partitionBounds, readCommitted } from './committed-log.js';
import { Abandoned, classify } from './failure.js';
import type { ClientOptions, Message, Report } from './messages.js';

/** Committed units whose ids are remembered: more than a killed run can have had in flight. */
const REMEMBER_UNITS = 32;
/** Records of the state topic read back at start: room for other ids' markers and the transaction markers between them. */
const TAIL_RECORDS = 2048n;

export interface TransactionSettings {
  readonly id: string;
  readonly stateTopic: string;
}

/** A unit's marker on the state topic (key: the transactional id). */
interface Marker {
  readonly source: string;
  readonly position: number;
  readonly ids: readonly string[];
}

/** What the transactional mode needs of the destination. */
export interface TransactionHost {
  readonly name: string;
  producer(): Producer<string, string, string, string>;
  replaceProducer(reason: string): Promise<void>;
  deliverEvents(unit: Unit, slots: readonly number[], via: { inPlace: false; send(messages: Message[]): Promise<unknown> }): Promise<Report>;
  readonly client: ClientOptions;
  readonly giveUpMs: number;
  readonly retry: { readonly baseMs: number; readonly maxMs: number };
  /** Aborted when the destination closes: a unit waiting to start over gives up. */
  readonly stopping: AbortSignal;
}

export class UnitTransactions {
  /** Event ids of the last committed units, oldest first, and all of them as one set. */
  private readonly units: (readonly string[])[] = [];
  private readonly committed = new Set<string>();

  constructor(
    private readonly host: TransactionHost,
    private readonly settings: TransactionSettings,
    private readonly log: Logger,
  ) {}

  /** Takes the transactional id over and reads what its units committed; throws what went wrong. */
  async start(): Promise<void> {
    const tx = await this.begin();
    await tx.cancel(); // only to take the id over: the first unit begins its own
    await this.readTail();
  }

  /**
   * A new transaction. A producer not yet started under the id asks with no producer id
   * (-1/-1, as Java's does): the client's default (0/0) is fenced by the coordinator when a
   * transaction of the id is open. A failed begin leaves no half-made transaction behind.
   */
  private async begin() {
    const producer = this.host.producer();
    try {
      return await producer.beginTransaction({ producerId: -1n, producerEpoch: -1 });
    } catch (err) {
      await producer.transaction?.cancel().catch(() => undefined);
      throw err;
    }
  }

  async deliver(unit: Unit): Promise<Report> {
    const started = Date.now();
    let resent = 0;
    const already = new Set(unit.events.filter((e) => this.committed.has(e.id)).map((e) => e.id));
    for (let tries = 0; ; tries++) {
      const slots = unit.events.flatMap((e, slot) => (this.committed.has(e.id) ? [] : [slot]));
      // Committed by an earlier try of this run (its commit answer was lost) counts as ours; by an earlier run, as a duplicate.
      const ours = unit.events.filter((e) => this.committed.has(e.id) && !already.has(e.id)).length;
      try {
        const report = slots.length === 0 ? emptyReport() : await this.commitUnit(unit, slots);
        return { ...report, indexed: report.indexed + ours, duplicates: report.duplicates + already.size, resent };
      } catch (err) {
        const failure = err instanceof Abandoned ? err.failure : classify(err);
        if (failure.kind === 'stop') throw new MimelogError('destination', `kafka destination ${this.host.name}: ${failure.reason}; nothing after the last stored unit was checkpointed`);
        if (Date.now() - started > this.host.giveUpMs) {
          throw new MimelogError('destination', `kafka destination ${this.host.name} could not commit a transaction of ${slots.length} events for ${Math.round((Date.now() - started) / 1000)} s (last: ${failure.reason}); nothing after the last stored unit was checkpointed`);
        }
        const delay = backoffDelay(tries, this.host.retry);
        this.log.warn('kafka transaction failed: starting the unit over', { destination: this.host.name, events: slots.length, attempt: tries + 1, delay_ms: delay, reason: failure.reason });
        resent += slots.length;
        if (!(await sleep(delay, this.host.stopping))) throw new MimelogError('destination', `kafka destination ${this.host.name} closed with ${slots.length} events uncommitted; nothing after the last stored unit was checkpointed`);
        await this.recover(failure.reason);
      }
    }
  }

  /** One transaction: the events, then the marker, then the commit. */
  private async commitUnit(unit: Unit, slots: readonly number[]): Promise<Report> {
    const tx = await this.begin();
    const report = await this.host.deliverEvents(unit, slots, { inPlace: false, send: (messages) => tx.send({ messages }) });
    const rejected = new Set(report.rejected.map((d) => d.position));
    const ids = slots.map((s) => unit.events[s]!).filter((e) => !rejected.has(e.position)).map((e) => e.id);
    const marker: Marker = { source: unit.source, position: unit.position, ids };
    await tx.send({ messages: [{ topic: this.settings.stateTopic, partition: 0, key: this.settings.id, value: JSON.stringify(marker) }] });
    await tx.commit();
    this.remember(ids);
    return report;
  }

  /** After a failure whose outcome is unknown: a new producer takes the id over (finishing the open transaction), then the tail again. */
  private async recover(reason: string): Promise<void> {
    try {
      await this.host.replaceProducer(reason);
      await this.start();
    } catch (err) {
      // The next try starts with this producer again; deliver's loop counts the time.
      this.log.warn('kafka transactional producer not ready yet', { destination: this.host.name, reason: classify(err).reason });
    }
  }

  /** The event ids of this transactional id's last committed units, from the state topic's tail. */
  private async readTail(): Promise<void> {
    const { clientId, bootstrapBrokers, tls, sasl, timeout, requestTimeout, connectTimeout, retryDelay } = this.host.client;
    // Reads only (no group joined): the group id is a formality of the client.
    const consumer = new Consumer({ clientId, bootstrapBrokers, tls, sasl, timeout, requestTimeout, connectTimeout, retryDelay, groupId: `${this.settings.id}.state-reader` });
    try {
      await this.host.producer().metadata({ topics: [this.settings.stateTopic], autocreateTopics: true });
      const { start, end } = await partitionBounds(consumer, this.settings.stateTopic, 0);
      const from = end - TAIL_RECORDS > start ? end - TAIL_RECORDS : start;
      const records = await readCommitted(consumer, this.settings.stateTopic, 0, from);
      this.units.length = 0;
      this.committed.clear();
      for (const r of records) if (r.key === this.settings.id) this.remember((JSON.parse(r.value) as Marker).ids);
      this.log.info('kafka transactions: state read', { destination: this.host.name, state_topic: this.settings.stateTopic, units: this.units.length, events: this.committed.size });
    } finally {
      await new Promise<void>((resolve) => consumer.close(true, () => resolve()));
    }
  }

  private remember(ids: readonly string[]): void {
    this.units.push(ids);
    for (const id of ids) this.committed.add(id);
    while (this.units.length > REMEMBER_UNITS) {
      for (const id of this.units.shift()!) this.committed.delete(id);
      // An id the remaining units still hold stays.
      for (const u of this.units) for (const id of u) this.committed.add(id);
    }
  }
}

function emptyReport(): Report {
  return { indexed: 0, duplicates: 0, resent: 0, collisions: [], rejected: [] };
}
