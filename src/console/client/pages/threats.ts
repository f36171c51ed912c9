/** Threats: who is targeted, who sends what is rejected or held, and protection verdicts over time. */
import type { Threats } from '../../../store/threats.js';
import { get } from '../api.js';
import { barChart } from '../charts.js';
import { type Child, h, link, num, route, table, time } from '../dom.js';

const RANGES: [label: string, days: number | null][] = [['last 24 hours', 1], ['last 7 days', 7], ['last 30 days', 30], ['everything', null]];

function perDay(rows: Threats['url_verdicts'], title: string): HTMLElement {
  if (rows.length === 0) return h('section', {}, h('h2', {}, title), h('p', { class: 'muted' }, 'None in this period.'));
  const days = [...new Set(rows.map((r) => r.day))].sort();
  const verdicts = [...new Set(rows.map((r) => r.verdict))].sort();
  const count = new Map(rows.map((r) => [`${r.day} ${r.verdict}`, r.events]));
  return h('section', {}, h('h2', {}, title),
    barChart(days, verdicts.map((v) => ({ label: v, values: days.map((d) => count.get(`${d} ${v}`) ?? 0) })), `${title}, per UTC day`, { title: 'day (UTC)' }));
}

export async function threatsPage(params: URLSearchParams): Promise<Child[]> {
  const days = params.get('days') === 'all' ? null : Number(params.get('days') ?? 7) || 7;
  const from = days === null ? undefined : new Date(Date.now() - days * 86_400_000).toISOString();
  const t = await get<Threats>('threats', { from });
  const searchFrom = from?.slice(0, 19);
  return [
    h('h1', {}, 'Threats'),
    h('p', {}, 'Period: ', RANGES.map(([label, d], i) => [i ? ' · ' : '', (d ?? null) === days ? h('strong', {}, label) : link(route('threats', { days: d ?? 'all' }), label)])),
    h('div', { class: 'grid2' },
      h('section', {}, h('h2', {}, 'Most targeted recipients'), table(['recipient', ['detections', 'num']], t.top_targeted.map((r) => [
        h('td', {}, link(route('search', { address: r.address, from: searchFrom }), r.address)), h('td', { class: 'num' }, num(r.detections)),
      ]), { 'aria-label': 'most targeted recipients' })),
      h('section', {}, h('h2', {}, 'Senders of rejected mail'), table(['sender', ['messages', 'num']], t.top_rejected_senders.map((r) => [
        h('td', {}, link(route('search', { address: r.address, action: 'Rej', from: searchFrom }), r.address)), h('td', { class: 'num' }, num(r.messages)),
      ]), { 'aria-label': 'senders of rejected mail' })),
      h('section', {}, h('h2', {}, 'Senders of held mail'), table(['sender', ['messages', 'num']], t.top_held_senders.map((r) => [
        h('td', {}, link(route('search', { address: r.address, from: searchFrom }), r.address)), h('td', { class: 'num' }, num(r.messages)),
      ]), { 'aria-label': 'senders of held mail' }))),
    h('div', { class: 'grid2' }, perDay(t.url_verdicts, 'URL protection verdicts'), perDay(t.attachment_verdicts, 'Attachment verdicts')),
    h('h2', {}, 'Impersonation hits'),
    t.impersonation_hits.length === 0 ? h('p', { class: 'muted' }, 'None in this period.') : table(['time', 'sender', 'recipient', 'action', 'follow'], t.impersonation_hits.map((r) => [
      h('td', {}, time(r.time)), h('td', {}, r.sender ?? ''), h('td', {}, r.recipients ?? ''), h('td', {}, r.action ?? ''),
      h('td', {}, link(route(`event/${encodeURIComponent(r.id)}`), 'event'), r.message_id ? [' · ', link(route('trace', { q: r.message_id }), 'trace')] : null),
    ]), { 'aria-label': 'impersonation hits' }),
  ];
}
