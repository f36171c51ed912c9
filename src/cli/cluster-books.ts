/** The state index a `cluster:` config names, opened for the store commands and the console (`--config`). */
import { EngineBooks } from '../cluster/books.js';
import { UsageError } from '../util/errors.js';

/**
 * The state index of a run config with `cluster:`, reached as its replicas reach it (the config's
 * search-engine entry, its credentials): for `stats`, `dead-letters`, `replay` and the console.
 */
export async function openClusterBooks(file: string, env: NodeJS.ProcessEnv): Promise<{ books: EngineBooks; config: import('../service/config.js').ServiceConfig; close(): Promise<void> }> {
  const [{ loadConfig }, { stateEngineEntry }, { stateClient }] = await Promise.all([import('../service/config.js'), import('../cluster/engine.js'), import('../cluster/state-client.js')]);
  const config = loadConfig(file, env);
  if (!config.cluster) throw new UsageError(`${file} has no cluster: section: its state is in the store of the run (--db), not in the engine`);
  const client = stateClient(stateEngineEntry(config.sink)!, env, 30_000); // the config check made sure there is one
  return { books: new EngineBooks(client, config.cluster.state_index), config, close: () => client.close() };
}
