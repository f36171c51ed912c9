/** Who else received it: every message sharing the sender, subject, URL or attachment, and each recipient's fate. */
import type { WhoResult } from '../../../store/who.js';
import { get } from '../api.js';
import { type Child, h, link, route, table, time } from '../dom.js';
import { queryForm } from './trace.js';

const badges = (statuses: readonly string[]) => statuses.map((s) => h('span', { class: `badge ${s.replace(' ', '-')}` }, s));

export async function whoPage(params: URLSearchParams): Promise<Child[]> {
  const q = params.get('q') ?? '';
  const out: Child[] = [h('h1', {}, 'Who else received it?'), queryForm('who', 'Message-ID, aCode or event id', q)];
  if (!q) return [...out, h('p', { class: 'muted' }, 'Start from a reported message: its Message-ID, aCode, or "who else" on a search result.')];
  const w = await get<WhoResult>('who', { q });
  if (w.messages.length === 0) return [...out, h('p', { class: 'error' }, `Nothing found for ${q}.`)];
  const i = w.indicators;
  const clicked = w.recipients.filter((r) => r.statuses.includes('clicked')).length;
  const delivered = w.recipients.filter((r) => r.statuses.includes('delivered')).length;
  out.push(
    h('h2', {}, 'Matched on'),
    h('ul', {}, [
      ['sender', i.senders], ['subject', i.subjects], ['URL', i.urls], ['attachment SHA-256', i.attachments],
    ].map(([label, values]) => h('li', {}, `${label as string}: `, (values as string[]).length ? (values as string[]).join(', ') : h('span', { class: 'muted' }, 'none in this message')))),
    h('p', { 'data-who-summary': '' }, `${w.messages.length} messages to ${w.recipients.length} recipients: ${delivered} delivered, ${clicked} clicked.`,
      w.truncated ? h('span', { class: 'error' }, ' Cut short: too many matches; narrow the question.') : null),
    h('h2', {}, 'Recipients'),
    table(['recipient', ['messages', 'num'], 'what happened', 'follow'], w.recipients.map((r) => [
      h('td', { 'data-recipient': r.address }, r.address), h('td', { class: 'num' }, String(r.messages)), h('td', { 'data-statuses': r.statuses.join(',') }, badges(r.statuses)),
      h('td', {}, link(route('search', { address: r.address }), 'events')),
    ]), { 'aria-label': 'recipients' }),
    h('h2', {}, 'Messages'),
    table(['first seen', 'sender', 'subject', 'matched by', 'recipients', 'follow'], w.messages.map((m) => [
      h('td', {}, time(m.first_seen)), h('td', {}, m.sender ?? ''), h('td', {}, m.subject ?? ''), h('td', {}, m.matched_by.join(', ')),
      h('td', {}, m.recipients.map((r) => h('div', {}, `${r.address} `, badges(r.statuses)))),
      h('td', {}, link(route('trace', { q: m.message_id ?? m.key }), 'trace')),
    ]), { 'aria-label': 'messages' }),
  );
  return out;
}
