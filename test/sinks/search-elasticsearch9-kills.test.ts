/** The search-engine sink against a real Elasticsearch 9.1 node: kill -9 of the collector (the shared suite in search-engine-suite.ts). */
import { describeSearchSink } from './search-engine-suite.js';

describeSearchSink('elasticsearch9', 'kills');
