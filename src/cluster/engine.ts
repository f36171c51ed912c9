/**
 * The engine a cluster keeps its state in: the first OpenSearch/Elasticsearch entry of `sink:`,
 * reached with that entry's nodes, CA and credential (or the MIMELOG_SEARCH_* environment), so
 * replicas need nothing else to share their state.
 */
import type { SinkEntry } from '../sinks/registry.js';
import type { SearchConfig } from '../sinks/search/kind.js';

export const STATE_ENGINE_KINDS: readonly string[] = ['opensearch', 'elasticsearch'];

/** The sink entry whose engine holds the state, or undefined when `sink:` lists none. */
export function stateEngineEntry(entries: readonly SinkEntry[]): SearchConfig | undefined {
  return entries.find((e) => STATE_ENGINE_KINDS.includes(e.kind)) as SearchConfig | undefined;
}
