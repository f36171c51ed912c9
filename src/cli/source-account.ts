/**
 * Which checkpoints a `collect` run continues. Checkpoint names say where the source is (the URL's
 * origin, e.g. `mimecast-v2 https://api.services.mimecast.com receipt`), and the store marks each
 * API checkpoint with the account it belongs to (`checkpoints.identity`: a digest of the client id
 * or access key, never a secret itself). So:
 * - a URL spelled differently that names the same account's source elsewhere in the store follows
 *   it, with a warning, instead of silently reading everything again (or nothing);
 * - another account at a URL whose checkpoints belong to someone else gets checkpoints of its own;
 * - `--source-name NAME` names the source outright: its checkpoints stay whatever the URL.
 */
import { createHash } from 'node:crypto';
import type Database from 'better-sqlite3';
import { UsageError } from '../util/errors.js';

export type ApiCheckpointKind = 'mimecast-v1' | 'mimecast-v2' | 'mimecast-v2-stream' | 'mimecast-v2-feed';

/**
 * The account a source reads, without its secret: a digest of the client id (API 2.0) or access
 * key (API 1.0). The URL is left out: two spellings of one region's URL are still one account.
 */
export function accountDigest(api: 'v1' | 'v2', id: string): string {
  return createHash('sha256').update(`mimelog account\0${api}\0${id}`).digest('hex').slice(0, 16);
}

/** The account a run reads, as the store records it (`checkpoints.identity`). */
export function accountIdentity(api: 'v1' | 'v2', id: string): string {
  return `account ${accountDigest(api, id)}`;
}

/** `--source-name`: one word of printable characters, since checkpoint names are words apart. */
export function checkSourceName(name: string): string {
  if (!/^[^\s\p{Cc}]{1,200}$/u.test(name)) throw new UsageError('--source-name: one word (no spaces or control characters), at most 200 characters');
  return name;
}

/** Where a source is, in its checkpoint names: the `place` in `<kind> <place>[ <type or feed>]`. */
export interface SourcePlace {
  readonly place: string;
  /** What the run says about the choice (logged as a warning), if anything. */
  readonly warning?: string;
}

/** The checkpoints of one source: `<kind> <place>` itself and `<kind> <place> <type>`. */
const OF_PLACE = "kind = @kind AND (source = @base OR substr(source, 1, length(@base) + 1) = @base || ' ')";

function identitiesAt(db: Database.Database, kind: ApiCheckpointKind, place: string): string[] {
  return (db.prepare(`SELECT DISTINCT coalesce(identity, '') AS identity FROM checkpoints WHERE ${OF_PLACE}`).all({ kind, base: `${kind} ${place}` }) as { identity: string }[])
    .map((r) => r.identity);
}

/** The places (second word of the name) where the store holds checkpoints of this kind for the account. */
function placesOfAccount(db: Database.Database, kind: ApiCheckpointKind, account: string): string[] {
  const names = db.prepare('SELECT source FROM checkpoints WHERE kind = ? AND identity = ?').pluck().all(kind, account) as string[];
  return [...new Set(names.map((n) => n.split(' ')[1] ?? ''))].sort();
}

/** Another account at the same origin gets a place of its own: the origin with the account's digest. */
function placeApart(origin: string, account: string): string {
  return `${origin}#${account.slice('account '.length, 'account '.length + 8)}`;
}

const belongsTo = (ids: readonly string[], account: string) => ids.every((i) => i === '' || i === account);

/**
 * The place this run's checkpoints are named by. `named`: `--source-name`; `origin`: the URL's.
 * Throws a UsageError when the choice needs a person (a name that holds another account's
 * checkpoints, or this account's checkpoints under more than one place).
 */
export function choosePlace(db: Database.Database, kind: ApiCheckpointKind, account: string, origin: string, named: string | undefined): SourcePlace {
  if (named !== undefined) {
    if (!belongsTo(identitiesAt(db, kind, named), account)) throw new UsageError(`--source-name ${named}: the store holds another account's ${kind} checkpoints under that name; pick another name`);
    return { place: named };
  }
  const here = identitiesAt(db, kind, origin);
  if (here.length > 0 && belongsTo(here, account)) return { place: origin };
  const elsewhere = placesOfAccount(db, kind, account).filter((p) => p !== origin);
  const apart = placeApart(origin, account);
  if (here.length > 0 && (elsewhere.length === 0 || elsewhere.includes(apart))) {
    return { place: apart, warning: `the store holds another account's ${kind} checkpoints at ${origin}: this account's are kept apart, as "${kind} ${apart}" (--source-name NAME names them yourself)` };
  }
  if (elsewhere.length === 1) {
    const [place] = elsewhere as [string];
    return { place, warning: `the store holds this account's ${kind} checkpoints as "${kind} ${place}", not at ${origin}: continuing them (the same account under another URL spelling or host). To start a separate source instead, pass --source-name NAME` };
  }
  if (elsewhere.length > 1) {
    throw new UsageError(`the store holds this account's ${kind} checkpoints under ${elsewhere.map((p) => `"${kind} ${p}"`).join(', ')}: say which to continue with --source-name (one of ${elsewhere.join(', ')}), or a new name to start another`);
  }
  return { place: origin };
}

/**
 * Marks the checkpoints of the place as the account's: those written before the store knew
 * accounts and those this run created. Run before and after a collection (a run killed before its
 * end is marked by the next one at the same place).
 */
export function claimPlace(db: Database.Database, kind: ApiCheckpointKind, place: string, account: string): void {
  db.prepare(`UPDATE checkpoints SET identity = @account WHERE identity IS NULL AND ${OF_PLACE}`).run({ kind, base: `${kind} ${place}`, account });
}

