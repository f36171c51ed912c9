/**
 * Who else received it: every message sharing the sender, subject, URL or attachment (the analyst
 * picks which), most specific match first, and each recipient's fate.
 */
import type { Indicator, WhoResult } from '../../../store/who.js';
import { get } from '../api.js';
import { type Child, h, link, route, table, time } from '../dom.js';
import { queryForm } from './trace.js';

const badges = (statuses: readonly string[]) => statuses.map((s) => h('span', { class: `badge ${s.replace(' ', '-')}` }, s));

const INDICATOR_LABELS: readonly [Indicator, string][] = [['sender', 'sender'], ['subject', 'subject'], ['url', 'URL'], ['attachment', 'attachment hash']];

/** One checkbox per indicator; a change asks again with the ticked ones (`by`). */
function indicatorPicker(q: string, by: readonly Indicator[]): HTMLElement {
  const boxes = INDICATOR_LABELS.map(([name, label]) => {
    const box = h('input', { type: 'checkbox', name: 'by', value: name, checked: by.includes(name), 'data-by': name });
    box.addEventListener('change', () => {
      const ticked = boxes.filter((b) => b.checked).map((b) => b.value);
      location.hash = route('who', { q, by: ticked.length ? ticked.join(',') : undefined });
    });
    return box;
  });
  return h('fieldset', { class: 'inline', 'aria-label': 'match on' }, h('legend', {}, 'Match on'), ...boxes.map((b, i) => h('label', {}, b, ` ${INDICATOR_LABELS[i]![1]} `)));
}

export async function whoPage(params: URLSearchParams): Promise<Child[]> {
  const q = params.get('q') ?? '';
  const byParam = params.get('by') ?? undefined;
  const out: Child[] = [h('h1', {}, 'Who else received it?'), queryForm('who', 'Message-ID, aCode or event id', q)];
  if (!q) return [...out, h('p', { class: 'muted' }, 'Start from a reported message: its Message-ID, aCode, or "who else" on a search result.')];
  const w = await get<WhoResult>('who', { q, by: byParam });
  out.push(indicatorPicker(q, w.by));
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
    ...w.left_out.map((l) => h('p', { class: 'muted', 'data-left-out': l.indicator },
      `Left out ${l.messages} messages that share only the ${l.indicator} (it matches more than ${l.limit} messages). `, link(route('who', { q, by: l.indicator }), `Match on the ${l.indicator} alone`))),
    h('h2', {}, 'Recipients'),
    table(['recipient', ['messages', 'num'], 'what happened', 'best match', 'follow'], w.recipients.map((r) => [
      h('td', { 'data-recipient': r.address }, r.address), h('td', { class: 'num' }, String(r.messages)), h('td', { 'data-statuses': r.statuses.join(',') }, badges(r.statuses)),
      h('td', {}, w.messages.find((m) => m.recipients.some((x) => x.address === r.address))?.matched_by.join(' + ') ?? ''),
      h('td', {}, link(route('search', { address: r.address }), 'events')),
    ]), { 'aria-label': 'recipients' }),
    h('h2', {}, 'Messages'),
    table(['first seen', 'sender', 'subject', 'matched by', 'recipients', 'follow'], w.messages.map((m) => [
      h('td', {}, time(m.first_seen)), h('td', {}, m.sender ?? ''), h('td', {}, m.subject ?? ''), h('td', { 'data-matched-by': m.matched_by.join(',') }, m.matched_by.join(' + ')),
      h('td', {}, m.recipients.map((r) => h('div', {}, `${r.address} `, badges(r.statuses)))),
      h('td', {}, link(route('trace', { q: m.message_id ?? m.key }), 'trace')),
    ]), { 'aria-label': 'messages' }),
  );
  return out;
}
