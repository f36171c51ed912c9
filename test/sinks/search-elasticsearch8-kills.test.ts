/** The search-engine sink against a real Elasticsearch 8.15 node: kill -9 of the collector (the shared suite in search-engine-suite.ts). */
import { describeSearchSink } from './search-engine-suite.js';

describeSearchSink('elasticsearch8', 'kills');
