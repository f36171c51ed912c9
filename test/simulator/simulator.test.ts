import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import yauzl from 'yauzl';
import { SIEM_PATH_V1 } from '../../src/mimecast/endpoints.js';
import { mcDate, signedHeaders } from '../../src/mimecast/v1-auth.js';
import { startSimulator } from '../support/simulator.js';

async function call(url: string, headers: Record<string, string>, body: object): Promise<Response> {
  return fetch(new URL(SIEM_PATH_V1, url), { method: 'POST', headers: { ...headers, 'content-type': 'application/json' }, body: JSON.stringify(body) });
}

function zipMembers(bytes: Buffer): Promise<string[]> {
  return new Promise((resolve, reject) =>
    yauzl.fromBuffer(bytes, { lazyEntries: true }, (err, zip) => {
      if (err || !zip) return reject(err);
      const names: string[] = [];
      zip.on('entry', (e: yauzl.Entry) => {
        names.push(e.fileName);
        zip.readEntry();
      });
      zip.on('end', () => resolve(names));
      zip.readEntry();
    }),
  );
}

const req = (token?: string, extra: object = {}) => ({ data: [{ type: 'MTA', fileFormat: 'key_value', compress: false, ...(token ? { token } : {}), ...extra }] });

describe('Mimecast API simulator (API 1.0)', () => {
  it('verifies the HMAC signature, the date and the application', async () => {
    const r = await startSimulator({ seed: 1, events: 200 });
    const good = signedHeaders(r.info.credentials, SIEM_PATH_V1);
    const cases: [Record<string, string>, number, string][] = [
      [{ ...good, Authorization: good.Authorization!.replace(/.{4}$/, 'AAA=') }, 401, 'err_xdk_signature_mismatch'],
      [signedHeaders({ ...r.info.credentials, secretKey: Buffer.from('other').toString('base64') }, SIEM_PATH_V1), 401, 'err_xdk_signature_mismatch'],
      [signedHeaders(r.info.credentials, SIEM_PATH_V1, Date.now() - 20 * 60_000), 401, 'err_xdk_request_date_invalid'],
      [{ ...good, 'x-mc-app-id': 'someone-else' }, 401, 'err_developer_key'],
      [{ 'x-mc-date': mcDate(Date.now()) }, 401, 'err_xdk_missing_headers'],
    ];
    for (const [headers, status, code] of cases) {
      const res = await call(r.info.url, headers, req());
      assert.equal(res.status, status);
      assert.equal(((await res.json()) as any).fail[0].errors[0].code, code);
    }
    const ok = await call(r.info.url, good, req());
    assert.equal(ok.status, 200);
    await r.sim.stop();
  });

  it('serves one file per call along the token chain, then isLastToken', async () => {
    const r = await startSimulator({ seed: 2, events: 3000, eventsPerFile: 400 });
    let token: string | undefined;
    let events = 0;
    const names: string[] = [];
    for (;;) {
      const res = await call(r.info.url, signedHeaders(r.info.credentials, SIEM_PATH_V1), req(token));
      assert.equal(res.status, 200);
      if (res.headers.get('content-type')!.includes('json')) {
        const body = (await res.json()) as any;
        assert.equal(body.meta.isLastToken, true);
        break;
      }
      const name = /filename="([^"]+)"/.exec(res.headers.get('content-disposition')!)![1]!;
      names.push(name);
      events += (await res.text()).trim().split('\n').length;
      assert.ok(res.headers.get('x-ratelimit-limit'));
      token = res.headers.get('mc-siem-token')!;
    }
    assert.equal(events, 3000);
    assert.equal(names.length, r.sim.catalog.length);
    assert.ok(names.every((n) => /^(receipt|process|delivery|jrnl|av|spameventthread|iep|impersonation|ttp_url|ttp_ap)_\d{17}\.log$/.test(n)), names.join());
    // The last token keeps answering isLastToken; an unknown token is refused.
    const again = await call(r.info.url, signedHeaders(r.info.credentials, SIEM_PATH_V1), req(token));
    assert.equal(((await again.json()) as any).meta.isLastToken, true);
    const bad = await call(r.info.url, signedHeaders(r.info.credentials, SIEM_PATH_V1), req('bm90LWEtdG9rZW4'));
    assert.equal(((await bad.json()) as any).fail[0].errors[0].code, 'err_audit_siem_invalid_token');
    await r.sim.stop();
  });

  it('zips each file with a member named by type and an opaque outer name', async () => {
    const r = await startSimulator({ seed: 3, events: 500 });
    const res = await call(r.info.url, signedHeaders(r.info.credentials, SIEM_PATH_V1), req(undefined, { compress: true, fileFormat: 'json' }));
    assert.match(res.headers.get('content-disposition')!, /filename="[0-9a-f-]{36}\.zip"/);
    const members = await zipMembers(Buffer.from(await res.arrayBuffer()));
    assert.equal(members.length, 1);
    assert.match(members[0]!, /^[a-z_]+_\d{17}\.json$/);
    await r.sim.stop();
  });

  it('enforces its rate limit with X-RateLimit-* headers and 429', async () => {
    const r = await startSimulator({ seed: 4, events: 500, rateLimit: { limit: 3, windowMs: 60_000 } });
    const statuses: number[] = [];
    let reset = '';
    for (let i = 0; i < 5; i++) {
      const res = await call(r.info.url, signedHeaders(r.info.credentials, SIEM_PATH_V1), req());
      statuses.push(res.status);
      reset = res.headers.get('x-ratelimit-reset')!;
      await res.arrayBuffer();
    }
    assert.deepEqual(statuses, [200, 200, 200, 429, 429]);
    assert.ok(Number(reset) > 0 && Number(reset) <= 60_000);
    await r.sim.stop();
  });

  it('publishes new files while it runs', async () => {
    // The next file appears GROW_MS after the simulator started (within startSimulator): the two
    // calls before it need that long at most even on a loaded machine (300 ms was not always enough).
    const GROW_MS = 2_000;
    const r = await startSimulator({ seed: 5, events: 2000, eventsPerFile: 200, initialFiles: 1, growEveryMs: GROW_MS });
    const startedBy = Date.now();
    const first = await call(r.info.url, signedHeaders(r.info.credentials, SIEM_PATH_V1), req());
    const token = first.headers.get('mc-siem-token')!;
    await first.arrayBuffer();
    const caught = await call(r.info.url, signedHeaders(r.info.credentials, SIEM_PATH_V1), req(token));
    assert.equal(((await caught.json()) as any).meta.isLastToken, true);
    while (Date.now() <= startedBy + GROW_MS) await new Promise((res) => setTimeout(res, startedBy + GROW_MS + 1 - Date.now()));
    const later = await call(r.info.url, signedHeaders(r.info.credentials, SIEM_PATH_V1), req(token));
    assert.equal(later.headers.get('content-type'), 'application/octet-stream');
    await later.arrayBuffer();
    await r.sim.stop();
  });
});
