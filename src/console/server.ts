/**
 * `mimelog console`: a JSON API over the embedded store and the page that shows it. Read-only
 * unless writes are enabled. Event fields are attacker-controlled text, so the page builds its
 * DOM from text nodes only and the server forbids inline script (strict CSP), framing and CORS.
 */
import { timingSafeEqual } from 'node:crypto';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { serveStatic } from '@hono/node-server/serve-static';
import { Hono, type Context } from 'hono';
import { secureHeaders } from 'hono/secure-headers';
import { type FilterText, parseFilter, parseTime } from '../store/filter.js';
import { deadLetters, eventById, search } from '../store/queries.js';
import { overview } from '../store/overview.js';
import type { ClusterStats } from '../cluster/books-report.js';
import { withCluster } from './cluster-overview.js';
import type { Store } from '../store/store.js';
import { threats } from '../store/threats.js';
import { trace } from '../store/trace.js';
import { type Indicator, parseIndicators, whoElse } from '../store/who.js';
import type { ReplayReport } from '../pipeline/replay.js';
import { listen, urlHost } from '../util/listen.js';
import { isKind } from '../util/errors.js';
import { printable } from '../util/terminal-text.js';
import { maskSecrets } from '../util/secrets.js';

/** Where `npm run build` puts the page's assets (dist/console), next to the compiled server. */
export const ASSETS_DIR = fileURLToPath(new URL('../../console/', import.meta.url));

export interface ConsoleOptions {
  readonly store: Store;
  /** When set, every API call must carry `Authorization: Bearer <token>`. */
  readonly token?: string;
  /** Re-runs the dead letters; present only when the console may write. */
  readonly replay?: () => Promise<ReplayReport>;
  /** Host names (with port) the browser may use; others are refused (DNS rebinding). Empty: any. */
  readonly allowedHosts: readonly string[];
  /** With a run config of several replicas: the state index's report, for the overview (console/cluster-overview.ts). */
  readonly cluster?: () => Promise<ClusterStats>;
}

const SEARCH_PAGE = 50;
const MAX_PAGE = 500;

/** A request the API cannot answer as asked (400). */
class BadRequest extends Error {}

const FIELD_NAMES = { from: 'from', to: 'to', type: 'type', address: 'address', messageId: 'message_id', acode: 'acode', action: 'action', text: 'text' };

function intParam(c: Context, name: string, fallback: number, max = Number.MAX_SAFE_INTEGER): number {
  const raw = c.req.query(name);
  if (raw === undefined || raw === '') return fallback;
  const n = Number(raw);
  if (!Number.isSafeInteger(n) || n < 0) throw new BadRequest(`${name} must be a whole number`);
  return Math.min(n, max);
}

/** `by=url,attachment`: the indicators "who else" matches on; absent or empty: all. */
function indicatorsParam(text: string | undefined): Indicator[] | undefined {
  if (text === undefined || text.trim() === '') return undefined;
  try {
    return parseIndicators(text);
  } catch (err) {
    throw new BadRequest(`by: ${(err as Error).message}`);
  }
}

function requiredQuery(c: Context): string {
  const q = c.req.query('q')?.trim();
  if (!q) throw new BadRequest('q: a message id, aCode or event id is needed');
  return q;
}

function sameToken(given: string, expected: string): boolean {
  const a = Buffer.from(given);
  const b = Buffer.from(expected);
  return a.length === b.length && timingSafeEqual(a, b);
}

export function createConsoleApp(options: ConsoleOptions): Hono {
  const { store } = options;
  const app = new Hono();

  app.use('*', async (c, next) => {
    const host = c.req.header('host') ?? '';
    if (options.allowedHosts.length > 0 && !options.allowedHosts.includes(host.toLowerCase())) {
      return c.text(`unexpected Host header ${JSON.stringify(host)}: open the console by its listen address`, 421);
    }
    await next();
  });
  app.use('*', secureHeaders({
    contentSecurityPolicy: {
      defaultSrc: ["'none'"], scriptSrc: ["'self'"], styleSrc: ["'self'"], imgSrc: ["'self'", 'data:'], connectSrc: ["'self'"],
      baseUri: ["'none'"], formAction: ["'none'"], frameAncestors: ["'none'"],
    },
    crossOriginResourcePolicy: 'same-origin',
    referrerPolicy: 'no-referrer',
  }));

  // Every answer masked in one place: a secret of the service's config that reached the store
  // (a spool file holding it, an error echoing it) is not served to whoever can reach the console.
  app.use('/api/*', async (c, next) => {
    await next();
    const body = await c.res.clone().text();
    const masked = maskSecrets(body);
    if (masked === body) return;
    const headers = new Headers(c.res.headers);
    headers.delete('content-length');
    c.res = new Response(masked, { status: c.res.status, headers });
  });
  app.use('/api/*', async (c, next) => {
    c.header('Cache-Control', 'no-store');
    if (options.token !== undefined) {
      const auth = c.req.header('authorization') ?? '';
      const given = auth.startsWith('Bearer ') ? auth.slice(7) : '';
      if (!sameToken(given, options.token)) return c.json({ error: 'this console needs its access token', token_required: true }, 401);
    }
    // Writes only from the page itself: a JSON body cannot be sent cross-site without a preflight, which gets no CORS answer.
    if (c.req.method !== 'GET' && c.req.header('content-type') !== 'application/json') return c.json({ error: 'send application/json' }, 415);
    await next();
  });

  app.get('/api/info', (c) => c.json({ read_only: options.replay === undefined, token: options.token !== undefined }));
  app.get('/api/overview', async (c) => c.json(options.cluster ? withCluster(overview(store), await options.cluster()) : overview(store)));
  app.get('/api/search', (c) => {
    const text = Object.fromEntries(Object.entries(FIELD_NAMES).map(([k, name]) => [k, c.req.query(name) || undefined])) as FilterText;
    const filter = parseFilter(text, FIELD_NAMES);
    const limit = Math.max(1, intParam(c, 'limit', SEARCH_PAGE, MAX_PAGE));
    const beforeTs = c.req.query('before_ts');
    const before = beforeTs ? { ts: parseTime(beforeTs, 'before_ts'), rowid: intParam(c, 'before_rowid', Number.MAX_SAFE_INTEGER) } : undefined;
    const rows = search(store.db, { ...filter, limit: limit + 1, before });
    const page = rows.slice(0, limit);
    const last = page[page.length - 1];
    return c.json({
      rows: page.map((r) => ({
        id: r.id, time: new Date(r.ts).toISOString(), log_type: r.log_type, action: r.action, sender: r.sender, recipients: r.recipients,
        subject: r.subject, acode: r.acode, message_id: r.message_id,
      })),
      next: rows.length > limit && last ? { before_ts: new Date(last.ts).toISOString(), before_rowid: last.rowid } : null,
    });
  });
  app.get('/api/events/:id', (c) => {
    const found = eventById(store.db, c.req.param('id'));
    if (!found) return c.json({ error: 'no event with this id' }, 404);
    return c.json({ doc: JSON.parse(found.doc) as unknown, original: found.original });
  });
  app.get('/api/trace', (c) => c.json(trace(store.db, requiredQuery(c))));
  app.get('/api/who', (c) => c.json(whoElse(store.db, requiredQuery(c), undefined, { by: indicatorsParam(c.req.query('by')) })));
  app.get('/api/threats', (c) => {
    const from = c.req.query('from');
    const to = c.req.query('to');
    return c.json(threats(store.db, { from: from ? parseTime(from, 'from') : undefined, to: to ? parseTime(to, 'to') : undefined }));
  });
  app.get('/api/dead-letters', (c) => {
    const before = c.req.query('before');
    return c.json({ rows: deadLetters(store.db, { limit: Math.max(1, intParam(c, 'limit', SEARCH_PAGE, MAX_PAGE)), beforeRowid: before ? intParam(c, 'before', 0) : undefined }) });
  });
  app.post('/api/dead-letters/replay', async (c) => {
    if (!options.replay) return c.json({ error: 'this console is read-only: start it with --allow-writes to replay dead letters' }, 403);
    return c.json(await options.replay());
  });
  app.all('/api/*', (c) => c.json({ error: 'no such API' }, 404));

  app.use('/assets/*', serveStatic({ root: ASSETS_DIR, rewriteRequestPath: (p) => p.replace(/^\/assets/, '') }));
  app.get('/', serveStatic({ root: ASSETS_DIR, path: 'index.html' }));

  app.onError((err, c) => {
    if (err instanceof BadRequest || isKind(err, 'filter')) return c.json({ error: err.message }, 400);
    process.stderr.write(`mimelog console: ${c.req.method} ${printable(c.req.path)}: ${printable(maskSecrets(err.message))}\n`);
    return c.json({ error: 'the store could not answer; see the console log' }, 500);
  });
  return app;
}

export interface RunningConsole {
  readonly url: string;
  close(): Promise<void>;
}

/** Starts the console; resolves once it listens. */
export async function startConsole(options: Omit<ConsoleOptions, 'allowedHosts'> & { host: string; port: number; loopback: boolean }): Promise<RunningConsole> {
  if (!existsSync(`${ASSETS_DIR}index.html`)) throw new Error(`the console's page is not built (${ASSETS_DIR}): run npm run build`);
  // The allowed Host names include the port, known only once listening (port 0 picks one).
  let handler: Hono | undefined;
  const listening = await listen((req, env) => (handler ? handler.fetch(req, env) : new Response('starting', { status: 503 })), options);
  handler = createConsoleApp({ ...options, allowedHosts: options.loopback ? loopbackHosts(options.host, listening.port) : [] });
  return { url: listening.url, close: listening.close };
}

function loopbackHosts(host: string, port: number): string[] {
  return [urlHost(host), 'localhost', '127.0.0.1', '[::1]'].map((h) => `${h.toLowerCase()}:${port}`);
}
