/**
 * Elasticsearch and OpenSearch as destinations (`kind: opensearch` / `kind: elasticsearch`): one
 * code path serves both. Credentials: `user` + `password`, `api_key` or `bearer_token` (each
 * may be `<key>_file`), else the MIMELOG_SEARCH_* environment variables.
 */
import { z } from 'zod';
import { ENV } from '../../config/env.js';
import { caFile, numberKeys, url } from '../../config/zod-keys.js';
import { MimelogError, UsageError } from '../../util/errors.js';
import type { Destination, DestinationContext, DestinationKind } from '../destination.js';
import type { SearchAuth } from './client.js';
import { DEFAULT_INDEX_PATTERN } from './index-name.js';

const keys = {
  urls: z.array(url).min(1, 'at least one node URL'),
  user: z.string().optional(),
  password: z.string().optional(),
  api_key: z.string().optional(),
  bearer_token: z.string().optional(),
  ca_file: caFile.optional(),
  insecure: z.boolean().default(false),
  index: z.string().default(DEFAULT_INDEX_PATTERN),
  template: z.string().default('mimelog-siem'),
  ...numberKeys(['bulkDocs', 'bulkBytes', 'bulkConcurrency', 'replicas', 'shards', 'searchTimeout', 'searchGiveUp']),
};
export type SearchConfig = z.infer<z.ZodObject<typeof keys>>;

/** The one credential given, from the config's keys, else the environment. */
function searchAuth(c: SearchConfig, env: NodeJS.ProcessEnv): SearchAuth {
  const apiKey = c.api_key ?? env[ENV.search.apiKey];
  const bearer = c.bearer_token ?? env[ENV.search.bearer];
  const given = [c.user && 'basic', apiKey && 'api key', bearer && 'bearer token'].filter(Boolean);
  if (given.length > 1) throw new UsageError(`choose one search-engine credential, not ${given.join(' and ')}`);
  if (c.user) {
    const password = c.password ?? env[ENV.search.password];
    if (!password) throw new UsageError(`a search-engine user needs its password (password, password_file or ${ENV.search.password})`);
    return { kind: 'basic', username: c.user, password };
  }
  if (apiKey) return { kind: 'api-key', apiKey };
  if (bearer) return { kind: 'bearer', token: bearer };
  return { kind: 'none' };
}

function searchKind(kind: 'opensearch' | 'elasticsearch'): DestinationKind<typeof keys> {
  return {
    kind,
    summary: `${kind === 'opensearch' ? 'OpenSearch' : 'Elasticsearch'}: bulk create, _id = event.id, one index per event day`,
    acknowledgement: 'the bulk answer says the document was created (or a copy with the same event.hash exists); written to the primary and its in-sync replicas',
    keys,
    example: { urls: ['https://127.0.0.1:9200'] },
    async open(c: SearchConfig, name: string, ctx: DestinationContext): Promise<Destination> {
      const auth = searchAuth(c, ctx.env);
      if (auth.kind === 'basic') ctx.log.addSecrets(auth.password);
      if (auth.kind === 'api-key') ctx.log.addSecrets(auth.apiKey);
      if (auth.kind === 'bearer') ctx.log.addSecrets(auth.token);
      // Loaded only for a search destination: its HTTP client is heavy to load (see cli/main.ts).
      const [{ SearchClient }, { SearchDestination }] = await Promise.all([import('./client.js'), import('./search-destination.js')]);
      const client = new SearchClient({ urls: c.urls, auth, caFile: c.ca_file, insecure: c.insecure, timeoutMs: c.timeout_s * 1000 });
      try {
        const destination = await SearchDestination.open(client, {
          indexPattern: c.index, templateName: c.template, maxDocs: c.bulk_docs, maxBytes: c.bulk_bytes, concurrency: c.bulk_concurrency,
          retryBaseMs: 250, retryMaxMs: 30_000, giveUpMs: c.give_up_s * 1000, replicas: c.replicas, shards: c.shards,
        }, ctx.log, name);
        if (destination.engine.distribution !== kind) ctx.log.warn(`sink kind ${kind} but the engine reports ${destination.engine.distribution}; continuing (one code path serves both)`);
        return destination;
      } catch (err) {
        await client.close();
        throw err instanceof MimelogError ? err : new MimelogError('search_engine', (err as Error).message, { cause: err });
      }
    },
  };
}

export const opensearchKind = searchKind('opensearch');
export const elasticsearchKind = searchKind('elasticsearch');
