// The README's console screenshots, made from a demo store: the simulator serves the demo's data
// (seed 2026, 20,000 events over about two days ending a few minutes ago, a phishing campaign to
// 40 people six hours ago; as `npm run demo`, less its faults, which change nothing stored), the
// real API 1.0 client collects it, `mimelog console` serves it on loopback, and the headless
// Chromium the tests use (test/support/browser.ts) takes docs/images/{overview,threats,trace,who}.png.
// Needs a build (`npm run build`). Run: node scripts/screenshots.mjs
import { spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
// The tests' own browser and console launchers (compiled by the build).
import { launchBrowser, startConsoleProcess } from '../dist/test/support/browser.js';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const bin = join(root, 'bin', 'mimelog');
const images = join(root, 'docs', 'images');
/** README images stay small: a page's first screen, not the whole page. */
const MAX_BYTES = 300 * 1024;

/** Runs `mimelog ARGS` to its end; its stdout, or an error with its stderr. */
function mimelog(args, env = {}) {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [bin, ...args], { cwd: root, env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.on('data', (c) => (out += c));
    child.stderr.on('data', (c) => (err += c));
    child.once('exit', (code) => (code === 0 || code === 2 ? resolve(out) : reject(new Error(`mimelog ${args[0]} exited ${code}: ${err.slice(-2000)}`))));
  });
}

/** Starts `mimelog simulate ARGS`; resolves with its process and the JSON line it prints first. */
function simulate(args) {
  const child = spawn(process.execPath, [bin, 'simulate', ...args], { cwd: root, stdio: ['ignore', 'pipe', 'ignore'] });
  return new Promise((resolve, reject) => {
    let text = '';
    const onData = (c) => {
      text += c;
      const end = text.indexOf('\n');
      if (end < 0) return;
      child.stdout.off('data', onData);
      child.stdout.resume();
      resolve({ child, info: JSON.parse(text.slice(0, end)) });
    };
    child.stdout.on('data', onData);
    child.once('exit', (code) => reject(new Error(`mimelog simulate exited ${code}`)));
  });
}

function stop(child) {
  if (!child || child.exitCode !== null) return Promise.resolve();
  return new Promise((done) => {
    child.once('exit', done);
    child.kill('SIGTERM');
  });
}

const dir = mkdtempSync(join(tmpdir(), 'mimelog-screenshots-'));
const db = join(dir, 'mimelog.db');
let sim;
let console_;
let browser;
try {
  sim = await simulate(['--seed', '2026', '--events', '20000', '--spacing-ms', '36000', '--campaign', '40']);
  const info = sim.info;
  const c = info.credentials;
  const env = { MIMECAST_APP_ID: c.appId, MIMECAST_APP_KEY: c.appKey, MIMECAST_ACCESS_KEY: c.accessKey, MIMECAST_SECRET_KEY: c.secretKey };
  await mimelog(['collect', '--api', 'v1', '--url', info.url, '--db', db, '--once', '--log-level', 'warn'], env);
  await mimelog(['ingest', '--db', db, '--summary', 'none', join(root, 'samples', 'understanding-siem-logs.kv')]);
  // As the demo: an email whose delivery needed a retry makes the most telling trace.
  const deliveries = (await mimelog(['search', '--db', db, '--type', 'delivery', '--limit', '5000', '--json'])).trim().split('\n').map((l) => JSON.parse(l));
  const traced = (deliveries.find((d) => d.mimecast.Attempt > 1) ?? deliveries[0]).email.message_id;
  const reported = info.campaign.clicked_acode;

  console_ = await startConsoleProcess(['--db', db]);
  const base = console_.url;
  browser = await launchBrowser();
  const context = await browser.newContext({ viewport: { width: 1280, height: 860 }, timezoneId: 'UTC', locale: 'en-US' });
  const page = await context.newPage();
  mkdirSync(images, { recursive: true });
  // name, route, charts to wait for, height shown (the trace is short; Threats' verdict charts sit low).
  const shots = [
    ['overview', '#/', 2, 860],
    ['threats', '#/threats?days=7', 2, 1240],
    ['trace', `#/trace?q=${encodeURIComponent(traced)}`, 0, 450],
    ['who', `#/who?q=${encodeURIComponent(reported)}`, 0, 860],
  ];
  for (const [name, hash, charts, height] of shots) {
    await page.setViewportSize({ width: 1280, height });
    await page.goto(`${base}${hash}`);
    await page.waitForSelector('main[data-page]:not([aria-busy])');
    // Chart.js draws on the next frame: wait until the page's charts have a size.
    await page.waitForFunction((n) => [...document.querySelectorAll('canvas')].filter((el) => el.width > 0 && el.height > 0).length >= n, charts);
    await page.evaluate(() => new Promise((r) => requestAnimationFrame(() => requestAnimationFrame(r))));
    const path = join(images, `${name}.png`);
    await page.screenshot({ path });
    const bytes = statSync(path).size;
    if (bytes > MAX_BYTES) throw new Error(`${path} is ${bytes} bytes, over ${MAX_BYTES}`);
    process.stdout.write(`${path} (${Math.round(bytes / 1024)} KB)\n`);
  }
} finally {
  await browser?.close();
  await console_?.stop();
  await stop(sim?.child);
  rmSync(dir, { recursive: true, force: true });
}
