/** Mimecast API hosts and paths (docs/mimecast.md §4–5). */
export const SIEM_PATH_V1 = '/api/audit/get-siem-logs';

/** API 1.0 regional hosts. */
export const V1_REGIONS: Readonly<Record<string, string>> = {
  eu: 'https://eu-api.mimecast.com',
  de: 'https://de-api.mimecast.com',
  us: 'https://us-api.mimecast.com',
  usb: 'https://usb-api.mimecast.com',
  ca: 'https://ca-api.mimecast.com',
  za: 'https://za-api.mimecast.com',
  au: 'https://au-api.mimecast.com',
  jer: 'https://jer-api.mimecast.com',
};

/** API 2.0 paths (the batch listings, one per product, are in products.ts). */
export const OAUTH_PATH_V2 = '/oauth/token';
export const STREAM_PATH_V2 = '/siem/v1/events/cg';

/** API 2.0 hosts. */
export const V2_REGIONS: Readonly<Record<string, string>> = {
  global: 'https://api.services.mimecast.com',
  uk: 'https://uk-api.services.mimecast.com',
  us: 'https://us-api.services.mimecast.com',
};
