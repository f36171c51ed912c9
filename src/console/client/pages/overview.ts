/** Overview: the numbers that prove nothing was lost, and events per hour. Equal to `stats --json` (checkpoints summarised). */
import type { Overview } from '../../../store/overview.js';
import type { OverviewWithCluster } from '../../cluster-overview.js';
import { get } from '../api.js';
import { barChart } from '../charts.js';
import { type Child, duration, h, hourText, link, localText, num, route, table, time, utcTitle, zoneName } from '../dom.js';

/** The two definitions, as the README gives them under `mimelog stats`. */
const CAUGHT_UP_AND_LAG = 'Caught up: its last call said there is nothing more (API 1.0: no more files; an API 2.0 type or the stream: isCaughtUp; a feed: its run read up to now). Lag: now minus the newest event time stored from it.';

/** Below this share of its horizon a source is degraded (the service's default warning). */
const WARN_SHARE = 0.25;

function card(label: string, value: number, stat: string, bad = false): HTMLElement {
  return h('div', { class: `card${bad && value > 0 ? ' bad' : ''}` }, h('div', { class: 'label' }, label), h('div', { class: 'value', 'data-stat': stat }, num(value)));
}

function hourlyChart(series: Overview['last_24h'], title: string): HTMLElement {
  const types = Object.keys(series.by_type).sort();
  const total = types.reduce((n, t) => n + series.by_type[t]!.reduce((a, b) => a + b, 0), 0);
  const hours = Array.from({ length: series.hours }, (_, i) => series.start + i * 3_600_000);
  const zones = [...new Set(hours.map(zoneName))]; // two across a change to or from summer time
  const x = { title: `hour (${zones.join('/')})`, tooltips: hours.map((ms) => `${localText(ms)} · ${utcTitle(ms)}`) };
  return h('section', {}, h('h2', {}, `${title} (${num(total)} events)`),
    barChart(hours.map((ms) => hourText(ms, series.hours > 24)), types.map((t) => ({ label: t, values: series.by_type[t]! })), `${title}, stacked by log type`, x));
}

/** What each destination outside the store acknowledged: a unit's checkpoint moved only when all of them had. */
function destinations(list: Overview['stats']['destinations']): Child[] {
  if (list.length === 0) return [];
  return [h('h2', {}, 'Destinations'),
    h('p', { class: 'muted' }, "A unit's checkpoint moved only once every destination acknowledged each of its events."),
    table(['destination', ['acknowledged', 'num'], ['already held', 'num'], ['collisions', 'num'], ['refused (dead letters)', 'num'], ['resent', 'num'], 'last unit'], list.map((d) => [
      h('td', {}, d.destination), h('td', { class: 'num', 'data-destination': d.destination }, num(d.acknowledged)), h('td', { class: 'num' }, num(d.duplicates)),
      h('td', { class: 'num' }, num(d.collisions)), h('td', { class: `num${d.refused > 0 ? ' bad' : ''}` }, num(d.refused)), h('td', { class: 'num' }, num(d.resent)),
      h('td', {}, time(new Date(d.last_unit_at).toISOString())),
    ]), { 'aria-label': 'destinations' })];
}

/** With several replicas: every source of every replica, as the state index holds it (console/cluster-overview.ts). */
function clusterSources(c: OverviewWithCluster['cluster']): Child[] {
  if (!c) return [];
  const n = (v: number | null | undefined) => (v === null || v === undefined ? '-' : num(v));
  return [h('h2', {}, `Sources of every replica (state index ${c.state_index})`),
    h('p', { class: 'muted' }, 'Counts, checkpoints, gaps and dead-letter counts on this page are the engine\'s, every replica\'s; events per hour and type, search and trace are this store\'s.'),
    table(['source', 'owner', ['epoch', 'num'], ['units', 'num'], ['delivered', 'num'], ['duplicates', 'num'], ['collisions', 'num'], ['dead letters', 'num'], ['gaps', 'num']], c.sources.map((r) => [
      h('td', {}, r.source), h('td', { 'data-owner': r.source }, r.owner ?? '(free)'), h('td', { class: 'num' }, n(r.epoch)), h('td', { class: 'num' }, n(r.counts.units)),
      h('td', { class: 'num' }, n(r.counts.stored)), h('td', { class: 'num' }, n(r.counts.duplicates)), h('td', { class: 'num' }, n(r.counts.collisions)),
      h('td', { class: 'num' }, n(r.counts.dead_letters)), h('td', { class: 'num' }, n(r.counts.gaps)),
    ]), { 'aria-label': 'sources of every replica' }),
    ...(c.problems.length ? [h('p', { class: 'bad' }, `Values in the state index that were not believed (left out): ${c.problems.slice(0, 10).join('; ')}`)] : [])];
}

export async function overviewPage(): Promise<Child[]> {
  const o = await get<OverviewWithCluster>('overview');
  const s = o.stats;
  const out: Child[] = [
    h('h1', {}, 'Overview'),
    h('p', { class: 'muted' }, 'As of ', time(o.generated_at), '. Every number here is what ', h('code', {}, 'mimelog stats --json'), ' reports.'),
    h('div', { class: 'cards' },
      card('events stored', s.events, 'events'),
      s.indexed > 0 ? card('delivered outside the store', s.indexed, 'indexed') : null,
      card('duplicates dropped', s.duplicates, 'duplicates'),
      card('collisions', s.collisions, 'collisions', true),
      card('dead letters', s.dead_letters, 'dead_letters', true),
      card('unknown log type', s.unknown, 'unknown', true)),
    ...clusterSources(o.cluster),
    ...destinations(s.destinations),
    h('div', { class: 'grid2' }, hourlyChart(o.last_24h, 'Events per hour, last 24 hours'), hourlyChart(o.last_7d, 'Events per hour, last 7 days')),
    h('h2', {}, 'Events by log type'),
    table(['log type', ['events', 'num']], Object.entries(s.by_type).map(([t, n]) => [
      h('td', {}, link(route('search', { type: t }), t)), h('td', { class: 'num', 'data-type': t }, num(n)),
    ]), { 'aria-label': 'events by log type' }),
    h('h2', {}, 'How each type was decided'),
    table(['decided by', ['events', 'num']], Object.entries(s.by_type_source).map(([k, n]) => [h('td', {}, k), h('td', { class: 'num', 'data-type-source': k }, num(n))])),
  ];
  out.push(h('h2', {}, 'Horizon headroom'));
  if (o.headroom.length === 0) out.push(h('p', { class: 'muted' }, 'No Mimecast API source in this store: local files never age out.'));
  else {
    if (o.headroom_total > o.headroom.length) out.push(h('p', { class: 'muted' }, `The ${num(o.headroom.length)} of ${num(o.headroom_total)} API checkpoints with the least headroom.`));
    out.push(table(['source', 'feed', 'horizon', 'checkpoint age', 'headroom', 'state'], o.headroom.map((r) => {
      const state = r.headroom_seconds <= 0 ? 'failing' : r.headroom_seconds < r.horizon_hours * 3600 * WARN_SHARE ? 'degraded' : 'ok';
      return [h('td', {}, r.source), h('td', {}, r.feed), h('td', {}, `${r.horizon_hours} h`), h('td', {}, duration(r.checkpoint_age_seconds)),
        h('td', { 'data-headroom': r.source }, duration(r.headroom_seconds)), h('td', {}, h('span', { class: `badge ${state}` }, state))];
    })));
  }
  out.push(h('h2', {}, 'Gaps'));
  if (s.gaps.length === 0) out.push(h('p', { 'data-gaps': '0' }, 'No gap recorded: nothing aged out at Mimecast before it was collected.'));
  else {
    out.push(h('p', { class: 'error' }, `${s.gaps.length} interval(s) whose events aged out at Mimecast before they were collected. Those events are gone at the source.`),
      table(['source', 'log type', 'after (newest stored)', 'before (oldest held)', 'lost', 'recorded'], s.gaps.map((g) => [
        h('td', {}, g.source), h('td', {}, g.log_type ?? 'all'), h('td', { 'data-gap-from': g.from }, time(g.from)), h('td', {}, time(g.to)), h('td', {}, duration(g.lost_seconds)), h('td', {}, time(g.recorded_at)),
      ]), { 'aria-label': 'gaps' }));
  }
  if (s.api_streams.length) {
    out.push(h('h2', {}, `API streams (${num(o.api_streams_total)})`));
    if (o.api_streams_total > s.api_streams.length) {
      out.push(h('p', { class: 'muted' }, `The ${num(s.api_streams.length)} of ${num(o.api_streams_total)} needing a look first: not caught up, dead-lettered or pending work, the longest lag. `, h('code', {}, 'mimelog stats --json'), ' lists them all.'));
    }
    // "-": the source cannot say (no event time stored; the stream and the feeds read no files).
    const files = (n: number | null) => h('td', { class: 'num' }, n === null ? '-' : num(n));
    out.push(h('p', { class: 'muted' }, CAUGHT_UP_AND_LAG));
    out.push(table(['stream', 'caught up', 'lag', ['files pending', 'num'], ['done', 'num'], ['dead-lettered', 'num']], s.api_streams.map((a) => [
      h('td', {}, a.stream), h('td', { 'data-caught-up': a.stream }, a.caught_up ? 'yes' : 'no'), h('td', { 'data-lag': a.stream }, a.lag_seconds === null ? '-' : duration(a.lag_seconds)),
      files(a.pending), files(a.done), files(a.dead_lettered),
    ]), { 'aria-label': 'API streams' }));
  }
  out.push(h('h2', {}, 'Events by day (UTC)'), table(['day', ['events', 'num']], Object.entries(s.by_day).map(([d, n]) => [
    h('td', {}, link(route('search', { from: d, to: new Date(Date.parse(d) + 86_400_000).toISOString().slice(0, 10) }), d)), h('td', { class: 'num', 'data-day': d }, num(n)),
  ])));
  if (Object.keys(s.schema_drift_keys).length) {
    out.push(h('h2', {}, 'Keys Mimecast sent that the mapping does not know'), table(['key', ['seen', 'num']], Object.entries(s.schema_drift_keys).map(([k, n]) => [h('td', {}, k), h('td', { class: 'num' }, num(n))])));
  }
  const cp = o.checkpoints;
  if (cp.total > 0) {
    // A spool has a checkpoint per file: per kind, then the few that need a look (the full list: `stats --json`).
    out.push(h('h2', {}, `Checkpoints (${num(cp.total)})`),
      table(['source kind', ['checkpoints', 'num'], ['complete', 'num'], ['incomplete', 'num'], 'oldest update', 'newest update'], cp.by_kind.map((k) => [
        h('td', {}, k.kind), h('td', { class: 'num', 'data-checkpoint-kind': k.kind }, num(k.checkpoints)), h('td', { class: 'num' }, num(k.complete)),
        h('td', { class: 'num' }, num(k.checkpoints - k.complete)), h('td', {}, time(k.oldest_update)), h('td', {}, time(k.newest_update)),
      ]), { 'aria-label': 'checkpoints by source kind' }),
      h('p', { class: 'muted' }, cp.total > cp.needing_attention.length
        ? `The ${num(cp.needing_attention.length)} of ${num(cp.total)} needing a look first: incomplete ones, then those updated longest ago. `
        : 'Incomplete ones first, then those updated longest ago. ', h('code', {}, 'mimelog stats --json'), ' lists them all.'),
      table(['source', ['position', 'num'], 'complete', 'updated'], cp.needing_attention.map((c) => [
        h('td', {}, c.source), h('td', { class: 'num' }, num(c.position)), h('td', {}, c.complete ? 'yes' : 'no'), h('td', {}, time(c.updated_at)),
      ]), { 'aria-label': 'checkpoints needing a look' }));
  }
  return out;
}
