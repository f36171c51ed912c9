/**
 * A source's checkpoints between the engine (the state index, where they are fenced by the
 * lease) and the replica's local store (where the sources read them). The engine's copy is the
 * one that counts: a unit's checkpoint is written there, under the lease, before the local
 * store commits it, and a replica that claims a source first copies the engine's checkpoints
 * into its local store (a replica that ran the source before may hold older ones).
 *
 * Sources whose checkpoint is a cursor (API 1.0, the API 2.0 stream and feeds) keep it there; an
 * API 2.0 batch stream keeps its page token and the files of that page already finished (its
 * work queue: the files still to fetch are listed again from the page token). A spool's files are
 * on one machine's disk and never move.
 */
import { z } from 'zod';
import type { SourceKind, SourceState } from '../core/sink.js';
import type { PreparedUnit } from '../store/prepared.js';
import type { Store } from '../store/store.js';
import { trustedOrUndefined } from '../core/trusted-time.js';
import type { CheckpointSnapshot } from './leases.js';

type CursorState = Extract<SourceState, { kind: 'mimecast-v1' | 'mimecast-v2-stream' | 'mimecast-v2-feed' }>;
type BatchState = Extract<SourceState, { kind: 'mimecast-v2' }>;

/**
 * The most finished files an API 2.0 batch checkpoint keeps (a page lists at most page_size ≤
 * 10,000): beyond, the oldest are dropped, and such a file is fetched again at worst (its events
 * recognised by their ids). The page's files are dropped once its token moves on.
 */
export const MAX_BATCH_ITEMS = 10_000;
type CursorKind = CursorState['kind'];

/** Per kind: the state as a (position, cursor) pair, and back. */
interface CursorCodec<S extends CursorState> {
  toRow(state: S): { position: number; cursor: string | null };
  toState(key: string, position: number, cursor: string | null): S | undefined;
}

const CODECS: { [K in CursorKind]: CursorCodec<Extract<CursorState, { kind: K }>> } = {
  'mimecast-v1': {
    toRow: (s) => ({ position: s.filesDone, cursor: s.token ?? null }),
    toState: (key, position, cursor) => ({ kind: 'mimecast-v1', key, filesDone: position, token: cursor ?? undefined }),
  },
  'mimecast-v2-stream': {
    toRow: (s) => ({ position: 0, cursor: s.token }),
    toState: (key, _position, cursor) => (cursor === null ? undefined : { kind: 'mimecast-v2-stream', key, token: cursor }),
  },
  'mimecast-v2-feed': {
    toRow: (s) => ({ position: 0, cursor: String(s.windowEndMs) }),
    toState: (key, _position, cursor) => (cursor === null || !Number.isFinite(Number(cursor)) ? undefined : { kind: 'mimecast-v2-feed', key, windowEndMs: Number(cursor) }),
  },
};

/** The source kinds (as `SourceState` names them) whose checkpoints the engine can hold. */
export const ENGINE_CHECKPOINT_KINDS = [...Object.keys(CODECS), 'mimecast-v2'] as readonly SourceKind[];

const isCursorState = (s: SourceState): s is CursorState => s.kind in CODECS;

/** Newest-event times merged as the local store merges them: the later of two believable times. */
function later(a: number | null | undefined, b: number | null | undefined, now: number): number | null {
  const times = [a, b].map((t) => trustedOrUndefined(t ?? undefined, now)).filter((t): t is number => t !== undefined);
  return times.length === 0 ? null : Math.max(...times);
}

/**
 * The checkpoint a unit moves to, as the engine keeps it: undefined when the unit moves none.
 * Throws for a kind the engine cannot hold (the config check refuses such sources first).
 */
export function snapshotOf(state: SourceState | undefined, unit: PreparedUnit, before: CheckpointSnapshot | undefined, now = Date.now()): { key: string; snapshot: Omit<CheckpointSnapshot, 'epoch'> } | undefined {
  if (!state) return undefined;
  if (state.kind !== 'mimecast-v2' && !isCursorState(state)) throw new Error(`a ${state.kind} source cannot keep its checkpoints in the engine`);
  const row = state.kind === 'mimecast-v2' ? batchRow(state, unit, before) : (CODECS[state.kind] as CursorCodec<CursorState>).toRow(state);
  const byType = believed(before?.newest_by_type, TYPE_TIMES);
  for (const [type, ms] of unit.newestByType) byType[type] = later(byType[type], ms, now) ?? ms;
  return {
    key: state.key,
    snapshot: { kind: state.kind, ...row, complete: unit.last, newest_event_ms: later(before?.newest_event_ms, unit.newestEventMs, now), newest_by_type: byType },
  };
}

/**
 * The entries of a record read from the engine that its check would pass: the document is anyone's
 * to write, and one bad entry carried into every later checkpoint would have each refused on restore.
 */
function believed<V extends z.ZodType>(record: unknown, schema: z.ZodRecord<z.ZodString, V>): Record<string, z.infer<V>> {
  const out: Record<string, z.infer<V>> = {};
  if (record === null || typeof record !== 'object' || Array.isArray(record)) return out;
  for (const [k, v] of Object.entries(record)) if (schema.keyType.safeParse(k).success && schema.valueType.safeParse(v).success) out[k] = v as z.infer<V>;
  return out;
}

/** An API 2.0 batch unit's checkpoint: its page token (kept when the unit moves none) and the page's finished files. */
function batchRow(state: BatchState, unit: PreparedUnit, before: CheckpointSnapshot | undefined): { position: number; cursor: string | null; items: Record<string, 'done' | 'dead'> } {
  const moved = state.pageToken !== undefined && state.pageToken !== before?.cursor;
  const items = moved ? {} : believed(before?.items, ITEMS);
  if (state.workItem) {
    delete items[state.workItem.key]; // re-added last: the newest stays when the oldest are dropped
    items[state.workItem.key] = state.workItem.state;
  }
  const keys = Object.keys(items);
  for (const k of keys.slice(0, Math.max(0, keys.length - MAX_BATCH_ITEMS))) delete items[k];
  return { position: state.pageToken !== undefined ? unit.position : (before?.position ?? 0), cursor: state.pageToken ?? before?.cursor ?? null, items };
}

/** The engine's batch checkpoint into the local store: the page token, then each finished file (no checkpoint move). */
function restoreBatch(store: Store, key: string, s: CheckpointSnapshot): void {
  const unit = checkpointOnlyUnit(key, s);
  if (s.cursor !== null) store.recordDeliveries(unit, [], { kind: 'mimecast-v2', key, pageToken: s.cursor });
  for (const [file, state] of Object.entries(s.items ?? {})) store.recordDeliveries(unit, [], { kind: 'mimecast-v2', key, workItem: { stream: key, key: file, state } });
}

/** Whether the local store holds exactly this engine checkpoint (its unit committed here). */
function committedHere(store: Store, key: string, s: CheckpointSnapshot): boolean {
  const local = store.registry.checkpoint(key);
  if (s.kind === 'mimecast-v2') {
    return (local?.cursor ?? null) === s.cursor && Object.entries(s.items ?? {}).every(([file, state]) => store.registry.workItemState(key, file) === state);
  }
  return local !== undefined && local.kind === s.kind && local.position === s.position && local.cursor === s.cursor && local.complete === s.complete;
}

/** A unit without events that carries only a checkpoint (and its newest-event times) into the local store. */
function checkpointOnlyUnit(key: string, s: CheckpointSnapshot): PreparedUnit {
  return {
    source: key, position: s.position, last: s.complete, events: [], deadLetters: [], drift: [],
    newestEventMs: s.newest_event_ms ?? undefined, newestByType: Object.entries(s.newest_by_type), untrustedTimes: 0, idSpan: { count: 0, first: null, last: null },
  };
}

/**
 * Writes the engine's checkpoints into the local store, each as its own commit, so the source
 * started next reads them. Gaps are not carried: they were recorded when they were found.
 *
 * The engine's checkpoint moves before the local store commits the unit (its dead letters, its
 * events when `sqlite` is a destination): a store that does not hold that very checkpoint may
 * have lost the unit (a crash between the two, or another replica ran it), so it starts one unit
 * back, from the checkpoint before it; the unit is read and sent again, its events recognised as
 * duplicates by their ids. With none before it, nothing is restored (the source starts where that
 * unit started).
 */
export function restoreCheckpoints(store: Store, checkpoints: unknown, refused: (key: string, reason: string) => void = () => undefined): number {
  let restored = 0;
  const entries = checkpoints !== null && typeof checkpoints === 'object' && !Array.isArray(checkpoints) ? Object.entries(checkpoints) : [];
  if (entries.length === 0 && checkpoints !== undefined && checkpoints !== null && (typeof checkpoints !== 'object' || Array.isArray(checkpoints))) refused('checkpoints', 'not an object of checkpoints');
  for (const [key, value] of entries) {
    // The document is anyone's to write: an entry that is not a checkpoint is reported and left
    // out (the source starts from its local checkpoint, reading again at worst), never thrown on
    // at every start while this replica keeps the lease.
    const parsed = SNAPSHOT.safeParse(value);
    if (!parsed.success) {
      refused(key, parsed.error.issues.map((i) => `${i.path.join('.') || 'entry'}: ${i.message}`).join('; '));
      continue;
    }
    const newest = parsed.data;
    const here = committedHere(store, key, newest);
    if (!here && newest.previous === null) continue;
    const s = here || !newest.previous ? newest : newest.previous;
    if (s.kind === 'mimecast-v2') {
      restoreBatch(store, key, s);
      restored++;
      continue;
    }
    const codec = CODECS[s.kind as CursorKind] as CursorCodec<CursorState> | undefined;
    const state = codec?.toState(key, s.position, s.cursor);
    if (!state) {
      refused(key, `a ${s.kind} checkpoint the engine cannot hold, or one without its cursor`);
      continue;
    }
    store.recordDeliveries(checkpointOnlyUnit(key, s), [], state);
    restored++;
  }
  return restored;
}

const ITEMS = z.record(z.string().max(2_048), z.enum(['done', 'dead']));
const TYPE_TIMES = z.record(z.string().max(200), z.number().finite());

/** A checkpoint entry as this module writes it (snapshotOf), checked on the way back. */
const ONE_SNAPSHOT = z.object({
  kind: z.string(),
  position: z.number().int().min(0).max(Number.MAX_SAFE_INTEGER),
  cursor: z.string().max(65_536).nullable(),
  complete: z.boolean(),
  newest_event_ms: z.number().finite().nullable(),
  newest_by_type: TYPE_TIMES,
  epoch: z.number().int().min(0),
  items: ITEMS.refine((r) => Object.keys(r).length <= MAX_BATCH_ITEMS, `at most ${MAX_BATCH_ITEMS} files`).optional(),
});
const SNAPSHOT = ONE_SNAPSHOT.extend({ previous: ONE_SNAPSHOT.nullable().optional() });
