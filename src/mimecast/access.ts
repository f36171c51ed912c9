/**
 * What a Mimecast API application needs to read each thing mimelog reads, as data: `mimelog doctor`
 * names it when an endpoint refuses (401/403, or a `fail[]` code of FEED_NOT_AVAILABLE_CODES).
 * Facts from docs/mimecast.md §5–6: API 2.0 applications are made in the Integrations Hub with a
 * set of products chosen at creation, which cannot be changed afterwards; `uk`/`us` gateways are
 * pinned for data residency (no failover), `global` fails over. The products' exact labels in the
 * Integrations Hub are not in our sources: the advice names them by what they serve.
 */
import { FEEDS } from './feeds.js';

export interface AccessNeed {
  /** What is read, for a person. */
  readonly what: string;
  /** What the Mimecast administrator enables so that the application may read it. */
  readonly enable: string;
}

const NEW_APP = 'the products of an API 2.0 application cannot be changed after saving: create a new application in the Integrations Hub with it, and use its client id and secret';

/** Feeds grouped by the Mimecast product that serves them. */
const FEED_PRODUCT: Readonly<Record<string, string>> = {
  audit: 'Audit Events (account administration logs)',
  'ttp-url': 'Targeted Threat Protection: URL Protect logs',
  'ttp-attachment': 'Targeted Threat Protection: Attachment Protect logs',
  'ttp-impersonation': 'Targeted Threat Protection: Impersonation Protect logs',
  dlp: 'Data Leak Prevention logs',
  'held-release': 'Gateway held-message release logs',
  rejections: 'Gateway rejection logs',
  'archive-search': 'Archive search logs',
  'archive-view': 'Archive view logs',
};

/** Keyed by what a source reads: `cg` and `ci` batch listings, `stream`, and each feed's name. */
export const ACCESS_NEEDS: ReadonlyMap<string, AccessNeed> = new Map<string, AccessNeed>([
  ['cg', { what: 'Cloud Gateway SIEM batch files', enable: `the Cloud Gateway SIEM logs product on the application (${NEW_APP})` }],
  ['stream', { what: 'Cloud Gateway SIEM event stream', enable: `the Cloud Gateway SIEM logs product on the application (${NEW_APP})` }],
  ['ci', { what: 'Cloud Integrated SIEM batch files', enable: `the Cloud Integrated SIEM product on the application, and a Cloud Integrated licence on the account (${NEW_APP})` }],
  ...FEEDS.map((f): [string, AccessNeed] => [f.name, {
    what: `${f.name} feed (${f.path})`,
    enable: `the licence for ${FEED_PRODUCT[f.name] ?? f.name} on the account, and that product on the application, with a role that may read these logs (${NEW_APP})`,
  }]),
]);

/** What to check when an address does not answer or refuses the credentials, per region kind. */
export const REGION_ADVICE = {
  v1: 'API 1.0 keys work only at the region of the account (eu, de, us, usb, ca, za, au, jer): use --region of the account, or the baseUrl Mimecast gave',
  v2: 'API 2.0: global (api.services.mimecast.com) fails over between regions; uk and us are pinned for data residency and have no failover: use the gateway the application was created for',
} as const;

/** API 1.0 `fail[]` codes a person must act on, with what to do. */
export const V1_ACCOUNT_CODES: ReadonlyMap<string, string> = new Map([
  ['err_xdk_binding_expired', 'the API 1.0 keys have expired: create new access and secret keys for the application (Mimecast no longer creates API 1.0 applications: move to API 2.0, `collect --api v2 --hand-over`)'],
  ['err_developer_key', 'the application id or key is not known to this region: check MIMECAST_APP_ID / MIMECAST_APP_KEY and --region'],
  ['err_audit_log_incorrect_region', 'the account lives in another region: use --region of the account'],
  ['err_xdk_request_date_invalid', "the request's time is too far from Mimecast's: set this machine's clock right (NTP)"],
  ['err_xdk_invalid_access_key', 'the access key is not valid: check MIMECAST_ACCESS_KEY, or create new keys'],
  ['err_xdk_signature_mismatch', 'the signature does not match: check MIMECAST_SECRET_KEY and MIMECAST_APP_KEY'],
]);
