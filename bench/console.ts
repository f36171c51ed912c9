/**
 * The web console's API over HTTP on a store of ≥1M events with a phishing campaign in it:
 * latency of each page's question next to a trivial API call (/api/info) in the same run, the
 * floor that HTTP and JSON cost on this machine.
 */
import { existsSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { startConsole } from '../src/console/server.js';
import { Store } from '../src/store/store.js';
import { generateCampaign, toKeyValueLine } from '../src/simulator/generate.js';
import { BENCH_DIR, type Row, START_MS, corpusFile, runMimelog, sampleEvents, timeAsync } from './common.js';

function percentile(values: number[], p: number): number {
  const s = [...values].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))]!;
}

export async function benchConsole(count: number): Promise<{ rows: Row[]; results: Record<string, unknown> }> {
  const db = join(BENCH_DIR, `console-${count}.db`);
  const campaign = generateCampaign({ seed: 77, startMs: START_MS + 3 * 86_400_000, recipients: 200 });
  if (!existsSync(db)) {
    const file = await corpusFile(`kv-${count}.log`, count, toKeyValueLine);
    const campaignFile = join(BENCH_DIR, 'campaign.log');
    writeFileSync(campaignFile, campaign.events.map(toKeyValueLine).join('\n'));
    // Built under another name and renamed when whole, so an interrupted build is never reused.
    const partial = `${db}.partial`;
    for (const suffix of ['', '-wal', '-shm']) rmSync(partial + suffix, { force: true });
    runMimelog(['ingest', '--db', partial, file, campaignFile, '--summary', 'none']);
    renameSync(partial, db);
  }
  const store = new Store(db, { readonly: true });
  const running = await startConsole({ store, host: '127.0.0.1', port: 0, loopback: true });
  const sample = sampleEvents(store.db, 'delivery', 997, 20) as { message_id: string; sender: string }[];
  const seed = campaign.recipients[0]!.acode;
  const questions: Record<string, (i: number) => string> = {
    'info (floor: HTTP + JSON)': () => 'api/info',
    overview: () => 'api/overview',
    'search, newest 50': () => 'api/search',
    'search by address': (i) => `api/search?address=${encodeURIComponent(sample[i % sample.length]!.sender)}`,
    'search by words': () => 'api/search?text=invoice',
    'trace by message id': (i) => `api/trace?q=${encodeURIComponent(sample[i % sample.length]!.message_id)}`,
    'who else (200-recipient campaign)': () => `api/who?q=${seed}`,
    'threats, everything': () => 'api/threats',
  };
  const results: Record<string, { p50: number; p95: number }> = {};
  for (const [name, path] of Object.entries(questions)) {
    const ms: number[] = [];
    for (let i = 0; i < 21; i++) {
      const t = await timeAsync(async () => {
        const res = await fetch(`${running.url}${path(i)}`);
        if (!res.ok) throw new Error(`${path(i)}: HTTP ${res.status}`);
        return res.arrayBuffer();
      });
      if (i > 0) ms.push(t.ms); // the first call warms SQLite's page cache
    }
    results[name] = { p50: +percentile(ms, 50).toFixed(1), p95: +percentile(ms, 95).toFixed(1) };
  }
  await running.close();
  store.close();
  const floor = results['info (floor: HTTP + JSON)']!.p50;
  const rows: Row[] = [
    { name: 'events in the store', value: (count + campaign.events.length).toLocaleString('en') },
    ...Object.entries(results).map(([name, r]) => ({ name, value: `p50 ${r.p50} ms, p95 ${r.p95} ms${name.startsWith('info') ? '' : `  (${(r.p50 / floor).toFixed(0)}× the floor)`}` })),
  ];
  return { rows, results: { events: count, ...results } };
}
