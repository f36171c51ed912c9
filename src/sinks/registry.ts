/**
 * Every kind of sink, and `sink:` as a config takes it: one mapping or a list. `sqlite` is the
 * embedded store (the default); every other kind is a destination outside it, declared by its own
 * folder (sinks/<kind>/). The store always keeps the bookkeeping (checkpoints, counts, dead letters,
 * collisions); listing `sqlite` with other kinds keeps the events there too.
 */
import { z } from 'zod';
import { listed } from '../config/zod-keys.js';
import type { DestinationKind } from './destination.js';
import { elasticsearchKind, opensearchKind } from './search/kind.js';
import { sentinelKind } from './sentinel/index.js';
import { syslogKind } from './syslog/index.js';
import { kafkaKind } from './kafka/index.js';
import { splunkHecKind } from './splunk-hec/index.js';

/** The destinations outside the store, one entry per folder. */
export const DESTINATION_KINDS = [opensearchKind, elasticsearchKind, syslogKind, sentinelKind, kafkaKind, splunkHecKind] as const;

export const SINK_KINDS: readonly [string, ...string[]] = ['sqlite', ...DESTINATION_KINDS.map((k) => k.kind)];

export function destinationKind(kind: string): DestinationKind | undefined {
  return (DESTINATION_KINDS as readonly { kind: string }[]).find((k) => k.kind === kind) as unknown as DestinationKind | undefined;
}

/** A destination's name in stats and metrics: letters, digits, ".", "_", "-". */
const destinationName = z.string().regex(/^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/, 'a name of letters, digits, ".", "_" or "-" (at most 64)');

const sqliteEntry = z.strictObject({ kind: z.literal('sqlite'), name: destinationName.optional() });

function entryOf<S extends z.ZodRawShape>(k: DestinationKind<S>) {
  return z.strictObject({ kind: z.literal(k.kind), name: destinationName.optional(), ...k.keys }).superRefine((c, ctx) => {
    const problem = k.check?.(c as z.infer<z.ZodObject<S>>);
    if (problem !== undefined) ctx.addIssue({ code: 'custom', message: problem });
  });
}

/**
 * A destination's entry as one type: its kind, its name and keys of its own. Each kind's keys
 * differ, so the kinds' list is too wide a union for TypeScript to map entryOf over precisely.
 */
type EntrySchema = z.ZodObject<{ kind: z.ZodLiteral<string>; name: z.ZodOptional<z.ZodString> }, z.core.$loose>;

const entry = z.preprocess(
  // A mapping without `kind` is the embedded store, as before destinations had kinds.
  (v) => (v !== null && typeof v === 'object' && !Array.isArray(v) && !('kind' in v) ? { ...v, kind: 'sqlite' } : v),
  z.discriminatedUnion('kind', [sqliteEntry, ...DESTINATION_KINDS.map((k) => entryOf(k as unknown as DestinationKind) as unknown as EntrySchema)], {
    error: (iss) => (iss.code === 'invalid_union' ? `unknown sink kind ${JSON.stringify((iss.input as { kind?: unknown } | undefined)?.kind)}, expected one of ${listed(SINK_KINDS)}` : undefined),
  }),
);

export type SinkEntry = z.infer<typeof entry>;

/** The name a destination is shown by. */
export const entryName = (e: SinkEntry): string => e.name ?? e.kind;

/** More destinations than anyone runs: a list longer than this is a mistake (a generated file), not a plan; each opens connections. */
export const MAX_SINKS = 16;

/** `sink:`: one entry or a list of them, as a list; each name once, the store at most once. */
export const SINK_SCHEMA = z
  .preprocess((v) => (v === undefined ? [{}] : Array.isArray(v) ? v : [v]), z.array(entry).min(1, 'at least one sink').max(MAX_SINKS, `at most ${MAX_SINKS} sinks`))
  .superRefine((list, ctx) => {
    const seen = new Set<string>();
    list.forEach((e, i) => {
      const name = entryName(e);
      if (seen.has(name)) ctx.addIssue({ code: 'custom', path: [i, 'name'], message: `two sinks are named "${name}": give each its own name:` });
      seen.add(name);
    });
  });
