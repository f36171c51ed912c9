/**
 * A real headless Chromium (Debian's `chromium`, or MIMELOG_CHROMIUM) driven by playwright-core,
 * and a `mimelog console` process to point it at. Pages collect every console error, page error
 * and failed request, so a test can say "no errors on this page".
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { type Browser, type Page, chromium } from 'playwright-core';
import { BIN, ROOT } from './helpers.js';

export const CHROMIUM = process.env.MIMELOG_CHROMIUM ?? '/usr/bin/chromium';
/** Screenshots of every browser test, kept after the run for a person to look at. */
export const SCREENSHOTS = join(ROOT, 'dist', 'test-screenshots');

export function launchBrowser(): Promise<Browser> {
  return chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox'] });
}

export interface WatchedPage {
  readonly page: Page;
  /** Console errors and warnings, uncaught exceptions and failed requests, as text. */
  readonly problems: string[];
}

export async function openPage(browser: Browser, options: { timezoneId?: string } = {}): Promise<WatchedPage> {
  const context = await browser.newContext({ viewport: { width: 1366, height: 900 }, timezoneId: options.timezoneId ?? 'UTC', locale: 'en-US' });
  const page = await context.newPage();
  const problems: string[] = [];
  page.on('console', (m) => {
    if (m.type() === 'error' || m.type() === 'warning') problems.push(`console ${m.type()}: ${m.text()}`);
  });
  page.on('pageerror', (e) => problems.push(`page error: ${e.message}`));
  page.on('requestfailed', (r) => problems.push(`request failed: ${r.url()} ${r.failure()?.errorText ?? ''}`));
  return { page, problems };
}

/** Goes to a console route and waits until the page has rendered it. */
export async function visit(page: Page, base: string, hash: string): Promise<void> {
  await page.goto(`${base}${hash}`);
  await settled(page);
}

/**
 * The page of the current address has rendered: the router marks what it shows with the hash it
 * rendered and clears aria-busy. Waiting for "not busy" alone is a race: right after a click the
 * previous page is still shown, not yet busy, until the hashchange event arrives.
 */
export async function settled(page: Page): Promise<void> {
  await page.waitForFunction(() => {
    const main = document.querySelector('main');
    return main !== null && !main.hasAttribute('aria-busy') && main.getAttribute('data-hash') === location.hash;
  });
}

export async function screenshot(page: Page, name: string): Promise<void> {
  mkdirSync(SCREENSHOTS, { recursive: true });
  await page.screenshot({ path: join(SCREENSHOTS, `${name}.png`), fullPage: true });
}

export interface RunningConsole {
  readonly url: string;
  readonly child: ChildProcess;
  stop(): Promise<number | null>;
}

/** Starts `mimelog console ARGS --listen 127.0.0.1:0` and reads its address from the line it prints. */
export function startConsoleProcess(args: readonly string[], env: NodeJS.ProcessEnv = {}): Promise<RunningConsole> {
  const child = spawn(process.execPath, [BIN, 'console', '--listen', '127.0.0.1:0', ...args], { cwd: ROOT, env: { ...process.env, ...env }, stdio: ['ignore', 'ignore', 'pipe'] });
  return new Promise((resolve, reject) => {
    let err = '';
    const onData = (chunk: Buffer) => {
      err += chunk.toString();
      const m = /mimelog console: (http:\/\/\S+)/.exec(err);
      if (!m) return;
      child.stderr!.off('data', onData);
      child.stderr!.resume();
      resolve({
        url: m[1]!,
        child,
        stop: () => new Promise((done) => {
          if (child.exitCode !== null) return done(child.exitCode);
          child.once('exit', (code) => done(code));
          child.kill('SIGTERM');
        }),
      });
    };
    child.stderr!.on('data', onData);
    child.once('exit', (code) => reject(new Error(`mimelog console exited with ${code}: ${err}`)));
  });
}
