/**
 * `mimelog doctor --config` of a config with `cluster:`: the state index its replicas share
 * (docs/cluster.md): reachable with the config's engine entry and credentials, its mapping the one
 * the replicas search by, and its deployment marker the one this replica's store joined
 * (`<store>.cluster.json`): a replica started on a marker that is missing or another is refused.
 * Every value read is the engine's to hold: shown cut short, never trusted as a kind it is not.
 */
import type { ServiceConfig } from '../service/config.js';

type Status = 'ok' | 'warn' | 'FAIL';
export interface ClusterCheck {
  readonly status: Status;
  readonly check: string;
  readonly seen: string;
  readonly todo?: string;
}

const shown = (v: unknown): string => (JSON.stringify(v) ?? String(v)).slice(0, 80);
const START_OVER = 'restore the index from a snapshot; or, to start the cluster\'s state over knowingly, stop every replica and remove each one\'s `<store>.cluster.json`';

/** The mapping's fields the replicas search by, each as the state index declares it. */
function mappingCheck(check: string, mapping: unknown, wanted: Readonly<Record<string, { readonly type: string }>>): ClusterCheck {
  const properties = Object.values((mapping ?? {}) as Record<string, { mappings?: { properties?: Record<string, { type?: unknown }> } }>)[0]?.mappings?.properties ?? {};
  const wrong = Object.entries(wanted).filter(([field, { type }]) => properties[field]?.type !== type).map(([field, { type }]) => `${field} is ${shown(properties[field]?.type ?? 'missing')}, not ${type}`);
  if (wrong.length === 0) return { status: 'ok', check, seen: `${Object.keys(wanted).join(', ')} mapped as the replicas search them` };
  return { status: 'FAIL', check, seen: wrong.join('; '), todo: 'the index was not made by mimelog (or was changed): give this deployment its own cluster.state_index, or re-create it (stop every replica first)' };
}

/** What the marker says against what this replica's store joined. */
function deploymentCheck(check: string, marker: unknown, remembered: unknown, memoryFile: string): ClusterCheck {
  const id = (marker as { id?: unknown } | undefined)?.id;
  if (marker !== undefined && (typeof id !== 'string' || id.length === 0 || id.length > 200)) {
    return { status: 'FAIL', check, seen: `the deployment marker's id is ${shown(id)}, not one`, todo: START_OVER };
  }
  if (remembered === undefined) {
    return { status: 'ok', check, seen: id === undefined ? `no deployment marker yet, none remembered in ${memoryFile}: the first replica makes it` : `deployment ${id}; this store joined none yet (${memoryFile}): it joins this one on its first run` };
  }
  if (id === remembered) return { status: 'ok', check, seen: `deployment ${id}, the one this store joined (${memoryFile})` };
  return {
    status: 'FAIL', check, seen: `this store joined deployment ${shown(remembered)} (${memoryFile}); the index holds ${id === undefined ? 'no deployment marker' : `deployment ${id}`}: it was deleted or re-created, and the replica would refuse to run`,
    todo: START_OVER,
  };
}

/** The state index's checks; `timeoutMs`: per request, over every node. */
export async function clusterChecks(config: ServiceConfig, timeoutMs: number, env: NodeJS.ProcessEnv): Promise<ClusterCheck[]> {
  const cluster = config.cluster;
  if (!cluster) return [];
  const [{ stateEngineEntry }, { stateClient }, { INDEX_MAPPINGS, StateIndex }, { DEPLOYMENT_DOC_ID }, { readMemory }] = await Promise.all([
    import('../cluster/engine.js'), import('../cluster/state-client.js'), import('../cluster/state-index.js'), import('../cluster/leases.js'), import('../service/replica.js'),
  ]);
  const name = cluster.state_index;
  const check = (what: string) => `state index ${name}: ${what}`;
  const memoryFile = `${config.store}.cluster.json`;
  const remembered: unknown = readMemory(memoryFile)[name];
  const client = stateClient(stateEngineEntry(config.sink)!, env, timeoutMs); // the config check made sure there is one
  try {
    let exists;
    try {
      exists = await client.send('GET', `/${encodeURIComponent(name)}/_mapping`);
    } catch (err) {
      return [{ status: 'FAIL', check: check('reachable'), seen: (err as Error).message.slice(0, 500), todo: 'check the sink\'s urls, the network and the engine (replicas share their leases through it)' }];
    }
    if (exists.status === 401 || exists.status === 403) return [{ status: 'FAIL', check: check('reachable'), seen: `HTTP ${exists.status} on ${exists.node}: the credential may not read it`, todo: 'give the sink\'s credential read and write rights on the state index' }];
    if (exists.status === 404) {
      const reachable: ClusterCheck = { status: 'ok', check: check('reachable'), seen: `${exists.node} answers; the index does not exist yet` };
      if (remembered === undefined) return [reachable, { status: 'ok', check: check('deployment'), seen: 'the first replica creates the index and its deployment marker' }];
      return [reachable, deploymentCheck(check('deployment'), undefined, remembered, memoryFile)];
    }
    if (exists.status !== 200) return [{ status: 'FAIL', check: check('reachable'), seen: `HTTP ${exists.status} on ${exists.node}`, todo: 'see the engine\'s health; run again later' }];
    const results: ClusterCheck[] = [{ status: 'ok', check: check('reachable'), seen: `on ${exists.node}` }, mappingCheck(check('mapping'), exists.body, INDEX_MAPPINGS.properties)];
    try {
      const marker = await new StateIndex(client, name).get(DEPLOYMENT_DOC_ID);
      results.push(deploymentCheck(check('deployment'), marker?.doc, remembered, memoryFile));
    } catch (err) {
      results.push({ status: 'FAIL', check: check('deployment'), seen: (err as Error).message.slice(0, 500), todo: 'see the engine\'s health; run again later' });
    }
    return results;
  } finally {
    await client.close();
  }
}
