/**
 * The Sentinel destination against an Azure that misbehaves: a Retry-After that asks for no wait
 * at all (0, a date in 1970), again and again, must not turn into a busy loop of calls.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { emulator, openDestination, receipt, unitOf } from './azure.js';

describe('sentinel destination against a hostile Azure', () => {
  it('429 with Retry-After 0 or a date in 1970: waited at least the back-off each time, not sent again at once', async () => {
    const emu = emulator();
    await emu.start();
    try {
      const { dest } = await openDestination(emu.url);
      const past = 'Thu, 01 Jan 1970 00:00:00 GMT';
      emu.inject({ kind: '429', retryAfter: past }, { kind: '429', retryAfter: '0' }, { kind: '503', retryAfter: past }, { kind: '429', retryAfter: '0' });
      const started = Date.now();
      const report = await dest.deliver(await unitOf([receipt(1)]));
      const took = Date.now() - started;
      assert.deepEqual({ indexed: report.indexed, resent: report.resent }, { indexed: 1, resent: 4 });
      // Back-off from 250 ms, doubling, each at least half its ceiling: 125 + 250 + 500 + 1000 ms.
      assert.ok(took >= 1875, `four refusals waited ${took} ms in all`);
      await dest.close();
    } finally {
      await emu.stop();
    }
  });
});
