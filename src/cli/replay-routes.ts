/**
 * `replay --config`: each dead letter of the state index goes the way its source's events went on
 * the replica: that source's pipeline settings and input bounds (its type, types file, unknown-type
 * policy, event.original), and its tenant stamped on every event (`organization.name`), so a
 * recovered event is the document the replica would have sent.
 */
import type { Sink } from '../core/sink.js';
import type { Unit } from '../core/unit.js';
import { addCounts, noCounts, type SinkCounts } from '../core/counts.js';
import type { ReplayRoute } from '../cluster/replay.js';
import type { ServiceConfig, SourceConfig } from '../service/config.js';
import { tenantSink } from '../service/tenant.js';
import { buildTransformer, limitsFrom } from './ingest.js';
import { pipelineOptions } from './run.js';

/** The units written one after the other, their counts added. */
export async function writeAll(sink: Sink, units: readonly Unit[]): Promise<SinkCounts> {
  const total = noCounts();
  for (const unit of units) addCounts(total, await sink.write(unit));
  return total;
}

/** The way of each of the config's sources (made when first asked); undefined for a source the config has not (renamed, removed). */
export function replayRoutes(config: Pick<ServiceConfig, 'sources'>, sink: Sink): (source: string) => ReplayRoute | undefined {
  const made = new Map<string, ReplayRoute>();
  const route = (s: SourceConfig): ReplayRoute => {
    const options = pipelineOptions(s);
    const into = 'tenant' in s && s.tenant !== undefined ? tenantSink(sink, s.tenant) : sink;
    return { transformer: buildTransformer(options).transformer, limits: limitsFrom(options), into: (units) => writeAll(into, units) };
  };
  return (source) => {
    const s = config.sources.find((c) => c.name === source);
    if (s === undefined) return undefined;
    if (!made.has(source)) made.set(source, route(s));
    return made.get(source);
  };
}
