/** The search-engine sink against a real Elasticsearch 8.15 node (the shared suite in search-engine-suite.ts): the documents it holds. */
import { describeSearchSink } from './search-engine-suite.js';

describeSearchSink('elasticsearch8', 'documents');
