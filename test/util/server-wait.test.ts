/** Waits a server asks for are capped; token lifetimes are held to a sane range; a timer never overflows into a 1 ms loop. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { serverWaitMs } from '../../src/util/rate-budget.js';
import { sleep } from '../../src/util/backoff.js';
import { TOKEN_LIFETIME_S, tokenLifetimeS } from '../../src/sources/mimecast-v2/oauth.js';

const headers = (h: Record<string, string>) => new Headers(h);

describe('server-given waits', () => {
  it('reads X-RateLimit-Reset (ms), else Retry-After (seconds or an HTTP date), capped with a note', () => {
    const now = Date.UTC(2026, 11, 6, 12);
    assert.deepEqual(serverWaitMs(headers({ 'x-ratelimit-reset': '1500' }), 60_000, now), { ms: 1500, note: '' });
    assert.deepEqual(serverWaitMs(headers({ 'retry-after': '7' }), 60_000, now), { ms: 7000, note: '' });
    assert.equal(serverWaitMs(headers({ 'retry-after': new Date(now + 30_000).toUTCString() }), 60_000, now).ms, 30_000);
    assert.equal(serverWaitMs(headers({ 'retry-after': new Date(now - 30_000).toUTCString() }), 60_000, now).ms, 0);
    const capped = serverWaitMs(headers({ 'x-ratelimit-reset': '999999999' }), 60_000, now);
    assert.equal(capped.ms, 60_000);
    assert.equal(capped.askedMs, 999999999);
    assert.match(capped.note, /asked to wait 999999999 ms; capped at 60000 ms/);
    assert.equal(serverWaitMs(headers({ 'retry-after': '99999999999' }), 60_000, now).ms, 60_000);
    for (const junk of ['-5', 'NaN', 'soon', '']) assert.equal(serverWaitMs(headers({ 'x-ratelimit-reset': junk, 'retry-after': junk }), 60_000, now).ms, undefined, junk);
  });

  it('sleep holds a delay past 2^31 ms instead of firing after 1 ms, and treats NaN as none', async () => {
    const stop = new AbortController();
    let woke = false;
    const long = sleep(2 ** 32, stop.signal).then((r) => (woke = r));
    await sleep(50);
    assert.equal(woke, false, 'still sleeping');
    stop.abort();
    assert.equal(await long, false);
    const started = Date.now();
    assert.equal(await sleep(Number.NaN), true);
    assert.ok(Date.now() - started < 100);
  });
});

describe('OAuth token lifetime', () => {
  it('holds expires_in to a sane range: 0, negative, NaN at the minimum; huge at the maximum; missing is the default', () => {
    for (const v of [0, -100, Number.NaN, 'abc', Number.NEGATIVE_INFINITY, 5]) assert.equal(tokenLifetimeS(v), TOKEN_LIFETIME_S.min, String(v));
    for (const v of [1e12, Number.POSITIVE_INFINITY]) assert.equal(tokenLifetimeS(v), v === Number.POSITIVE_INFINITY ? TOKEN_LIFETIME_S.min : TOKEN_LIFETIME_S.max, String(v));
    assert.equal(tokenLifetimeS(undefined), TOKEN_LIFETIME_S.default);
    assert.equal(tokenLifetimeS('3600'), 3600);
  });
});
