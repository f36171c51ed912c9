/** The shapes the Kafka destination and its transactions share: client options, a message, a unit's report. */
import type { ProducerOptions } from '@platformatic/kafka';
import type { prepareDeadLetter } from '../../store/prepared.js';

export type ClientOptions = Omit<ProducerOptions<string, string, string, string>, 'idempotent' | 'acks' | 'serializers'>;

export type Report = { indexed: number; duplicates: number; resent: number; collisions: never[]; rejected: ReturnType<typeof prepareDeadLetter>[] };

export type Message = { topic: string; partition: number; key: string; value: string; headers: Readonly<Record<string, string>> };
