/** The console page: a hash router over six pages. Each page is a function from the route to DOM nodes. */
import { ApiError, TokenNeeded, get, setToken } from './api.js';
import { type Child, append, h } from './dom.js';
import { deadLettersPage } from './pages/dead-letters.js';
import { overviewPage } from './pages/overview.js';
import { eventPage, searchPage } from './pages/search.js';
import { threatsPage } from './pages/threats.js';
import { tracePage } from './pages/trace.js';
import { whoPage } from './pages/who.js';

const main = document.getElementById('main')!;
let info: { read_only: boolean } | undefined;
let rendering = 0;

function parseHash(): { page: string; rest: string; params: URLSearchParams } {
  const hash = location.hash.replace(/^#\/?/, '');
  const [path = '', query = ''] = hash.split('?', 2);
  const [page = '', ...rest] = path.split('/');
  return { page: page || 'overview', rest: decodeURIComponent(rest.join('/')), params: new URLSearchParams(query) };
}

function tokenForm(message: string): Child[] {
  const input = h('input', { type: 'password', name: 'token', required: true, autocomplete: 'current-password' });
  const form = h('form', { class: 'inline' }, h('label', {}, 'Access token', input), h('button', { type: 'submit' }, 'Open'));
  form.addEventListener('submit', (e) => {
    e.preventDefault();
    setToken(input.value.trim());
    void render();
  });
  queueMicrotask(() => input.focus());
  return [h('h1', {}, 'This console needs its access token'), h('p', { class: 'muted' }, message, ' It is in the file given to --token-file (or MIMELOG_CONSOLE_TOKEN).'), form];
}

async function page(name: string, rest: string, params: URLSearchParams): Promise<Child[]> {
  info ??= await get<{ read_only: boolean }>('info');
  document.getElementById('mode')!.textContent = info.read_only ? 'read-only' : 'replay allowed';
  switch (name) {
    case 'overview': return overviewPage();
    case 'search': return searchPage(params);
    case 'event': return eventPage(rest);
    case 'trace': return tracePage(params);
    case 'who': return whoPage(params);
    case 'threats': return threatsPage(params);
    case 'dead-letters': return deadLettersPage(params, info.read_only, () => void render());
    default: return [h('h1', {}, 'No such page'), h('p', {}, h('a', { href: '#/' }, 'Back to the overview'))];
  }
}

async function render(): Promise<void> {
  const mine = ++rendering;
  const hash = location.hash;
  const { page: name, rest, params } = parseHash();
  for (const a of document.querySelectorAll('nav a')) {
    if (a.getAttribute('data-page') === (name === 'event' ? 'search' : name)) a.setAttribute('aria-current', 'page');
    else a.removeAttribute('aria-current');
  }
  main.setAttribute('aria-busy', 'true');
  let nodes: Child[];
  try {
    nodes = await page(name, rest, params);
  } catch (err) {
    nodes = err instanceof TokenNeeded ? tokenForm(err.message) : [h('h1', {}, 'Something went wrong'), h('p', { class: 'error', role: 'alert' }, err instanceof ApiError ? err.message : String(err))];
  }
  if (mine !== rendering) return; // a newer navigation won
  main.replaceChildren();
  append(main, nodes);
  main.removeAttribute('aria-busy');
  main.setAttribute('data-page', name);
  main.setAttribute('data-hash', hash); // which address is shown: a page reached by a link is told from the one before it
  document.title = `${main.querySelector('h1')?.textContent ?? 'mimelog'} · mimelog console`;
}

window.addEventListener('hashchange', () => {
  void render().then(() => main.focus({ preventScroll: false }));
});
void render();
