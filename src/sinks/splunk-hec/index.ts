/**
 * `kind: splunk-hec`: Splunk's HTTP Event Collector, with indexer acknowledgement by default.
 * Keys, what an acknowledgement means, and the limits: README.md in this folder.
 */
import type { DestinationKind } from '../destination.js';
import { ACKNOWLEDGEMENT } from './protocol.js';
import { type HecConfig, keys } from './keys.js';

export { DEFAULT_INDEX, DEFAULT_SOURCETYPE, type HecConfig } from './keys.js';



export const splunkHecKind: DestinationKind<typeof keys> = {
  kind: 'splunk-hec',
  summary: "Splunk HTTP Event Collector (/services/collector/event, gzip), with indexer acknowledgement unless ack: false",
  acknowledgement: `${ACKNOWLEDGEMENT.on}; with ack: false, ${ACKNOWLEDGEMENT.off}`,
  keys,
  example: { url: 'https://splunk.example.com:8088' },
  check(c) {
    if (c.insecure && c.ca_file !== undefined) return 'ca_file and insecure: true together: choose one';
    return undefined;
  },
  async open(c, name, ctx) {
    // Loaded only for this destination: its HTTP client is heavy to load.
    const { openHec } = await import('./connect.js');
    return openHec(c, name, ctx);
  },
};
