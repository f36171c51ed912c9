/**
 * Elasticsearch/OpenSearch as a sink, with the embedded store's guarantee: nothing lost,
 * nothing doubled, collisions caught.
 *
 * Each event is sent with `create` and `_id` = `event.id` into the index of its own day. Per
 * item of each bulk answer: created → acknowledged; 409 → the stored copy's `event.hash` is read
 * back (`_mget`): the same → duplicate, different → collision, recorded with both contents in
 * the local store; 429/5xx/unreachable → sent again with back-off; any other refusal (mapping,
 * validation) → dead letter with the engine's reason. The delivering sink commits a unit's
 * bookkeeping and checkpoint to the local SQLite store once every event has one of those outcomes.
 */
import type { Logger } from '../../log/logger.js';
import { type ProcessedEvent, type Unit, documentJson } from '../../core/unit.js';
import { backoffDelay, sleep } from '../../util/backoff.js';
import { type PreparedDeadLetter, docWithoutOriginal } from '../../store/prepared.js';
import type { CollisionRow } from '../../store/store.js';
import { type Destination, type DestinationReport, refusedEvent } from '../destination.js';
import { BULK_PATH, type BulkDoc, type StoredSource, allCreated, bulkBody, bulkItems, chunk, encodeDocs, itemOutcome, mgetSources } from './bulk.js';
import { type EngineInfo, type SearchClient, jsonOrText } from './client.js';
import { IndexNamer } from './index-name.js';
import { Slots } from '../../util/slots.js';
import { indexTemplate } from './template.js';
import { MimelogError, SearchUnreachableError } from '../../util/errors.js';

export interface SearchSinkOptions {
  /** Index name pattern with {yyyy} {MM} {dd} (UTC, from the event's time). */
  readonly indexPattern: string;
  readonly templateName: string;
  /** Bulk request bounds. */
  readonly maxDocs: number;
  readonly maxBytes: number;
  /** Bulk requests in flight at once. */
  readonly concurrency: number;
  readonly retryBaseMs: number;
  readonly retryMaxMs: number;
  /** How long a document may keep failing with retryable errors before the run stops (checkpoint unmoved). */
  readonly giveUpMs: number;
  readonly shards?: number;
  readonly replicas?: number;
}

/** Outcomes of one unit's events, filled as bulk answers arrive. */
interface Tally {
  indexed: number;
  duplicates: number;
  resent: number;
  readonly collisions: CollisionRow[];
  readonly rejected: PreparedDeadLetter[];
}

export class SearchDestination implements Destination {
  private readonly permits: Slots;

  private constructor(
    readonly name: string,
    private readonly client: SearchClient,
    private readonly options: SearchSinkOptions,
    private readonly log: Logger,
    readonly engine: EngineInfo,
    private readonly namer: IndexNamer,
  ) {
    this.permits = new Slots(Math.max(1, options.concurrency));
  }

  /** Checks the engine and installs (or updates) the index template; then the sink is ready. */
  static async open(client: SearchClient, options: SearchSinkOptions, log: Logger, name = 'search engine'): Promise<SearchDestination> {
    const engine = await client.info();
    const namer = new IndexNamer(options.indexPattern);
    const template = indexTemplate({ distribution: engine.distribution, indexPatterns: [namer.wildcard()], shards: options.shards, replicas: options.replicas });
    const res = await client.send('PUT', `/_index_template/${encodeURIComponent(options.templateName)}`, JSON.stringify(template));
    if (res.status !== 200) throw new MimelogError('search_engine', `search engine ${res.node} refused the index template: HTTP ${res.status} ${brief(res.body)}`);
    log.info('search engine ready', { distribution: engine.distribution, version: engine.version, template: options.templateName, indices: namer.wildcard() });
    return new SearchDestination(name, client, options, log, engine, namer);
  }

  async close(): Promise<void> {
    await this.client.close();
  }

  async deliver(unit: Unit): Promise<DestinationReport> {
    const docs = encodeDocs(unit.events.map((e, slot) => ({ index: this.namer.indexFor(e.timeMs), id: e.id, hash: e.hash, json: documentJson(e), slot })));
    const tally: Tally = { indexed: 0, duplicates: 0, resent: 0, collisions: [], rejected: [] };
    await Promise.all(chunk(docs, this.options.maxDocs, this.options.maxBytes).map((c) => this.deliverChunk(c, unit, tally)));
    return tally;
  }

  /** Sends one bulk request's documents until each has a final outcome. */
  private async deliverChunk(docs: BulkDoc[], unit: Unit, tally: Tally): Promise<void> {
    let pending = docs;
    let attempt = 0;
    const started = Date.now();
    while (pending.length > 0) {
      const { retry, reason } = await this.sendOnce(pending, unit, tally);
      pending = retry;
      if (pending.length === 0) break;
      if (Date.now() - started > this.options.giveUpMs) {
        throw new MimelogError('search_engine', `search engine did not accept ${pending.length} events for ${Math.round((Date.now() - started) / 1000)} s (last: ${reason}); nothing after the last stored unit was checkpointed`);
      }
      tally.resent += pending.length;
      const delay = backoffDelay(attempt++, { baseMs: this.options.retryBaseMs, maxMs: this.options.retryMaxMs });
      this.log.warn('search engine busy or unreachable: retrying', { events: pending.length, attempt, delay_ms: delay, reason });
      await sleep(delay);
    }
  }

  /** One `_bulk` call; returns the documents to send again. */
  private async sendOnce(docs: BulkDoc[], unit: Unit, tally: Tally): Promise<{ retry: BulkDoc[]; reason: string }> {
    // The body is ready before a request slot is free: it goes out the moment one is.
    const body = bulkBody(docs);
    let res;
    try {
      res = await this.permits.run(() => this.client.sendForText('POST', BULK_PATH, body, 'application/x-ndjson'));
    } catch (err) {
      if (err instanceof SearchUnreachableError) return { retry: docs, reason: err.message };
      throw err;
    }
    if (res.status === 429 || res.status >= 500) return { retry: docs, reason: `HTTP ${res.status} from ${res.node}` };
    if (res.status === 200 && allCreated(res.text, docs.length)) {
      tally.indexed += docs.length;
      return { retry: [], reason: '' };
    }
    const answer = jsonOrText(res.text);
    const items = res.status === 200 ? bulkItems(answer, docs.length) : undefined;
    if (!items) {
      // The whole request refused (credentials, permissions, a proxy): a person must look.
      throw new MimelogError('search_engine', `search engine ${res.node} refused a bulk request: HTTP ${res.status} ${brief(answer)}`);
    }
    const retry: BulkDoc[] = [];
    const conflicts: BulkDoc[] = [];
    let reason = '';
    docs.forEach((doc, i) => {
      const outcome = itemOutcome(items[i]);
      switch (outcome.kind) {
        case 'created':
          tally.indexed++;
          break;
        case 'conflict':
          conflicts.push(doc);
          break;
        case 'retry':
          retry.push(doc);
          reason = outcome.reason;
          break;
        case 'rejected': {
          const e = unit.events[doc.slot]!;
          tally.rejected.push(refusedEvent(unit, e, `${doc.index} refused event ${doc.id}: ${outcome.reason}`));
          break;
        }
      }
    });
    if (conflicts.length > 0) retry.push(...(await this.resolveConflicts(conflicts, unit, tally)));
    return { retry, reason: reason || 'conflicting copies could not be read back' };
  }

  /**
   * A 409 means a document with this id exists. Reads back its `event.hash`: the same content
   * is a duplicate; different content is a collision, recorded with both documents. Documents
   * that cannot be read back now are returned to be sent again.
   */
  private async resolveConflicts(docs: BulkDoc[], unit: Unit, tally: Tally): Promise<BulkDoc[]> {
    const stored = await this.fetch(docs, ['event.hash']);
    if (!stored) return docs;
    const retry: BulkDoc[] = [];
    const collided: BulkDoc[] = [];
    docs.forEach((doc, i) => {
      const found = stored[i];
      const hash = found?.event?.hash;
      if (typeof hash !== 'string') retry.push(doc); // gone or unreadable: create it again
      else if (hash === doc.hash) tally.duplicates++;
      else collided.push(doc);
    });
    if (collided.length === 0) return retry;
    const full = await this.fetch(collided, true);
    if (!full) return [...retry, ...collided];
    collided.forEach((doc, i) => {
      const e: ProcessedEvent = unit.events[doc.slot]!;
      const storedDoc = full[i];
      if (!storedDoc) return void retry.push(doc);
      tally.collisions.push({
        id: doc.id, storedHash: String(storedDoc.event?.hash), newHash: doc.hash, storedDoc: JSON.stringify(storedDoc),
        newDoc: JSON.stringify(docWithoutOriginal(e.doc)), newOriginal: e.raw, position: e.position,
      });
      this.log.warn('fingerprint collision: both copies kept', { id: doc.id, index: doc.index });
    });
    return retry;
  }

  /** `_mget` of the stored copies (sources or some fields); undefined when the engine cannot answer now. */
  private async fetch(docs: BulkDoc[], source: true | string[]): Promise<(StoredSource | undefined)[] | undefined> {
    const body = JSON.stringify({ docs: docs.map((d) => ({ _index: d.index, _id: d.id, _source: source })) });
    let res;
    try {
      res = await this.permits.run(() => this.client.send('POST', '/_mget', body));
    } catch (err) {
      if (err instanceof SearchUnreachableError) return undefined;
      throw err;
    }
    return res.status === 200 ? mgetSources(res.body, docs.length) : undefined;
  }
}

function brief(body: unknown): string {
  return (typeof body === 'string' ? body : JSON.stringify(body ?? '')).slice(0, 500);
}
