/** A client for the state index, from the `sink:` entry (loaded only by a replica: its HTTP client is heavy to load). */
import { ENV } from '../config/env.js';
import type { SearchConfig } from '../sinks/search/kind.js';
import { SearchClient, type SearchAuth } from '../sinks/search/client.js';
import { UsageError } from '../util/errors.js';

/** The entry's credential, each kind looked up in the entry first, then in the environment. */
function credential(c: SearchConfig, env: NodeJS.ProcessEnv): SearchAuth {
  const password = c.password ?? env[ENV.search.password];
  const candidates: (SearchAuth | undefined)[] = [
    c.user !== undefined && password !== undefined ? { kind: 'basic', username: c.user, password } : undefined,
    (c.api_key ?? env[ENV.search.apiKey]) ? { kind: 'api-key', apiKey: (c.api_key ?? env[ENV.search.apiKey])! } : undefined,
    (c.bearer_token ?? env[ENV.search.bearer]) ? { kind: 'bearer', token: (c.bearer_token ?? env[ENV.search.bearer])! } : undefined,
  ];
  // The sink itself refuses two credentials or a user without a password when it opens, first.
  if (c.user !== undefined && password === undefined) throw new UsageError(`a search-engine user needs its password (password, password_file or ${ENV.search.password})`);
  return candidates.find((a) => a !== undefined) ?? { kind: 'none' };
}

/**
 * `timeoutMs`: a state request must end well within the lease time (a renewal that hangs loses the
 * lease). The client tries the nodes in turn, each for its own timeout: each gets its share to
 * connect (TLS handshake included: a node whose connect hangs, a black-holed address, is left for
 * the next at the end of its share; the request's deadline does not cut a connect short) and its
 * share to answer, and the request as a whole ends at `timeoutMs` (the client's own timers are
 * only about 1 s fine).
 */
export function stateClient(c: SearchConfig, env: NodeJS.ProcessEnv, timeoutMs: number): SearchClient {
  const perNode = Math.max(1, Math.floor(timeoutMs / c.urls.length));
  return new SearchClient({ urls: c.urls, auth: credential(c, env), caFile: c.ca_file, insecure: c.insecure, timeoutMs: Math.min(c.timeout_s * 1000, perNode), connectTimeoutMs: perNode, deadlineMs: timeoutMs });
}
