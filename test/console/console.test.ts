/**
 * The web console in a real headless Chromium, on a store of generated events with a phishing
 * campaign in it: what a person sees must equal what the CLI answers (`stats`, `search`, `trace`,
 * `who`), attacker-controlled text must stay text, and no page may log an error.
 */
import assert from 'node:assert/strict';
import { chmodSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { Browser, Page } from 'playwright-core';
import { type Campaign, type GeneratedEvent, generateCampaign, takeEvents, toKeyValueLine } from '../../src/simulator/generate.js';
import { lines, runCli, tempDir } from '../support/helpers.js';
import { Store } from '../../src/store/store.js';
import { type RunningConsole, type WatchedPage, launchBrowser, openPage, screenshot, settled, startConsoleProcess, visit } from '../support/browser.js';

const HOUR = 3_600_000;
/** Subject and sender that would run script if the page ever treated stored text as HTML. */
const HOSTILE_SUBJECT = '<img src=x onerror="window.__xss=1"> Invoice';
const HOSTILE_SENDER = 'evil"><script>window.__xss=2</script>@example.com';
const HOSTILE_DEAD_LETTER = '{"Subject": "<script>window.__xss=3</script>", ';

let dir: string;
let db: string;
let campaign: Campaign;
let browser: Browser;
let console1: RunningConsole;
const pages: WatchedPage[] = [];

async function cliJson<T>(...args: string[]): Promise<T> {
  const r = await runCli([...args, '--db', db, '--json']);
  assert.equal(r.code, 0, r.stderr);
  return JSON.parse(r.stdout) as T;
}

async function newPage(timezoneId?: string): Promise<Page> {
  const watched = await openPage(browser, { timezoneId });
  pages.push(watched);
  return watched.page;
}

/** Every page opened so far logged no error, no warning, no failed request. */
function assertNoProblems(): void {
  assert.deepEqual(pages.flatMap((p) => p.problems), []);
}

/** A time as the console must show it to a viewer in New York: that zone, the zone written. */
const newYork = (iso: string) => new Date(iso).toLocaleString('en-US', { timeZone: 'America/New_York', year: 'numeric', month: 'short', day: '2-digit', hour: '2-digit', minute: '2-digit', second: '2-digit', timeZoneName: 'short' });

const texts = (page: Page, selector: string) => page.locator(selector).allTextContents();
const attrs = (page: Page, selector: string, name: string) => page.locator(selector).evaluateAll((els, n) => els.map((e) => e.getAttribute(n as string) ?? ''), name);

before(async () => {
    dir = tempDir('console');
    db = join(dir, 'store.db');
    const now = Date.now();
    const noise = takeEvents({ seed: 11, startMs: now - 20 * HOUR, spacingMs: 60_000 }, 2500);
    campaign = generateCampaign({ seed: 5, startMs: now - 6 * HOUR, recipients: 30 });
    const hostile: GeneratedEvent = {
      logType: 'receipt',
      timeMs: now - 2 * HOUR - ((now - 2 * HOUR) % 1000),
      fields: [['datetime', new Date(now - 2 * HOUR).toISOString().replace(/\.\d{3}Z$/, '+0000')], ['aCode', 'hostileACode000000000'], ['Dir', 'Inbound'],
        ['MsgId', '<hostile@example.com>'], ['Subject', HOSTILE_SUBJECT], ['Sender', HOSTILE_SENDER], ['Rcpt', 'victim@acme-corp.com'], ['Act', 'Acc'], ['IP', '10.1.2.3']],
    };
    writeFileSync(join(dir, 'noise.log'), noise.map(toKeyValueLine).join('\n'));
    writeFileSync(join(dir, 'campaign.log'), campaign.events.map(toKeyValueLine).join('\n'));
    writeFileSync(join(dir, 'hostile.log'), toKeyValueLine(hostile));
    writeFileSync(join(dir, 'broken.json'), `${HOSTILE_DEAD_LETTER}\n`);
    const r = await runCli(['ingest', '--db', db, join(dir, 'noise.log'), join(dir, 'campaign.log'), join(dir, 'hostile.log'), join(dir, 'broken.json')]);
    assert.equal(r.code, 2, `one dead letter expected: ${r.stderr}`);
    // What a destination outside the store reported for a unit, as the delivering sink records it.
    const store = new Store(db);
    store.db.transaction(() => store.registry.countDelivery('splunk-hec', { indexed: 1234, duplicates: 5, collisions: [], rejected: [{}], resent: 17 }, now))();
    store.close();
    browser = await launchBrowser();
    console1 = await startConsoleProcess(['--db', db]);
});

after(async () => {
  await browser?.close();
  assert.equal(await console1?.stop(), 0, 'the console exits 0 on SIGTERM');
});

describe('web console in Chromium', () => {

  it('overview: every number equals stats --json, and the charts are drawn', async () => {
    const stats = await cliJson<{ events: number; duplicates: number; collisions: number; dead_letters: number; unknown: number; by_type: Record<string, number>; by_day: Record<string, number> }>('stats');
    const page = await newPage();
    await visit(page, console1.url, '#/');
    const stat = async (name: string) => Number((await page.locator(`[data-stat="${name}"]`).textContent())!.replace(/,/g, ''));
    assert.equal(await stat('events'), stats.events);
    assert.equal(await stat('duplicates'), stats.duplicates);
    assert.equal(await stat('collisions'), stats.collisions);
    assert.equal(await stat('dead_letters'), stats.dead_letters);
    assert.equal(stats.dead_letters, 1);
    assert.equal(await stat('unknown'), stats.unknown);
    const [splunk] = (stats as unknown as { destinations: { destination: string; acknowledged: number }[] }).destinations;
    assert.equal(splunk!.destination, 'splunk-hec');
    assert.equal(Number((await page.locator('[data-destination="splunk-hec"]').textContent())!.replace(/,/g, '')), splunk!.acknowledged);
    const shownTypes = Object.fromEntries((await attrs(page, '[data-type]', 'data-type')).map((t, i) => [t, i]));
    const typeCounts = await texts(page, '[data-type]');
    assert.deepEqual(Object.fromEntries(Object.entries(shownTypes).map(([t, i]) => [t, Number(typeCounts[i]!.replace(/,/g, ''))])), stats.by_type);
    const days = await attrs(page, '[data-day]', 'data-day');
    const dayCounts = (await texts(page, '[data-day]')).map((n) => Number(n.replace(/,/g, '')));
    assert.deepEqual(Object.fromEntries(days.map((d, i) => [d, dayCounts[i]])), stats.by_day);
    // Both hourly charts drew on their canvas (Chart.js sizes it once drawn).
    await page.waitForFunction(() => [...document.querySelectorAll('canvas')].filter((c) => c.width > 0 && c.height > 0).length >= 2);
    const heading = await page.locator('h2', { hasText: 'last 24 hours' }).textContent();
    assert.match(heading!, new RegExp(`\\(${stats.events.toLocaleString('en')} events\\)`), 'every event of the store lies in the last 24 hours');
    await screenshot(page, 'overview');
    assertNoProblems();
  });

  it('search: the form filters like search --json, pages newest first, and shows one event with its original', async () => {
    const page = await newPage();
    await visit(page, console1.url, '#/search');
    const rcpt = campaign.recipients.find((r) => r.clicked)!.address;
    await page.getByLabel('Sender or recipient').fill(rcpt);
    await page.getByLabel('Sender or recipient').press('Enter');
    await page.waitForURL(/address=/);
    await settled(page);
    const cli = lines((await runCli(['search', '--db', db, '--address', rcpt, '--json'])).stdout).map((l) => JSON.parse(l) as { event: { id: string } });
    assert.ok(cli.length >= 4, 'receipt, process, attachment, delivery and a click');
    assert.deepEqual(await attrs(page, '[data-id]', 'data-id'), cli.map((d) => d.event.id));

    // Paging: two pages of deliveries equal the CLI's first 100, in order.
    await visit(page, console1.url, '#/search?type=delivery');
    const first = await attrs(page, '[data-id]', 'data-id');
    await page.getByRole('link', { name: 'Older →' }).click();
    await page.waitForURL(/before_ts=/);
    await settled(page);
    const second = await attrs(page, '[data-id]', 'data-id');
    const hundred = lines((await runCli(['search', '--db', db, '--type', 'delivery', '--limit', '100', '--json'])).stdout).map((l) => (JSON.parse(l) as { event: { id: string } }).event.id);
    assert.deepEqual([...first, ...second], hundred);

    // One event: its ECS document is the stored one, with event.original put back.
    await visit(page, console1.url, `#/search?address=${encodeURIComponent(rcpt)}&type=receipt`);
    await page.locator('tbody tr').first().getByRole('link').first().click();
    await settled(page);
    const shown = JSON.parse((await page.locator('pre[data-doc]').textContent())!) as { event: { id: string; original?: string } };
    const stored = cli.find((d) => d.event.id === shown.event.id)!;
    assert.ok(stored, 'the event shown is the one clicked');
    const original = (await page.locator('pre[data-original]').textContent())!;
    assert.equal(shown.event.original, original);
    delete shown.event.original;
    assert.deepEqual(shown, stored);
    await screenshot(page, 'search-event');
    assertNoProblems();
  });

  it('search shows hostile text as text: no injected element, no script run, times in the browser zone with UTC on hover', async () => {
    const page = await newPage('America/New_York');
    await visit(page, console1.url, '#/search?acode=hostileACode000000000');
    const row = page.locator('tbody tr');
    assert.equal(await row.count(), 1);
    assert.equal(await row.locator('td').nth(5).textContent(), HOSTILE_SUBJECT);
    assert.equal(await row.locator('td').nth(3).textContent(), HOSTILE_SENDER);
    assert.equal(await page.locator('main img, main script').count(), 0);
    assert.equal(await page.evaluate(() => (window as unknown as { __xss?: number }).__xss), undefined);
    const t = row.locator('time');
    const iso = (await t.getAttribute('datetime'))!;
    assert.equal(await t.getAttribute('title'), `${iso.replace('.000Z', 'Z')} (UTC)`);
    assert.equal(await t.textContent(), newYork(iso));
    await screenshot(page, 'search-hostile');
    assertNoProblems();
  });

  it('every time on every page is in the viewer\'s zone with the zone written, and UTC on hover; chart axes name the zone', async () => {
    const page = await newPage('America/New_York');
    const delivered = campaign.recipients.find((r) => r.clicked)!;
    const routes = ['#/', '#/search', `#/trace?q=${delivered.acode}`, `#/who?q=${delivered.acode}`, '#/threats?days=all', '#/dead-letters'];
    let seen = 0;
    for (const hash of routes) {
      await visit(page, console1.url, hash);
      const shown = await page.locator('main time').evaluateAll((els) => els.map((e) => ({ iso: e.getAttribute('datetime')!, title: e.getAttribute('title'), text: e.textContent })));
      assert.ok(shown.length > 0, `${hash} shows times`);
      for (const t of shown) {
        assert.equal(t.title, `${new Date(t.iso).toISOString().replace('.000Z', 'Z')} (UTC)`, hash);
        assert.equal(t.text, newYork(t.iso), hash);
        assert.match(t.text!, / E[SD]T$/, `${hash}: the zone is written, and it is New York's, not UTC`);
      }
      seen += shown.length;
    }
    assert.ok(seen > 60, `${seen} times checked`);
    await visit(page, console1.url, '#/');
    const axes = await attrs(page, '[data-x-axis]', 'data-x-axis');
    assert.equal(axes.length, 2, 'the 24-hour and 7-day charts');
    for (const a of axes) assert.match(a, /^hour \(E[SD]T(\/E[SD]T)?\)$/, 'the hours are New York\'s, and the axis says so');
    await visit(page, console1.url, '#/threats?days=all');
    assert.ok((await attrs(page, '[data-x-axis]', 'data-x-axis')).every((a) => a === 'day (UTC)'), 'days are UTC days, and say so');
    assertNoProblems();
  });

  it('message trace, reached from a search result, equals trace --json', async () => {
    const page = await newPage();
    const delivered = campaign.recipients.find((r) => r.clicked)!;
    await visit(page, console1.url, `#/search?acode=${delivered.acode}`);
    await page.locator('tbody tr').first().getByRole('link', { name: 'trace' }).click();
    await page.waitForURL(/#\/trace\?q=/);
    await settled(page);
    const q = decodeURIComponent(new URL(page.url()).hash.split('q=')[1]!);
    const cli = await cliJson<{ steps: { id: string; log_type: string; summary: string }[]; outcome: string[] }>('trace', q);
    assert.deepEqual(await attrs(page, '[data-step]', 'data-step'), cli.steps.map((s) => s.id));
    assert.deepEqual(await texts(page, '[data-step] .summary'), cli.steps.map((s) => s.summary));
    assert.deepEqual(await texts(page, '[data-outcome] li'), cli.outcome);
    assert.ok(cli.steps.some((s) => s.log_type === 'url-protect'), 'the click is on the timeline');
    await screenshot(page, 'trace');
    // From an address (the campaign's sender): one timeline per email, each with its own outcome, as trace --json.
    await visit(page, console1.url, `#/trace?q=${encodeURIComponent(campaign.sender)}`);
    const byAddress = await cliJson<{ messages: { outcome: string[] }[] }>('trace', campaign.sender);
    assert.ok(byAddress.messages.length > 1);
    assert.equal(await page.locator('[data-outcome]').count(), byAddress.messages.length);
    assert.deepEqual(await texts(page, '[data-outcome] li'), byAddress.messages.flatMap((m) => m.outcome));
    assertNoProblems();
  });

  it('who else received it: exactly the campaign\'s recipients, each with what happened, equal to who --json', async () => {
    const page = await newPage();
    const seed = campaign.recipients.find((r) => r.outcome === 'rejected')!;
    await visit(page, console1.url, `#/who?q=${seed.acode}`);
    const shown = await attrs(page, '[data-recipient]', 'data-recipient');
    assert.deepEqual(shown, campaign.recipients.map((r) => r.address).sort());
    const statuses = await attrs(page, '[data-statuses]', 'data-statuses');
    const expected = [...campaign.recipients].sort((a, b) => a.address.localeCompare(b.address))
      .map((r) => (r.outcome === 'delivered' ? (r.clicked ? 'delivered,clicked' : 'delivered') : r.outcome));
    assert.deepEqual(statuses, expected);
    const cli = await cliJson<{ recipients: { address: string; statuses: string[] }[] }>('who', seed.acode);
    assert.deepEqual(cli.recipients.map((r) => [r.address, r.statuses.join(',')]), shown.map((a, i) => [a, statuses[i]]));
    // From a click, the URL is an indicator too, and the answer is the same people.
    const clicker = campaign.recipients.find((r) => r.clicked)!;
    await visit(page, console1.url, `#/who?q=${clicker.acode}`);
    assert.match((await page.locator('main ul').first().textContent())!, new RegExp(campaign.url.replace(/[.?]/g, '\\$&')));
    // The same people, ranked: those whose message shares the URL (the clickers) first.
    const clickers = campaign.recipients.filter((r) => r.clicked).map((r) => r.address).sort();
    const ranked = await attrs(page, '[data-recipient]', 'data-recipient');
    assert.deepEqual([...ranked].sort(), campaign.recipients.map((r) => r.address).sort());
    assert.deepEqual(ranked.slice(0, clickers.length).sort(), clickers);
    await screenshot(page, 'who-else');
    // Narrowed to the URL by the analyst: the clickers only, each message saying what matched it.
    await page.locator('[data-by="sender"]').uncheck();
    await page.waitForFunction(() => location.hash.includes('by=subject%2Curl%2Cattachment'));
    await visit(page, console1.url, `#/who?q=${clicker.acode}&by=url`);
    assert.deepEqual((await attrs(page, '[data-recipient]', 'data-recipient')).sort(), clickers);
    assert.deepEqual([...new Set(await attrs(page, '[data-matched-by]', 'data-matched-by'))], ['url']);
    assert.equal(await page.locator('[data-by="url"]').isChecked(), true);
    assert.equal(await page.locator('[data-by="subject"]').isChecked(), false);
    assertNoProblems();
  });

  it('threats: the campaign\'s sender leads the rejected senders, and each row links to a search', async () => {
    const page = await newPage();
    await visit(page, console1.url, '#/threats?days=all');
    const table = page.getByRole('table', { name: 'senders of rejected mail' });
    const firstRow = table.locator('tbody tr').first();
    assert.equal(await firstRow.locator('td').first().textContent(), campaign.sender);
    assert.equal(Number(await firstRow.locator('td').nth(1).textContent()), campaign.recipients.filter((r) => r.outcome === 'rejected').length);
    await firstRow.getByRole('link').click();
    await page.waitForURL(/#\/search\?/);
    await settled(page);
    const ids = await attrs(page, '[data-id]', 'data-id');
    assert.equal(ids.length, campaign.recipients.filter((r) => r.outcome === 'rejected').length, 'the search lists the rejections');
    await visit(page, console1.url, '#/threats?days=all');
    await page.waitForFunction(() => [...document.querySelectorAll('canvas')].filter((c) => c.width > 0).length >= 2);
    await screenshot(page, 'threats');
    assertNoProblems();
  });

  it('dead letters: reason, source and the raw record as text; read-only by default', async () => {
    const page = await newPage();
    await visit(page, console1.url, '#/dead-letters');
    assert.equal(await page.locator('[data-dead-letter]').count(), 1);
    assert.equal(await page.locator('pre.raw').textContent(), HOSTILE_DEAD_LETTER);
    assert.match((await page.locator('td.reason').textContent())!, /JSON/i);
    assert.equal(await page.getByRole('button', { name: /Replay/ }).count(), 0, 'no replay button when read-only');
    assert.equal(await page.evaluate(() => (window as unknown as { __xss?: number }).__xss), undefined);
    const refused = await fetch(`${console1.url}api/dead-letters/replay`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{}' });
    assert.equal(refused.status, 403);
    await screenshot(page, 'dead-letters');
    assertNoProblems();
  });

  it('works with the keyboard: Tab reaches the navigation, Enter follows it, the search form submits on Enter', async () => {
    const page = await newPage();
    await visit(page, console1.url, '#/');
    await page.keyboard.press('Tab'); // skip link
    await page.keyboard.press('Tab'); // Overview
    await page.keyboard.press('Tab'); // Search
    assert.equal(await page.evaluate(() => document.activeElement?.textContent), 'Search');
    await page.keyboard.press('Enter');
    await page.waitForURL(/#\/search$/);
    await settled(page);
    await page.getByLabel('Log type', { exact: true }).focus(); // exact: the overview's charts also speak of "log type"
    await page.keyboard.type('jrnl');
    await page.keyboard.press('Enter');
    await page.waitForURL(/type=jrnl/);
    await settled(page);
    const types = await texts(page, 'tbody tr td:nth-child(2)');
    assert.ok(types.length > 0 && types.every((t) => t === 'jrnl'), types.join(','));
    assertNoProblems();
  });

  it('serves a strict Content-Security-Policy, no CORS, and refuses a foreign Host (DNS rebinding)', async () => {
    const res = await fetch(`${console1.url}api/info`, { headers: { origin: 'https://evil.example' } });
    assert.equal(res.status, 200);
    assert.equal(res.headers.get('access-control-allow-origin'), null);
    const csp = (await fetch(console1.url)).headers.get('content-security-policy')!;
    assert.match(csp, /script-src 'self'/);
    assert.doesNotMatch(csp, /unsafe-inline|unsafe-eval/);
    assert.match(csp, /frame-ancestors 'none'/);
    const port = new URL(console1.url).port;
    const rebound = await new Promise<number>((resolve, reject) => {
      import('node:http').then(({ request }) => {
        const req = request({ host: '127.0.0.1', port, path: '/api/overview', headers: { host: `attacker.example:${port}` } }, (r) => {
          r.resume();
          resolve(r.statusCode!);
        });
        req.on('error', reject);
        req.end();
      }, reject);
    });
    assert.equal(rebound, 421);
  });
});

describe('web console with a token and writes enabled', () => {
  let tokenDir: string;
  before(() => {
    tokenDir = tempDir('console-token');
  });

  it('refuses a listen address beyond loopback without a token, and a token file others can read', async () => {
    const open = await runCli(['console', '--db', db, '--listen', '0.0.0.0:0']);
    assert.equal(open.code, 1);
    assert.match(open.stderr, /reachable from other machines: give the console a token/);
    const file = join(tokenDir, 'loose-token');
    writeFileSync(file, 'a-long-enough-token-1234');
    chmodSync(file, 0o644);
    const loose = await runCli(['console', '--db', db, '--token-file', file]);
    assert.equal(loose.code, 1);
    assert.match(loose.stderr, new RegExp(`chmod 600 ${file}`));
  });

  it('asks for the token, then shows the store; replays dead letters when writes are enabled', async () => {
    const file = join(tokenDir, 'token');
    const token = 'console-token-0123456789abcdef';
    writeFileSync(file, `${token}\n`, { mode: 0o600 });
    const running = await startConsoleProcess(['--db', db, '--token-file', file, '--allow-writes']);
    try {
      assert.equal((await fetch(`${running.url}api/overview`)).status, 401);
      assert.equal((await fetch(`${running.url}api/overview`, { headers: { authorization: 'Bearer wrong-token-0123456789abcd' } })).status, 401);
      const page = await newPage();
      await visit(page, running.url, '#/dead-letters');
      assert.equal(await page.locator('h1').textContent(), 'This console needs its access token');
      await page.getByLabel('Access token').fill(token);
      await page.getByLabel('Access token').press('Enter');
      await page.waitForSelector('[data-dead-letter]');
      assert.equal(await page.locator('#mode').textContent(), 'replay allowed');
      await page.getByRole('button', { name: 'Replay all dead letters' }).click();
      await page.waitForFunction(() => /Replayed/.test(document.querySelector('[role=status]')?.textContent ?? ''));
      assert.match((await page.locator('[role=status]').textContent())!, /^Replayed 1: 0 recovered \(0 events stored, 0 duplicates\), 1 still failing\.$/);
      await screenshot(page, 'token-replay');
      // A 401 before the token was given is the only failed request; nothing else went wrong.
      const problems = pages.at(-1)!.problems.filter((p) => !/401/.test(p));
      assert.deepEqual(problems, []);
    } finally {
      assert.equal(await running.stop(), 0);
    }
  });
});
