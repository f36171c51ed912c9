/** The search-engine sink against a real Elasticsearch 9.1 node (the shared suite in search-engine-suite.ts): the documents it holds. */
import { describeSearchSink } from './search-engine-suite.js';

describeSearchSink('elasticsearch9', 'documents');
