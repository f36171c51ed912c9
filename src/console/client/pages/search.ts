/** Search: the CLI's filters, newest first, a page at a time; and one event's ECS document and original record. */
import { get } from '../api.js';
import { type Child, h, link, route, table, time } from '../dom.js';

interface SearchAnswer {
  rows: { id: string; time: string; log_type: string; action: string | null; sender: string | null; recipients: string | null; subject: string | null; acode: string | null; message_id: string | null }[];
  next: { before_ts: string; before_rowid: number } | null;
}

const FIELDS: [name: string, label: string, placeholder: string][] = [
  ['from', 'From (UTC)', '2026-11-30 or 2026-11-30T08:00:00Z'],
  ['to', 'To (UTC, exclusive)', '2026-12-01'],
  ['type', 'Log type', 'receipt, delivery, url-protect…'],
  ['address', 'Sender or recipient', 'user@example.com'],
  ['message_id', 'Message-ID', '<id@host>'],
  ['acode', 'aCode', ''],
  ['action', 'Action', 'Acc, Rej, Hld, block…'],
  ['text', 'Words in the subject', 'invoice overdue'],
];
const PAGING = ['before_ts', 'before_rowid', 'limit'];

function filterForm(params: URLSearchParams): HTMLFormElement {
  const form = h('form', { class: 'filters', role: 'search' },
    FIELDS.map(([name, label, placeholder]) => h('label', {}, label, h('input', { name, value: params.get(name) ?? '', placeholder, autocomplete: 'off' }))),
    h('div', {}, h('button', { type: 'submit' }, 'Search'), ' ', link('#/search', 'Clear')));
  form.addEventListener('submit', (e) => {
    e.preventDefault();
    const values: Record<string, string> = {};
    for (const [name] of FIELDS) values[name] = (form.elements.namedItem(name) as HTMLInputElement).value.trim();
    location.hash = route('search', values);
  });
  return form;
}

export async function searchPage(params: URLSearchParams): Promise<Child[]> {
  const query = Object.fromEntries([...FIELDS.map(([n]) => n), ...PAGING].map((n) => [n, params.get(n)]));
  const answer = await get<SearchAnswer>('search', query);
  const filters = Object.fromEntries(FIELDS.map(([n]) => [n, params.get(n)]));
  const paged = params.has('before_ts');
  return [
    h('h1', {}, 'Search'),
    filterForm(params),
    answer.rows.length === 0
      ? h('p', { class: 'muted', 'data-results': '0' }, paged ? 'No older events.' : 'No event matches.')
      : table(['time', 'type', 'action', 'from', 'to', 'subject', 'follow'], answer.rows.map((r) => [
        h('td', { 'data-id': r.id }, time(r.time)), h('td', {}, r.log_type), h('td', {}, r.action ?? ''), h('td', {}, r.sender ?? ''), h('td', {}, r.recipients ?? ''),
        h('td', {}, link(route(`event/${encodeURIComponent(r.id)}`), r.subject ?? '(no subject)')),
        h('td', {}, (r.message_id ?? r.acode) ? [link(route('trace', { q: r.message_id ?? r.acode }), 'trace'), ' · ', link(route('who', { q: r.id }), 'who else')] : ''),
      ]), { 'aria-label': 'search results', 'data-results': String(answer.rows.length) }),
    h('div', { class: 'pager' },
      paged ? link(route('search', filters), '⇤ Newest') : null,
      answer.next ? link(route('search', { ...filters, ...answer.next }), 'Older →') : null),
  ];
}

export async function eventPage(id: string): Promise<Child[]> {
  const e = await get<{ doc: { email?: { message_id?: string; local_id?: string }; mimecast?: { log_type?: string } }; original: string | null }>(`events/${encodeURIComponent(id)}`);
  const key = e.doc.email?.message_id ?? e.doc.email?.local_id;
  return [
    h('h1', {}, `Event ${id}`),
    h('p', {}, key ? [link(route('trace', { q: key }), 'Trace this message'), ' · ', link(route('who', { q: id }), 'Who else received it?')] : 'This event names no message.'),
    h('h2', {}, 'ECS document'),
    h('pre', { 'data-doc': id }, JSON.stringify(e.doc, null, 2)),
    h('h2', {}, 'Original record'),
    e.original === null ? h('p', { class: 'muted' }, 'Not kept (ingested with --no-original).') : h('pre', { 'data-original': id }, e.original),
  ];
}
