/**
 * Every environment variable mimelog reads, in one place. Secrets come only from here (or a
 * private config file), never from the command line, where `ps` shows them.
 */
export const ENV = {
  /** The embedded store's path (`--db`). */
  db: 'MIMELOG_DB',
  /** Mimecast API 1.0 keys. */
  v1: { appId: 'MIMECAST_APP_ID', appKey: 'MIMECAST_APP_KEY', accessKey: 'MIMECAST_ACCESS_KEY', secretKey: 'MIMECAST_SECRET_KEY' },
  /** Mimecast API 2.0 OAuth2 client. */
  v2: { clientId: 'MIMECAST_CLIENT_ID', clientSecret: 'MIMECAST_CLIENT_SECRET' },
  /** Search-engine sinks. */
  search: { url: 'MIMELOG_SEARCH_URL', password: 'MIMELOG_SEARCH_PASSWORD', apiKey: 'MIMELOG_SEARCH_API_KEY', bearer: 'MIMELOG_SEARCH_BEARER_TOKEN' },
  /** The web console's access token (`--token-file` is the other way). */
  consoleToken: 'MIMELOG_CONSOLE_TOKEN',
  /** The Sentinel destination's Entra ID application (src/sinks/sentinel). */
  sentinel: { clientSecret: 'MIMELOG_SENTINEL_CLIENT_SECRET' },
  /** The Kafka destination's SASL password (src/sinks/kafka). */
  kafka: { password: 'MIMELOG_KAFKA_PASSWORD' },
  /** The Splunk HEC destination's token (src/sinks/splunk-hec). */
  hec: { token: 'MIMELOG_HEC_TOKEN' },
} as const;

/** The names of the environment variables that hold a secret. */
export const SECRET_ENV = [
  ENV.v1.appKey, ENV.v1.accessKey, ENV.v1.secretKey, ENV.v2.clientSecret,
  ENV.search.password, ENV.search.apiKey, ENV.search.bearer, ENV.consoleToken,
  ENV.sentinel.clientSecret, // the Sentinel destination
  ENV.kafka.password, // the Kafka destination
  ENV.hec.token, // the Splunk HEC destination
] as const;

/** The secrets this environment holds, to register for masking (util/secrets.ts). */
export function secretsIn(env: NodeJS.ProcessEnv): string[] {
  return SECRET_ENV.map((name) => env[name]).filter((v): v is string => v !== undefined && v !== '');
}
