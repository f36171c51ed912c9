/**
 * The state index: small documents in the search engine that replicas of `mimelog run` share
 * (a lease with its checkpoints per source, a heartbeat per replica). Every change of a document
 * is conditional on the version it was read at (`if_seq_no` + `if_primary_term`), so two
 * replicas that change one document at once cannot both succeed: the engine refuses the second
 * (HTTP 409). New documents are created with `_create` (refused when one exists).
 *
 * Requests go through the search sink's own client (its node rotation and credentials).
 */
import type { SearchClient } from '../sinks/search/client.js';
import { MimelogError } from '../util/errors.js';

/** The version a document was read or written at: what the next conditional write names. */
export interface Version {
  readonly seqNo: number;
  readonly primaryTerm: number;
}

export interface Versioned<T> {
  readonly doc: T;
  readonly version: Version;
}

export const sameVersion = (a: Version, b: Version): boolean => a.seqNo === b.seqNo && a.primaryTerm === b.primaryTerm;

/** Written, or refused because the document changed since it was read (or, for a create, exists). */
export type WriteOutcome = { readonly ok: true; readonly version: Version } | { readonly ok: false };

/** How many documents one listing returns unless told. */
const LIST_SIZE = 1_000;

export interface ListOptions {
  readonly size?: number;
  readonly order?: 'newest' | 'oldest';
  readonly fields?: readonly string[];
}

export interface Listed<T> {
  readonly hits: (Versioned<T> & { readonly id: string })[];
  /** How many documents of the kind there are (more than `hits` when the listing was cut). */
  readonly total: number;
}

/** The index is small and must survive a node: a copy on every other node, up to two. */
const INDEX_SETTINGS = { number_of_shards: 1, auto_expand_replicas: '0-2' };
/** Documents are read by id; only `kind` is searched (the replicas' heartbeats). */
export const INDEX_MAPPINGS = { dynamic: false, properties: { kind: { type: 'keyword' }, replica: { type: 'keyword' }, source: { type: 'keyword' } } } as const;

export class StateIndex {
  constructor(
    private readonly client: SearchClient,
    readonly name: string,
  ) {}

  /** Creates the index unless it exists (several replicas may start at once). */
  async ensure(): Promise<void> {
    const res = await this.client.send('PUT', `/${this.name}`, JSON.stringify({ settings: INDEX_SETTINGS, mappings: INDEX_MAPPINGS }));
    const exists = res.status === 400 && /resource_already_exists/.test(JSON.stringify(res.body));
    if (res.status !== 200 && !exists) throw this.failure('create the state index', res);
    if (exists) await this.checkShards();
    // The index exists; its primary may still be allocating: wait until it can take writes.
    const health = await this.client.send('GET', `/_cluster/health/${this.name}?wait_for_status=yellow&timeout=30s`);
    if (health.status !== 200) throw this.failure('wait for the state index', health);
  }

  /**
   * An index made beforehand (by hand, or by a template when a write created it) may have several
   * shards: each numbers its own writes, so the listings that walk `_seq_no` (heartbeats, replay)
   * would tie and skip documents. Refused, said how to fix it.
   */
  private async checkShards(): Promise<void> {
    const res = await this.client.send('GET', `/${this.name}/_settings/index.number_of_shards`);
    // Not an answer to judge by (a role without view_index_metadata, an engine node going down):
    // never a new reason for a replica not to start; replay's listing still checks `_shards` itself.
    if (res.status !== 200) return;
    // Keyed by the concrete index (the name may be an alias of it).
    for (const [index, v] of Object.entries((res.body ?? {}) as Record<string, { settings?: { index?: { number_of_shards?: unknown } } }>)) {
      const shards = Number(v?.settings?.index?.number_of_shards);
      if (shards === 1) continue;
      throw new MimelogError('search_engine', `state index ${this.name}${index === this.name ? '' : ` (index ${index})`} has ${String(v?.settings?.index?.number_of_shards).slice(0, 20)} shards, not 1: it was made before mimelog made it, and its documents are walked in write order (_seq_no), which only one shard keeps. Fix: stop every replica, copy it into an index of one shard (PUT ${index}-1 {"settings":{"number_of_shards":1}}, POST _reindex from ${index} to ${index}-1), delete ${index} and add the alias ${this.name} to ${index}-1`);
    }
  }

  /** The document and its version; undefined when there is none. Reads are real-time (no refresh needed). */
  async get<T>(id: string): Promise<Versioned<T> | undefined> {
    const res = await this.client.send('GET', `/${this.name}/_doc/${encodeURIComponent(id)}`);
    if (res.status === 404) return undefined;
    const body = res.body as { _source?: T; _seq_no?: number; _primary_term?: number; found?: boolean };
    if (res.status !== 200 || body._source === undefined || body._seq_no === undefined || body._primary_term === undefined) throw this.failure(`read ${id}`, res);
    return { doc: body._source, version: { seqNo: body._seq_no, primaryTerm: body._primary_term } };
  }

  /** Creates the document; refused when one exists already. */
  create(id: string, doc: object, refresh = false): Promise<WriteOutcome> {
    return this.write(`/${this.name}/_create/${encodeURIComponent(id)}${refresh ? '?refresh=true' : ''}`, doc);
  }

  /** Replaces the document if it is still at `version`; refused when anyone changed it since. */
  replace(id: string, doc: object, version: Version, refresh = false): Promise<WriteOutcome> {
    const q = `if_seq_no=${version.seqNo}&if_primary_term=${version.primaryTerm}${refresh ? '&refresh=true' : ''}`;
    return this.write(`/${this.name}/_doc/${encodeURIComponent(id)}?${q}`, doc);
  }

  /** Replaces the document whatever its version (a replica's own heartbeat: nobody else writes it). */
  async put(id: string, doc: object, refresh = false): Promise<Version> {
    const out = await this.write(`/${this.name}/_doc/${encodeURIComponent(id)}${refresh ? '?refresh=true' : ''}`, doc);
    if (!out.ok) throw new MimelogError('search_engine', `state index ${this.name}: writing ${id} was refused`);
    return out.version;
  }

  /**
   * Documents of a kind in the order the engine wrote them (`_seq_no`, the engine's own order: no
   * clock), the most recently written first or the oldest first, at most `size`, with `total`
   * (how many there are). `fields`: only those of each document (a hostile one may be huge).
   * Searched: what was written with `refresh` is seen at once.
   */
  async list<T>(kind: string, o: ListOptions = {}): Promise<Listed<T>> {
    const query = {
      size: o.size ?? LIST_SIZE, seq_no_primary_term: true, track_total_hits: true, query: { term: { kind } },
      sort: [{ _seq_no: o.order === 'oldest' ? 'asc' : 'desc' }], ...(o.fields ? { _source: o.fields } : {}),
    };
    const res = await this.client.send('POST', `/${this.name}/_search`, JSON.stringify(query));
    if (res.status !== 200) throw this.failure(`list ${kind}`, res);
    const found = (res.body as { hits?: { total?: { value?: unknown }; hits?: unknown } } | undefined)?.hits;
    const hits = Array.isArray(found?.hits) ? (found.hits as { _id?: unknown; _source?: T; _seq_no?: unknown; _primary_term?: unknown }[]) : [];
    const total = typeof found?.total?.value === 'number' ? found.total.value : hits.length;
    return {
      total,
      hits: hits.filter((h) => typeof h?._id === 'string' && typeof h._seq_no === 'number' && typeof h._primary_term === 'number' && h._source !== undefined)
        .map((h) => ({ id: h._id as string, doc: h._source as T, version: { seqNo: h._seq_no as number, primaryTerm: h._primary_term as number } })),
    };
  }

  /**
   * Deletes each document if it is still at the version given (one `_bulk`): one written since
   * (a replica that came back) is kept. Returns how many were deleted.
   */
  async removeIf(items: readonly { id: string; version: Version }[]): Promise<number> {
    if (items.length === 0) return 0;
    const body = items.map(({ id, version }) => `${JSON.stringify({ delete: { _index: this.name, _id: id, if_seq_no: version.seqNo, if_primary_term: version.primaryTerm } })}\n`).join('');
    const res = await this.client.send('POST', '/_bulk', body, 'application/x-ndjson');
    const answered = (res.body as { items?: unknown } | undefined)?.items;
    if (res.status !== 200 || !Array.isArray(answered)) throw this.failure(`delete ${items.length} documents`, res);
    return (answered as { delete?: { result?: unknown } }[]).filter((i) => i?.delete?.result === 'deleted').length;
  }

  private async write(path: string, doc: object): Promise<WriteOutcome> {
    const res = await this.client.send('PUT', path, JSON.stringify(doc));
    if (res.status === 409) return { ok: false };
    const body = res.body as { _seq_no?: number; _primary_term?: number };
    if ((res.status !== 200 && res.status !== 201) || body._seq_no === undefined || body._primary_term === undefined) throw this.failure('write', res);
    return { ok: true, version: { seqNo: body._seq_no, primaryTerm: body._primary_term } };
  }

  private failure(what: string, res: { status: number; body: unknown; node: string }): MimelogError {
    const reason = (res.body as { error?: { reason?: unknown } } | undefined)?.error?.reason;
    return new MimelogError('search_engine', `state index ${this.name} on ${res.node}: could not ${what}: HTTP ${res.status}${typeof reason === 'string' ? ` ${reason.slice(0, 200)}` : ''}`);
  }
}
