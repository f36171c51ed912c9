/**
 * The index template: explicit ECS mappings for every field mimelog writes, derived from the
 * same tables the normalizer uses (`mimecast/ecs-fields.ts`), so a new mapping row cannot be
 * forgotten here. Valid on Elasticsearch 8/9 and OpenSearch 2/3; the only difference is the
 * type for free-form objects (`flattened` vs `flat_object`).
 */
import { BOOLEAN_FIELDS, type Conversion, ECS_MAPPINGS, NUMBER_FIELDS } from '../../mimecast/ecs-fields.js';
import type { Distribution } from './client.js';

type Mapping = { [key: string]: unknown };

const KEYWORD: Mapping = { type: 'keyword', ignore_above: 8191 };

/** Field type by the conversion that produced it. */
const BY_CONVERSION: Record<Conversion, Mapping> = {
  text: KEYWORD,
  acode: KEYWORD,
  lowercase: KEYWORD,
  address: KEYWORD,
  addresses: KEYWORD,
  ip: { type: 'ip' },
  number: { type: 'long' },
  boolean: { type: 'boolean' },
  outcome: KEYWORD,
  tls_version: KEYWORD,
  file_names: KEYWORD,
  time_in_text: { type: 'date' },
};

/** Where a mapping target lands in the document when it is not its literal path. */
const TARGET_PATHS: Record<string, readonly string[]> = {
  tls: ['tls.version', 'tls.version_protocol'],
  attachments: ['email.attachments.file.name'],
};

/** Fields searched as words as well as exact values (ECS puts `.text` multi-fields on these). */
const WITH_TEXT: readonly string[] = ['email.subject', 'error.message', 'event.reason', 'url.full', 'message'];

/** Fields the normalizer writes itself, not through the tables. */
const FIXED_FIELDS: Record<string, Mapping> = {
  '@timestamp': { type: 'date' },
  'event.id': KEYWORD,
  'event.hash': KEYWORD,
  'event.dataset': KEYWORD,
  'event.module': KEYWORD,
  'event.category': KEYWORD,
  'event.kind': KEYWORD,
  // Kept for forensics and replay, not searched: no index, no doc values.
  'event.original': { type: 'keyword', index: false, doc_values: false },
  'related.user': KEYWORD,
  'related.hosts': KEYWORD,
  'related.ip': { type: 'ip' },
  'related.hash': KEYWORD,
  'mimecast.log_type': KEYWORD,
  'mimecast.log_type_source': KEYWORD,
  'mimecast.log_type_candidates': KEYWORD,
};

/** Objects that hold a list of sub-documents queried together (one attachment's name and hash). */
const NESTED_OBJECTS: readonly string[] = ['email.attachments'];

export function flatObjectType(distribution: Distribution): string {
  return distribution === 'opensearch' ? 'flat_object' : 'flattened';
}

/** Every leaf field mimelog writes outside `mimecast.*`, with its mapping. */
export function ecsLeafMappings(): Map<string, Mapping> {
  const leaves = new Map<string, Mapping>(Object.entries(FIXED_FIELDS));
  for (const m of ECS_MAPPINGS) {
    const paths = TARGET_PATHS[m.to] ?? [m.to.startsWith('attachment.') ? `email.attachments.file.${m.to.slice('attachment.'.length)}` : m.to];
    for (const path of paths) leaves.set(path, BY_CONVERSION[m.as]);
  }
  for (const path of WITH_TEXT) leaves.set(path, { ...KEYWORD, fields: { text: { type: 'text' } } });
  return leaves;
}

/** Turns dotted leaf paths into nested `properties`, marking nested objects. */
function properties(leaves: Map<string, Mapping>): Mapping {
  const root: Mapping = {};
  for (const [path, mapping] of [...leaves].sort(([a], [b]) => a.localeCompare(b))) {
    const parts = path.split('.');
    let node = root;
    for (let i = 0; i < parts.length - 1; i++) {
      const objectPath = parts.slice(0, i + 1).join('.');
      const object = (node[parts[i]!] ??= NESTED_OBJECTS.includes(objectPath) ? { type: 'nested', properties: {} } : { properties: {} }) as Mapping;
      node = object.properties as Mapping;
    }
    node[parts[parts.length - 1]!] = mapping;
  }
  return root;
}

export interface TemplateOptions {
  readonly distribution: Distribution;
  readonly indexPatterns: readonly string[];
  readonly shards?: number;
  readonly replicas?: number;
}

/** The composable index template (`PUT _index_template/<name>`). */
export function indexTemplate(o: TemplateOptions): Mapping {
  const flat = flatObjectType(o.distribution);
  const leaves = ecsLeafMappings();
  for (const f of NUMBER_FIELDS) leaves.set(`mimecast.${f}`, { type: 'double' });
  for (const f of BOOLEAN_FIELDS) leaves.set(`mimecast.${f}`, { type: 'boolean' });
  // Values that did not convert, kept as text under their source names: one free-form object.
  leaves.set('mimecast.unparsed', { type: flat });
  const settings: Mapping = { 'index.mapping.total_fields.limit': 2000 };
  if (o.shards !== undefined) settings['index.number_of_shards'] = o.shards;
  if (o.replicas !== undefined) settings['index.number_of_replicas'] = o.replicas;
  return {
    index_patterns: o.indexPatterns,
    priority: 200,
    _meta: { managed_by: 'mimelog', template_version: TEMPLATE_VERSION },
    template: {
      settings,
      mappings: {
        dynamic: true,
        // Other Mimecast fields (each log type has its own): JSON objects from API 2.0 are one
        // free-form field each, every other value an exact keyword (keywords accept numbers and
        // booleans too), so no later event can meet a conflicting dynamic type.
        dynamic_templates: [
          { mimecast_objects: { path_match: 'mimecast.*', match_mapping_type: 'object', mapping: { type: flat } } },
          { mimecast_values: { path_match: 'mimecast.*', match_mapping_type: '*', mapping: KEYWORD } },
        ],
        properties: properties(leaves),
      },
    },
  };
}

/** Bumped when the template changes; kept in its `_meta`, so an operator can tell which mimelog wrote it. (The template is put on every start anyway.) */
export const TEMPLATE_VERSION = 1;
