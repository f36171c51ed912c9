/**
 * DOM building for the console. Every piece of text from the store is attacker-controlled (a
 * subject, a file name, a display name), so text only ever becomes a text node, and attributes
 * are set one by one: no HTML strings anywhere in the console.
 */
export type Child = Node | string | number | null | undefined | false | Child[];

export function h<K extends keyof HTMLElementTagNameMap>(tag: K, attrs: Record<string, string | number | boolean | undefined> = {}, ...children: Child[]): HTMLElementTagNameMap[K] {
  const el = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs)) {
    if (value === undefined || value === false) continue;
    if (/^on/i.test(name)) throw new Error(`event handlers are attached with addEventListener, not ${name}`);
    el.setAttribute(name, value === true ? '' : String(value));
  }
  append(el, children);
  return el;
}

export function append(el: Node, children: Child[]): void {
  for (const child of children) {
    if (child === null || child === undefined || child === false) continue;
    if (Array.isArray(child)) append(el, child);
    else el.appendChild(typeof child === 'string' || typeof child === 'number' ? document.createTextNode(String(child)) : child);
  }
}

/** A link inside the console; only `#/…` targets, so a stored value can never become a javascript: URL. */
export function link(route: string, ...children: Child[]): HTMLAnchorElement {
  if (!route.startsWith('#/')) throw new Error(`not a console route: ${route}`);
  return h('a', { href: route }, ...children);
}

/** `#/page?k=v…` with every value percent-encoded. */
export function route(page: string, params: Record<string, string | number | undefined | null> = {}): string {
  const query = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) if (v !== undefined && v !== null && v !== '') query.set(k, String(v));
  const q = query.toString();
  return `#/${page}${q ? `?${q}` : ''}`;
}

/**
 * Times: every time the console shows is in the viewer's zone, with the zone written after it
 * (`EST`, `GMT+1`), and its UTC ISO 8601 on hover. These are the only formatters of times.
 */
const LOCAL_TIME = new Intl.DateTimeFormat(undefined, { year: 'numeric', month: 'short', day: '2-digit', hour: '2-digit', minute: '2-digit', second: '2-digit', timeZoneName: 'short' });
const ZONE = new Intl.DateTimeFormat(undefined, { timeZoneName: 'short' });
const CLOCK = new Intl.DateTimeFormat(undefined, { hour: '2-digit', minute: '2-digit' });
const WEEKDAY = new Intl.DateTimeFormat(undefined, { weekday: 'short', day: 'numeric' });

/** The viewer's zone at that instant, as written after times (`EST`; `EDT` in summer). */
export function zoneName(ms: number): string {
  return ZONE.formatToParts(ms).find((p) => p.type === 'timeZoneName')?.value ?? '';
}

/** The hover text of a time: UTC, ISO 8601. */
export function utcTitle(ms: number): string {
  return `${new Date(ms).toISOString().replace('.000Z', 'Z')} (UTC)`;
}

/** A time in the viewer's zone, zone written, e.g. `Dec 06, 2026, 03:24:56 PM EST`. */
export function localText(ms: number): string {
  return LOCAL_TIME.format(ms);
}

/** An hour on a chart's axis (`03:00 PM`, or `Sun 6 03:00 PM` with the day); the axis names the zone. */
export function hourText(ms: number, withDay: boolean): string {
  return withDay ? `${WEEKDAY.format(ms)} ${CLOCK.format(ms)}` : CLOCK.format(ms);
}

/** A time in the viewer's zone, with UTC on hover. */
export function time(iso: string): HTMLTimeElement {
  const ms = Date.parse(iso);
  return h('time', { datetime: iso, title: utcTitle(ms) }, localText(ms));
}

export function table(headers: (string | [string, 'num'])[], rows: Child[][], attrs: Record<string, string> = {}): HTMLTableElement {
  return h('table', attrs,
    h('thead', {}, h('tr', {}, headers.map((x) => (Array.isArray(x) ? h('th', { class: 'num', scope: 'col' }, x[0]) : h('th', { scope: 'col' }, x))))),
    h('tbody', {}, rows.map((cells) => h('tr', {}, cells))),
  );
}

export function num(n: number): string {
  return n.toLocaleString('en');
}

export function duration(seconds: number): string {
  const s = Math.abs(seconds);
  const text = s < 120 ? `${Math.round(s)} s` : s < 7200 ? `${Math.round(s / 60)} min` : s < 172800 ? `${(s / 3600).toFixed(1)} h` : `${(s / 86400).toFixed(1)} days`;
  return seconds < 0 ? `−${text}` : text;
}
