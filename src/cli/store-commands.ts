/** `mimelog stats | search | trace | export | replay`: what analysts do with the embedded store. */
import { existsSync } from 'node:fs';
import { type Command, Option } from 'commander';
import { type FilterText, parseFilter } from '../store/filter.js';
import { Logger } from '../log/logger.js';
import { DEFAULT_TABLES } from '../classify/type-tables.js';
import { UNKNOWN_LOG_TYPE } from '../mimecast/log-types.js';
import { intoSink, replayDeadLetters } from '../pipeline/replay.js';
import { type EventRow, type Gap, type SearchFilter, deadLetters, exportDocuments, search, stats } from '../store/queries.js';
import type { ApiStream, DestinationCounts } from '../store/registry.js';
import { MIN_RETAIN_DAYS, bytesInUse, checkRetainDays, retain } from '../store/retention.js';
import { Store } from '../store/store.js';
import { trace } from '../store/trace.js';
import { type Indicator, type WhoResult, parseIndicators, whoElse } from '../store/who.js';
import { UsageError } from '../util/errors.js';
import { numberOption } from './options.js';
import { rangeText, setting } from '../config/settings.js';
import { table } from './table.js';
import { jsonForTerminal, printable, printableLines } from '../util/terminal-text.js';
import { writeOut, writeOutWritten } from './stdout.js';
import { DAMAGE_ADVICE, DamagedBlocks } from '../store/record-blocks.js';
import { type LimitCliOptions, addDbOption, addLimitOptions, addPipelineOptions, buildTransformer, limitsFrom, type PipelineOptions } from './ingest.js';
import { type SinkCliOptions, addSinkOptions, openCliSink, openEntries } from './sink-options.js';
import { blockProblems } from '../store/event-rows.js';

function openStore(path: string, readonly = true): Store {
  if (path.trim() !== '' && !existsSync(path)) throw new UsageError(`no store at ${path} (run mimelog ingest first, or pass --db)`);
  return new Store(path, { readonly });
}

/**
 * Output to a terminal: sender text (subjects, addresses, file names, ids) is shown, never sent
 * (util/terminal-text.ts). `out` writes lines of ours (tables escape their own cells); `say`
 * writes one line that quotes sender text, where even a newline is shown; `outJson` writes JSON,
 * whose value stays exact.
 */
function out(text: string): void {
  const safe = printableLines(text);
  writeOut(safe.endsWith('\n') ? safe : `${safe}\n`);
}

function say(text: string, stream: 'stdout' | 'stderr' = 'stdout'): void {
  const line = `${printable(text)}\n`;
  if (stream === 'stdout') writeOut(line);
  else process.stderr.write(line);
}

function outJson(json: string): void {
  writeOut(`${jsonForTerminal(json)}\n`);
}

/**
 * After a command that skipped events of damaged record blocks: which blocks, what it cost, what
 * to do; exit 1, since the output lacks those events.
 */
function reportDamaged(damaged: DamagedBlocks, command: string, lead = `${command} left out ${damaged.skippedEvents} events whose record blocks are damaged; everything else was written`): void {
  if (damaged.blocks.size === 0) return;
  const blocks = damaged.lines().map((l) => `  ${printable(l)}`).join('\n');
  process.stderr.write(`mimelog: ${lead}:\n${blocks}\n${DAMAGE_ADVICE}\n`);
  process.exitCode = 1;
}

/** trace and who read an event more than once (by aCode, then by message id): they name the blocks, not a count. */
const answerLead = (command: string) => `${command} answered without the events of damaged record blocks (it may be incomplete)`;

/** The search filters as command-line text (times not parsed yet). */
type FilterOptions = FilterText;

function addFilterOptions(cmd: Command): Command {
  return cmd
    .option('--from <time>', 'events at or after this time (ISO 8601)')
    .option('--to <time>', 'events before this time (ISO 8601)')
    .option('--type <log_type>', 'one log type')
    .option('--address <email>', 'sender or recipient')
    .option('--message-id <id>', 'Message-ID, with or without <>')
    .option('--acode <aCode>', 'Mimecast aCode (email.local_id)')
    .option('--action <action>', 'event.action, e.g. Rej, Hld, Acc')
    .option('--text <words>', 'full-text search over subjects');
}

const FLAG_NAMES = { from: '--from', to: '--to', type: '--type', address: '--address', messageId: '--message-id', acode: '--acode', action: '--action', text: '--text' };

function filterFrom(o: FilterOptions): SearchFilter {
  return parseFilter(o, FLAG_NAMES);
}

/** A `--type` that is neither built in nor in the store (a types file may add one) is a typo: say so. */
function checkType(store: Store, type: string | undefined): void {
  if (type === undefined || type === UNKNOWN_LOG_TYPE || DEFAULT_TABLES.isKnownType(type)) return;
  if (store.db.prepare('SELECT 1 FROM event_counts WHERE log_type = ? LIMIT 1').get(type)) return;
  store.close();
  throw new UsageError(`unknown --type "${type}"; known types: ${[...DEFAULT_TABLES.specs.map((t) => t.name), UNKNOWN_LOG_TYPE].join(', ')}`);
}

/** `stats` reads the hourly counts kept beside the events: they must agree with the events themselves. */
function countProblems(store: Store): string[] {
  const counted = store.db.prepare('SELECT log_type, sum(events) AS n FROM event_counts GROUP BY log_type').all() as { log_type: string; n: number }[];
  const actual = store.db.prepare('SELECT n.name AS log_type, count(*) AS n FROM events e JOIN names n ON n.code = e.type GROUP BY e.type').all() as { log_type: string; n: number }[];
  const kept = new Map(counted.map((r) => [r.log_type, r.n]));
  const problems: string[] = [];
  for (const r of actual) if (kept.get(r.log_type) !== r.n) problems.push(`event_counts says ${kept.get(r.log_type) ?? 0} ${r.log_type} events, the store holds ${r.n}`);
  for (const [type, n] of kept) if (!actual.some((r) => r.log_type === type)) problems.push(`event_counts says ${n} ${type} events, the store holds none`);
  return problems;
}

/** Every count in every table in one format (1,234,567). */
const count = (n: number): string => n.toLocaleString('en');

/**
 * `--config run.yaml` with `cluster:`: the state index its replicas share (docs/cluster.md, "State in
 * the engine"), reached as the replicas reach it; `use` runs with it, then the client is closed.
 */
async function withClusterBooks<T>(file: string, use: (books: import('../cluster/books.js').EngineBooks, config: import('../service/config.js').ServiceConfig) => Promise<T>): Promise<T> {
  const { openClusterBooks } = await import('./cluster-books.js');
  const opened = await openClusterBooks(file, process.env);
  try {
    return await use(opened.books, opened.config);
  } finally {
    await opened.close();
  }
}

/** Values in the state index that were not believed: said on stderr, exit 1 (the figures shown leave them out). */
function reportProblems(problems: readonly string[]): void {
  if (problems.length === 0) return;
  process.stderr.write(`mimelog: the state index holds values that were not believed (left out above):\n${problems.slice(0, 50).map((p) => `  ${printable(p)}`).join('\n')}\n`);
  if (problems.length > 50) process.stderr.write(`  … and ${problems.length - 50} more\n`);
  process.exitCode = 1;
}

/** The definitions of "caught up" and "lag" are the README's (under `mimelog stats`); "-": the source cannot say. */
const lagText = (sec: number | null) => (sec === null ? '-' : sec < 120 ? `${sec} s` : sec < 7200 ? `${Math.round(sec / 60)} min` : `${(sec / 3600).toFixed(1)} h`);
const maybe = (n: number | null | undefined): string => (n === null || n === undefined ? '-' : count(n));

function destinationsTable(ds: readonly DestinationCounts[]): string {
  return table(['destination', 'acknowledged', 'already held', 'collisions', 'refused (dead letters)', 'resent', 'last unit'], ds.map((d) => [
    d.destination, count(d.acknowledged), count(d.duplicates), count(d.collisions), count(d.refused), count(d.resent), d.last_unit_at > 0 ? new Date(d.last_unit_at).toISOString() : '-',
  ]));
}

function apiStreamsTable(streams: readonly ApiStream[]): string {
  return table(['API stream', 'caught up', 'lag', 'files pending', 'done', 'dead-lettered'], streams.map((a) => [
    a.stream, a.caught_up ? 'yes' : 'no', lagText(a.lag_seconds), maybe(a.pending), maybe(a.done), maybe(a.dead_lettered),
  ]));
}

function gapsTable(gaps: readonly Gap[]): string {
  return table(['GAP: events lost at Mimecast, from (after)', 'to (before)', 'lost', 'type', 'source', 'recorded'], gaps.map((g) => [g.from, g.to, `${g.lost_seconds} s`, g.log_type ?? 'all', g.source, g.recorded_at]));
}

/** `stats --config`: every source of every replica, from the state index. */
async function clusterStatsCommand(file: string, json: boolean | undefined): Promise<void> {
  const { clusterStats } = await import('../cluster/books-report.js');
  const s = await withClusterBooks(file, (books) => clusterStats(books));
  if (json) outJson(JSON.stringify(s));
  else {
    out(`state index ${s.state_index}: ${s.sources.length} sources`);
    out(table(['source', 'owner', 'epoch', 'units', 'delivered', 'duplicates', 'collisions', 'dead letters', 'gaps', 'counted at'], s.sources.map((r) => [
      r.source, r.owner ?? '(free)', maybe(r.epoch), maybe(r.counts.units), maybe(r.counts.stored), maybe(r.counts.duplicates), maybe(r.counts.collisions),
      maybe(r.counts.dead_letters), maybe(r.counts.gaps), r.updated_at ?? '-',
    ])));
    if (s.destinations.length) out(`\n${destinationsTable(s.destinations)}`);
    out(`\ndelivered ${count(s.indexed)}  duplicates ${count(s.duplicates)}  collisions ${count(s.collisions)}  dead letters ${count(s.dead_letters)}`);
    if (s.api_streams.length) out(`\n${apiStreamsTable(s.api_streams)}`);
    if (s.gaps.length) out(`\n${gapsTable(s.gaps)}`);
    if (s.checkpoints.length) out(`\n${table(['checkpoint', 'position', 'complete', 'renewed'], s.checkpoints.map((c) => [c.source, count(c.position), c.complete ? 'yes' : 'no', c.updated_at || '-']))}`);
  }
  reportProblems(s.problems);
}

/** `dead-letters --config`: the engine's dead letters, every replica's. */
async function clusterDeadLettersCommand(file: string, limit: number, json: boolean | undefined): Promise<void> {
  const { clusterDeadLetterRows } = await import('../cluster/books-report.js');
  const problems: string[] = [];
  let shown = 0;
  // Each row written as its page arrives (with --json, every kept byte: a page at a time in memory, not --limit of them).
  await withClusterBooks(file, async (books) => {
    for await (const d of clusterDeadLetterRows(books, { limit, previewBytes: json ? 4096 : 60, withBytes: json === true }, problems)) {
      shown++;
      if (json) await writeOutWritten(`${jsonForTerminal(JSON.stringify(d))}\n`);
      else {
        const replayed = d.replayed_at ? `  replayed ${d.replayed_at}` : d.replay_attempts ? `  replayed ${d.replay_attempts} times, still failing` : '';
        say(`${d.id}  kept ${d.created_at}  position ${count(d.position)}${d.owner ? `  by ${d.owner}` : ''}${replayed}`);
        say(`  source  ${d.source}${d.feed ? `  (feed ${d.feed})` : ''}${d.destination ? `  (refused by ${d.destination})` : ''}`);
        say(`  reason  ${d.reason}`);
        say(`  bytes   ${count(d.raw_bytes)}: ${d.raw}${d.raw_cut ? '…' : ''}`);
      }
    }
  });
  if (!json) process.stderr.write(`${shown} dead letters in the state index${shown === limit ? ` (the ${limit} written last; --limit shows more)` : ''}\n`);
  reportProblems(problems);
}

/**
 * `replay --config`: the engine's dead letters (every replica's) run again into the config's
 * `sink:` (the bookkeeping of that delivery in the store named by --db); replayed ones are marked
 * in the engine, and those whose kept bytes are not whole are refused, each said on stderr.
 */
async function clusterReplayCommand(file: string, o: PipelineOptions & SinkCliOptions & LimitCliOptions & { json?: boolean }): Promise<void> {
  if (o.sink !== 'sqlite' || o.sinkConfig !== undefined) throw new UsageError("give --config (its sink: is where recovered events go) or --sink/--sink-config, not both");
  const [{ replayEngineDeadLetters }, { replayRoutes, writeAll }] = await Promise.all([import('../cluster/replay.js'), import('./replay-routes.js')]);
  const { transformer } = buildTransformer(o);
  const report = await withClusterBooks(file, async (books, config) => {
    const sink = await openEntries(config.sink, o.db, new Logger(process.stderr, 'info'), process.env);
    try {
      // A dead letter of a source the config names goes its way (its settings, its tenant); the command line's options are for the others.
      return await replayEngineDeadLetters(books, transformer, (units) => writeAll(sink, units), { limits: limitsFrom(o), route: replayRoutes(config, sink) });
    } finally {
      await sink.close();
    }
  });
  for (const r of report.refused.slice(0, 50)) say(`mimelog: dead letter ${r.id}: ${r.reason}`, 'stderr');
  if (report.refused_count > 50) process.stderr.write(`  … and ${report.refused_count - 50} more refused\n`);
  if (report.still_failing > 0) process.exitCode = 2;
  if (o.json) return outJson(JSON.stringify(report));
  out(`listed ${report.listed} dead letters of the state index (all it held when the replay began); replayed ${report.attempted}: ${report.recovered} recovered (${report.events_stored} events stored, ${report.duplicates} duplicates), ${report.still_failing} still failing (${report.refused_count} refused: kept bytes not whole); ${report.already_replayed} replayed before, not sent again; ${report.claimed_elsewhere} claimed by another run, left to it${report.taken_over > 0 ? `; ${report.taken_over} delivered but taken over by another run before marked (it may send them again)` : ''}`);
}

export function registerStoreCommands(program: Command): void {
  addDbOption(program.command('check').description("reads every page of the store and says whether it is damaged (SQLite's quick_check, the hourly counts, every record block); exit 1 when it is"))
    .action((o: { db: string }) => {
      if (o.db.trim() !== '' && !existsSync(o.db)) throw new UsageError(`no store at ${o.db} (run mimelog ingest first, or pass --db)`);
      let problems: string[];
      let store: Store | undefined;
      try {
        // Opening reads the schema (and may upgrade it): damage there is damage too, not a failure of check.
        store = openStore(o.db);
        problems = (store.db.pragma('quick_check(20)') as { quick_check: string }[]).map((r) => r.quick_check).filter((p) => p !== 'ok');
        if (problems.length === 0) problems = [...countProblems(store), ...blockProblems(store.db)];
      } catch (err) {
        if (err instanceof UsageError) throw err;
        problems = [(err as Error).message];
      } finally {
        store?.close();
      }
      if (problems.length === 0) return say(`${o.db}: ok`);
      // Damaged pages: SQLite's recovery copies what it can. Damaged record blocks: the pages are fine, their content is not.
      const advice = problems.some((p) => p.startsWith('record block ')) ? DAMAGE_ADVICE : `Copy what can be read with: sqlite3 ${printable(o.db)} .recover | sqlite3 recovered.db`;
      process.stderr.write(`mimelog: ${printable(o.db)} is damaged:\n${problems.map((p) => `  ${printable(p)}`).join('\n')}\n${advice}\n`);
      process.exitCode = 1;
    });

  addDbOption(program.command('stats').description('counts in the store: events per type and day, duplicates, collisions, dead letters, drift, checkpoints'))
    .option('--json', 'one JSON object')
    .option('--config <file>', "a run config with cluster:: every replica's sources from the state index in the engine, instead of the store")
    .action(async (o: { db: string; json?: boolean; config?: string }) => {
      if (o.config !== undefined) return clusterStatsCommand(o.config, o.json);
      const store = openStore(o.db);
      const s = stats(store);
      store.close();
      if (o.json) return outJson(JSON.stringify(s));
      const kv = (r: Record<string, number>) => Object.entries(r).map(([k, v]) => [k, count(v)]);
      if (s.destinations.length) out(`${destinationsTable(s.destinations)}\n`);
      if (s.indexed > 0) out(`delivered outside the store: ${count(s.indexed)} events (not in "events" below, which counts the store's own; duplicates, collisions and dead letters count both)`);
      out(`events ${count(s.events)}  duplicates ${count(s.duplicates)}  collisions ${count(s.collisions)}  dead letters ${count(s.dead_letters)}  unknown type ${count(s.unknown)}\n`);
      if (s.events > 0 || s.indexed === 0) {
        out(table(['log type', 'events'], kv(s.by_type)));
        out(`\n${table(['type decided by', 'events'], kv(s.by_type_source))}`);
        out(`\n${table(['day (UTC)', 'events'], kv(s.by_day))}`);
      }
      if (Object.keys(s.schema_drift_keys).length) out(`\n${table(['schema drift key', 'seen'], kv(s.schema_drift_keys))}`);
      if (s.api_streams.length) {
        out(`\n${apiStreamsTable(s.api_streams)}`);
        const doubted = s.api_streams.filter((a) => a.untrusted_time_events > 0);
        if (doubted.length) out(`\n${table(['API stream', 'events timed after now + 5 min or before 2000 (stored; no cursor, gap bound or lag)'], doubted.map((a) => [a.stream, count(a.untrusted_time_events)]))}`);
      }
      if (s.gaps.length) out(`\n${gapsTable(s.gaps)}`);
      if (s.handover) {
        out(`\nhand-over API 1.0 → API 2.0 (started ${s.handover.started}): ${s.handover.complete ? 'complete, the API 1.0 source stops' : 'in progress'}`);
        out(table(['type', 'state', 'API 1.0 ends at (hand-over point)', 'API 2.0 from', 'API 2.0 to'], s.handover.types.map((t) => [t.log_type, t.state, t.v1_newest ?? '-', t.v2_oldest ?? '-', t.v2_newest ?? '-'])));
      }
      if (s.checkpoints.length) {
        out(`\n${table(['source', 'position', 'complete', 'updated'], s.checkpoints.map((c) => [c.source, count(c.position), c.complete ? 'yes' : 'no', c.updated_at]))}`);
      }
      const r = s.store;
      const mib = (b: number) => `${(b / 1048576).toFixed(1)} MiB`;
      out(`\nstore ${mib(r.bytes)}, reaches from ${r.oldest_event ?? '-'} to ${r.newest_event ?? '-'}; removed by retention: ${count(r.retention_removed)}${r.last_retention ? ` (last pass ${r.last_retention.ran_at}, cutoff ${r.last_retention.cutoff})` : ''}`);
      if (s.events > 0) {
        out(`\n${table(['day (UTC)', 'on disk (approx.)'], Object.entries(r.approx_bytes_by_day).map(([k, b]) => [k, mib(b)]))}`);
        out(`\n${table(['log type', 'on disk (approx.)'], Object.entries(r.approx_bytes_by_type).map(([k, b]) => [k, mib(b)]))}`);
      }
    });

  addDbOption(program.command('retain').description(`removes events older than N days (by their own time) in small transactions, and gives the space back; dead letters, collisions and gaps are kept (at least ${MIN_RETAIN_DAYS} days)`))
    .addOption(numberOption('days').makeOptionMandatory())
    .option('--compact', 'then rewrite the whole store (VACUUM), so a store made by an older mimelog gives freed space back from now on; needs free disk space of about its size and holds writers meanwhile')
    .option('--json', 'the result as one JSON object')
    .action(async (o: { db: string; days: number; compact?: boolean; json?: boolean }) => {
      const days = o.days;
      checkRetainDays(days);
      const store = openStore(o.db, false);
      try {
        const result = await retain(store.db, days);
        if (o.compact) {
          store.db.pragma('auto_vacuum = INCREMENTAL');
          store.db.exec('VACUUM');
        }
        const after = o.compact ? { ...result, bytesAfter: bytesInUse(store.db) } : result;
        if (o.json) return outJson(JSON.stringify(after));
        say(`removed ${count(after.eventsRemoved)} events older than ${new Date(after.cutoffMs).toISOString()} in ${after.batches} transactions (longest ${after.longestBatchMs} ms); store ${(after.bytesBefore / 1048576).toFixed(1)} → ${(after.bytesAfter / 1048576).toFixed(1)} MiB`);
        if (after.damagedEventsRemoved > 0) say(`mimelog: ${after.damagedEventsRemoved} of them had their records in damaged record blocks (removed by their rows; the blocks went with them)`, 'stderr');
      } finally {
        store.close();
      }
    });

  addFilterOptions(addDbOption(program.command('search').description('find events, newest first')))
    .addOption(numberOption('limit'))
    .option('--json', 'the ECS documents as NDJSON')
    .action((o: FilterOptions & { db: string; limit: number; json?: boolean }) => {
      const filter = filterFrom(o);
      const store = openStore(o.db);
      checkType(store, o.type);
      const damaged = new DamagedBlocks();
      const rows: EventRow[] = search(store.db, { ...filter, limit: o.limit }, damaged);
      store.close();
      reportDamaged(damaged, 'search');
      if (o.json) return rows.length ? outJson(rows.map((r) => r.doc).join('\n')) : undefined;
      out(table(['time (UTC)', 'type', 'action', 'from', 'to', 'subject', 'id'],
        rows.map((r) => [new Date(r.ts).toISOString().replace('.000Z', 'Z'), r.log_type, r.action ?? '', r.sender ?? '', r.recipients ?? '', r.subject ?? '', r.id])));
      process.stderr.write(`${rows.length} events\n`);
    });

  addDbOption(program.command('trace').description('the journey of an email across log types, from a message id, aCode or address'))
    .argument('<message-id|aCode|address>')
    .option('--json', 'one JSON object')
    .action((query: string, o: { db: string; json?: boolean }) => {
      const store = openStore(o.db);
      const damaged = new DamagedBlocks();
      const t = trace(store.db, query, damaged);
      store.close();
      reportDamaged(damaged, 'trace', answerLead('trace'));
      if (t.steps.length === 0) process.exitCode = 1; // nothing found is a failure, with or without --json
      if (o.json) return outJson(JSON.stringify(t));
      if (t.steps.length === 0) {
        say(`mimelog: nothing found for ${query}`, 'stderr');
        process.exitCode = 1;
        return;
      }
      const ids = (m: { acodes: string[]; message_ids: string[] }) => `aCode ${m.acodes.join(', ') || '-'}; message id ${m.message_ids.join(', ') || '-'}`;
      say(`trace ${query} (matched by ${t.matched_by}; ${t.messages.length === 1 ? ids(t) : `${t.messages.length} timelines`})`);
      // One timeline per email, each with its own outcome (an address names many).
      t.messages.forEach((m, i) => {
        if (t.messages.length > 1) {
          say('');
          say(`${i + 1} of ${t.messages.length}: ${m.acodes.length + m.message_ids.length ? ids(m) : 'events that name no aCode or message id'}`);
        }
        out(table(['time (UTC)', 'stage', 'action', 'details'], m.steps.map((s) => [s.time.replace('.000Z', 'Z'), s.log_type, s.action ?? '', s.summary])));
        say(`outcome: ${m.outcome.join('; ') || 'no delivery line yet'}`);
      });
    });

  addDbOption(program.command('who').description('who else received it: every message that shares the sender, subject, URL or attachment of one message, most specific match first, and what became of each recipient'))
    .argument('<message-id|aCode|event-id>')
    .option('--by <indicators>', 'match on these only, comma-separated: sender, subject, url, attachment (default: all, but a subject shared by many messages brings none in alone)')
    .option('--json', 'one JSON object')
    .action((query: string, o: { db: string; by?: string; json?: boolean }) => {
      let by: Indicator[] | undefined;
      try {
        by = o.by === undefined ? undefined : parseIndicators(o.by);
      } catch (err) {
        throw new UsageError(`--by: ${(err as Error).message}`);
      }
      const store = openStore(o.db);
      const damaged = new DamagedBlocks();
      const w = whoElse(store.db, query, damaged, { by });
      store.close();
      reportDamaged(damaged, 'who', answerLead('who'));
      if (w.messages.length === 0) process.exitCode = 1;
      if (o.json) return outJson(JSON.stringify(w));
      if (w.messages.length === 0) return say(`mimelog: nothing found for ${query}`, 'stderr');
      say(`who else received ${query}: matched on ${whoIndicatorsText(w)}`);
      out(table(['recipient', 'messages', 'what happened', 'best match'], w.recipients.map((r) => [r.address, String(r.messages), r.statuses.join(', '), matchText(w, r.address)])));
      out(table(['first seen (UTC)', 'matched by', 'sender', 'subject', 'recipients'], w.messages.map((m) => [m.first_seen.replace('.000Z', 'Z'), m.matched_by.join('+'), m.sender ?? '', m.subject ?? '', m.recipients.map((r) => `${r.address} (${r.statuses.join(', ')})`).join('; ')])));
      out(`${w.messages.length} messages, ${w.recipients.length} recipients${w.truncated ? ' (cut short: too many matches; narrow with --by)' : ''}`);
      for (const l of w.left_out) out(`left out ${l.messages} messages that share only the ${l.indicator} (it matches more than ${l.limit} messages): --by ${l.indicator} shows them`);
    });

  addDbOption(program.command('dead-letters').description('what could not be stored, newest first: where each came from (source and line or record), why, and the start of its bytes; `replay` runs them again'))
    .addOption(Object.assign(numberOption('limit'), { description: `at most this many dead letters (${rangeText(setting('limit'))})` }))
    .option('--json', 'one JSON object a line, with up to 4 KiB of the kept bytes as text (with --config: and every kept byte, base64, as raw_b64)')
    .option('--config <file>', "a run config with cluster:: the dead letters every replica wrote to the state index in the engine, instead of the store's")
    .action(async (o: { db: string; limit: number; json?: boolean; config?: string }) => {
      if (o.config !== undefined) return clusterDeadLettersCommand(o.config, o.limit, o.json);
      const store = openStore(o.db);
      const rows = deadLetters(store.db, { limit: o.limit, previewBytes: o.json ? undefined : 60 });
      store.close();
      if (o.json) return rows.length ? outJson(rows.map((r) => JSON.stringify(r)).join('\n')) : undefined;
      // One block each, not a table: a source (an API 2.0 file's stream and key) and a reason are long, and both must show whole.
      for (const d of rows) {
        say(`#${d.rowid}  kept ${d.created_at.replace(/\.\d{3}Z$/, 'Z')}  position ${count(d.position)}${d.replay_attempts ? `  replayed ${d.replay_attempts} times` : ''}`);
        say(`  source  ${d.source}${d.feed ? `  (feed ${d.feed})` : ''}`);
        say(`  reason  ${d.reason}`);
        say(`  bytes   ${count(d.raw_bytes)}: ${d.raw}${d.raw_cut ? '…' : ''}`);
      }
      process.stderr.write(`${rows.length} dead letters${rows.length === o.limit ? ` (the newest ${o.limit}; --limit shows more)` : ''}\n`);
    });

  addFilterOptions(addDbOption(program.command('export').description('stored ECS documents as NDJSON, in time order')))
    .option('--no-original', 'leave event.original out')
    .action(async (o: FilterOptions & { db: string; original: boolean }) => {
      const filter = filterFrom(o);
      const store = openStore(o.db);
      checkType(store, o.type);
      const damaged = new DamagedBlocks();
      let buf = '';
      for (const line of exportDocuments(store.db, filter, o.original, damaged)) {
        buf += `${jsonForTerminal(line)}\n`;
        if (buf.length > 1 << 20) {
          if (!writeOut(buf)) await new Promise<void>((r) => process.stdout.once('drain', () => r()));
          buf = '';
        }
      }
      writeOut(buf);
      store.close();
      reportDamaged(damaged, 'export');
    });

  const replay = program.command('replay').description('re-run dead letters through the current pipeline; those that now succeed are delivered and removed');
  addLimitOptions(addPipelineOptions(addSinkOptions(addDbOption(replay), 'where recovered events go (for a store that keeps the bookkeeping of other destinations: those)')))
    .option('--json', 'one JSON object')
    .option('--config <file>', "a run config with cluster:: the dead letters every replica wrote to the state index, into the config's sink: (replayed ones are marked there and not sent again)")
    .action(async (o: PipelineOptions & SinkCliOptions & LimitCliOptions & { json?: boolean; config?: string }) => {
      if (o.config !== undefined) return clusterReplayCommand(o.config, o);
      const { transformer } = buildTransformer(o);
      const limits = limitsFrom(o);
      const store = openStore(o.db, false);
      let report;
      if (o.sink === 'sqlite' && o.sinkConfig === undefined) {
        const indexed = store.registry.counter('indexed');
        if (indexed > 0) {
          store.close();
          throw new UsageError(`${o.db} keeps the bookkeeping of destinations outside it (${indexed} events delivered): replay with the same --sink/--sink-config as the run, so that recovered events go to the destinations`);
        }
        report = await replayDeadLetters(store, transformer, undefined, limits);
      } else {
        const sink = await openCliSink(o, new Logger(process.stderr, 'info'));
        try {
          report = await replayDeadLetters(store, transformer, intoSink(store, sink), limits);
        } finally {
          await sink.close();
        }
      }
      store.close();
      if (report.still_failing > 0) process.exitCode = 2;
      if (o.json) return outJson(JSON.stringify(report));
      out(`replayed ${report.attempted} dead letters: ${report.recovered} recovered (${report.events_stored} events stored, ${report.duplicates} duplicates), ${report.still_failing} still failing`);
    });
}

const INDICATOR_VALUES: Readonly<Record<Indicator, (i: WhoResult['indicators']) => string[]>> = {
  sender: (i) => i.senders,
  subject: (i) => i.subjects.map((x) => JSON.stringify(x)),
  url: (i) => i.urls,
  attachment: (i) => i.attachments,
};

/** `sender a@b; subject "x"; url -`: what the reported message carries, for the indicators matched on. */
function whoIndicatorsText(w: WhoResult): string {
  return w.by.map((b) => `${b} ${INDICATOR_VALUES[b](w.indicators).join(', ') || '-'}`).join('; ');
}

/** The indicators of a recipient's most specific message, e.g. `sender+subject+url`. */
function matchText(w: WhoResult, address: string): string {
  return w.messages.find((m) => m.recipients.some((r) => r.address === address))?.matched_by.join('+') ?? '';
}
