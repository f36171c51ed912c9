/** Dead letters: what could not be stored, where it came from and why, with its bytes; replay when allowed. */
import type { DeadLetterRow } from '../../../store/queries.js';
import type { ReplayReport } from '../../../pipeline/replay.js';
import { get, post } from '../api.js';
import { type Child, h, link, num, route, table, time } from '../dom.js';

export async function deadLettersPage(params: URLSearchParams, readOnly: boolean, rerender: () => void): Promise<Child[]> {
  const before = params.get('before');
  const { rows } = await get<{ rows: DeadLetterRow[] }>('dead-letters', { before, limit: 50 });
  const replay = h('button', { type: 'button' }, 'Replay all dead letters');
  const report = h('p', { role: 'status' });
  replay.addEventListener('click', () => {
    replay.setAttribute('disabled', '');
    post<ReplayReport>('dead-letters/replay').then((r) => {
      report.textContent = `Replayed ${num(r.attempted)}: ${num(r.recovered)} recovered (${num(r.events_stored)} events stored, ${num(r.duplicates)} duplicates), ${num(r.still_failing)} still failing.`;
      setTimeout(rerender, 1500);
    }, (err: Error) => {
      report.textContent = err.message;
      replay.removeAttribute('disabled');
    });
  });
  const last = rows[rows.length - 1];
  return [
    h('h1', {}, 'Dead letters'),
    h('p', { class: 'muted' }, 'Records that could not be stored, kept with their bytes. ',
      readOnly ? 'This console is read-only: replay with mimelog replay, or start the console with --allow-writes.' : null),
    readOnly ? null : h('div', {}, replay, report),
    rows.length === 0 ? h('p', { 'data-dead-letters': '0' }, before ? 'No older dead letters.' : 'None: everything read was stored.') : table(['#', 'kept', 'source', ['position', 'num'], 'reason', 'record'], rows.map((d) => [
      h('td', { 'data-dead-letter': d.rowid }, String(d.rowid)), h('td', {}, time(d.created_at)), h('td', {}, d.source, d.feed ? h('div', { class: 'muted' }, `feed ${d.feed}`) : null), h('td', { class: 'num' }, num(d.position)),
      h('td', { class: 'reason' }, d.reason, d.replay_attempts ? h('div', { class: 'muted' }, `replayed ${d.replay_attempts}× without success`) : null),
      h('td', {}, h('pre', { class: 'raw' }, d.raw),
        d.truncated_from !== null ? h('div', { class: 'muted' }, `only the first ${num(d.raw_bytes)} of ${num(d.truncated_from)} bytes kept`) : d.raw_cut ? h('div', { class: 'muted' }, `first part of ${num(d.raw_bytes)} bytes`) : null,
        d.cut_short ? h('div', { class: 'muted' }, 'cut short: the input broke while this line was read') : null),
    ]), { 'aria-label': 'dead letters' }),
    h('div', { class: 'pager' }, before ? link('#/dead-letters', '⇤ Newest') : null, rows.length === 50 && last ? link(route('dead-letters', { before: last.rowid }), 'Older →') : null),
  ];
}
