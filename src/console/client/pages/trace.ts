/** Message trace: one email's journey across log types, as `mimelog trace` prints it. */
import { DETECTION_TYPES } from '../../../mimecast/log-types.js';
import type { TraceMessage, TraceResult } from '../../../store/trace.js';
import { get } from '../api.js';
import { type Child, h, link, route, time } from '../dom.js';

const ALERT_TYPES: ReadonlySet<string> = new Set(DETECTION_TYPES);

export function queryForm(page: string, label: string, value: string): HTMLFormElement {
  const input = h('input', { name: 'q', value, size: 50, required: true, autocomplete: 'off' });
  const form = h('form', { class: 'inline' }, h('label', {}, label, input), h('button', { type: 'submit' }, 'Go'));
  form.addEventListener('submit', (e) => {
    e.preventDefault();
    location.hash = route(page, { q: input.value.trim() });
  });
  return form;
}

export async function tracePage(params: URLSearchParams): Promise<Child[]> {
  const q = params.get('q') ?? '';
  const out: Child[] = [h('h1', {}, 'Message trace'), queryForm('trace', 'Message-ID, aCode or address', q)];
  if (!q) return [...out, h('p', { class: 'muted' }, 'Start from a search result, or paste a Message-ID or aCode.')];
  const t = await get<TraceResult>('trace', { q });
  if (t.steps.length === 0) return [...out, h('p', { class: 'error', 'data-trace-empty': '' }, `Nothing found for ${q}.`)];
  out.push(
    h('p', {}, `Matched by ${t.matched_by.replace('_', ' ')}; aCode ${t.acodes.join(', ') || '-'}; Message-ID ${t.message_ids.join(', ') || '-'}. `,
      link(route('who', { q: t.message_ids[0] ?? t.acodes[0] ?? q }), 'Who else received it?')),
    // An address names many emails: one timeline each, with its own outcome.
    ...(t.messages.length > 1
      ? t.messages.flatMap((m, i) => [h('h2', {}, `${i + 1} of ${t.messages.length}: `, m.acodes.length + m.message_ids.length ? `aCode ${m.acodes.join(', ') || '-'}; Message-ID ${m.message_ids.join(', ') || '-'}` : 'events that name no aCode or Message-ID'), ...timeline(m)])
      : timeline(t)),
  );
  return out;
}

function timeline(m: Pick<TraceMessage, 'steps' | 'outcome'>): Child[] {
  return [
    h('ol', { class: 'timeline', 'aria-label': 'timeline' }, m.steps.map((s) => h('li', { class: `stage-${s.log_type}${ALERT_TYPES.has(s.log_type) ? ' alert' : ''}`, 'data-step': s.id },
      time(s.time), ' ', h('strong', {}, s.log_type), s.action ? h('span', { class: 'badge' }, s.action) : null, ' ', h('span', { class: 'summary' }, s.summary), ' ',
      link(route(`event/${encodeURIComponent(s.id)}`), 'event')))),
    h('div', { class: 'outcome', 'data-outcome': '' }, h('strong', {}, 'Outcome: '), m.outcome.length ? h('ul', {}, m.outcome.map((o) => h('li', {}, o))) : 'no delivery line yet'),
  ];
}
