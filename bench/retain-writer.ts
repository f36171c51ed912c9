/**
 * Child process for the retention benchmark: writes units of 100 new events into the store as a
 * collector does, one after another, and on SIGTERM prints how long the slowest write took (the
 * longest stall a retention pass in another process caused) and how many it wrote.
 */
import { buildTransformer } from '../src/cli/ingest.js';
import { decodeBytes } from '../src/decode/input.js';
import { takeEvents, toKeyValueLine } from '../src/simulator/generate.js';
import { Store } from '../src/store/store.js';

const store = new Store(process.argv[2]!);
const { transformer } = buildTransformer({ original: true });
const block = (n: number) => takeEvents({ seed: 77 + n, startMs: Date.UTC(2027 + n, 0, 1) }, 200_000).map(toKeyValueLine);
let blocks = 0;
let lines = block(blocks);
let stop = false;
process.on('SIGTERM', () => { stop = true; });
let longest = 0;
let written = 0;
let at = 0;
process.stdout.write('ready\n');
// Writes until stopped: a retention pass may outlast one block of new events.
while (!stop) {
  if (at >= lines.length) {
    lines = block(++blocks);
    at = 0;
  }
  const text = lines.slice(at, at + 100).join('\n');
  at += 100;
  for await (const batch of decodeBytes(`writer-${at}`, Buffer.from(text))) {
    const unit = transformer.process(batch);
    const t0 = performance.now();
    store.writeUnit(unit);
    longest = Math.max(longest, performance.now() - t0);
    written += unit.events.length;
  }
  await new Promise((resolve) => setImmediate(resolve));
}
store.close();
process.stdout.write(`${JSON.stringify({ longestWriteMs: Math.round(longest), written })}\n`);
