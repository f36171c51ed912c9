/**
 * Opens what `sink:` lists. The store alone: the fast path (commits on a worker thread). Anything
 * else: each destination opened and checked before the first event is read, behind one
 * delivering sink whose bookkeeping lives in the store.
 */
import type { Sink } from '../core/sink.js';
import type { Logger } from '../log/logger.js';
import { Store } from '../store/store.js';
import { MimelogError } from '../util/errors.js';
import { type CommitFence, DeliveringSink } from './delivering-sink.js';
import type { Destination } from './destination.js';
import { type SinkEntry, destinationKind, entryName } from './registry.js';
import { SqliteWorkerSink } from './sqlite.js';

export interface OpenedSink extends Sink {
  /** The destinations' names, the store's included when it keeps the events. */
  readonly names: readonly string[];
  /** A sink one source writes to: its next run commits although the last one failed (DeliveringSink.restart). */
  restart?(): void;
}

export async function openSink(entries: readonly SinkEntry[], db: string, log: Logger, env: NodeJS.ProcessEnv, beforeCommit?: CommitFence): Promise<OpenedSink> {
  const names = entries.map(entryName);
  if (entries.length === 1 && entries[0]!.kind === 'sqlite' && !beforeCommit) return Object.assign(new SqliteWorkerSink(db), { names });
  const store = new Store(db); // the local state: checkpoints, collisions, dead letters, counts
  const opened: Destination[] = [];
  try {
    for (const e of entries) {
      if (e.kind === 'sqlite') continue;
      const kind = destinationKind(e.kind);
      if (!kind) throw new MimelogError('config', `unknown sink kind ${JSON.stringify(e.kind)}`);
      opened.push(await kind.open(e as never, entryName(e), { log, env }));
    }
  } catch (err) {
    await Promise.allSettled(opened.map((d) => d.close()));
    store.close();
    throw err;
  }
  const delivering = new DeliveringSink(store, opened, { keepEvents: entries.some((e) => e.kind === 'sqlite'), beforeCommit }, log);
  const unwatch = abandonOnSignal(delivering, log);
  return {
    names,
    write: (unit, state) => delivering.write(unit, state),
    restart: () => delivering.restart(),
    async close() {
      try {
        await delivering.close();
      } finally {
        unwatch();
        store.close();
      }
    },
  };
}

/** How long a stopping run lets deliveries in flight finish before it gives them up. */
export const STOP_GRACE_MS = 3000;
const STOP_SIGNALS = ['SIGINT', 'SIGTERM'] as const;

/**
 * A destination may wait minutes for an acknowledgement (an HEC ack, a Retry-After, a silent
 * relay), and the command's own stop waits for the units in flight: on SIGINT/SIGTERM the
 * deliveries get STOP_GRACE_MS, then the destinations are closed, so what they still wait for is
 * given up (not committed: sent again after a restart) and the command ends. When nothing else
 * listens for the signal, it is raised again at once: the process ends as it would have.
 */
function abandonOnSignal(delivering: DeliveringSink, log: Logger): () => void {
  const onSignal = (signal: NodeJS.Signals) => {
    // Called first (prepended), so the command's own listeners, `once` ones too, are still counted.
    const alone = process.listenerCount(signal) === 1;
    unwatch();
    if (alone) return void process.kill(process.pid, signal);
    setTimeout(() => {
      log.warn(`${signal}: giving up deliveries still waiting after ${STOP_GRACE_MS / 1000} s; their units are not checkpointed`);
      void delivering.closeDestinations().catch(() => undefined);
    }, STOP_GRACE_MS).unref();
  };
  const unwatch = () => {
    for (const s of STOP_SIGNALS) process.off(s, onSignal);
  };
  for (const s of STOP_SIGNALS) process.prependListener(s, onSignal);
  return unwatch;
}
