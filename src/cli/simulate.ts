/** `mimelog simulate`: the Mimecast API simulator, for demos and tests. */
import { join } from 'node:path';
import { type Command, Option } from 'commander';
import { V1_FAULTS, V2_FAULTS, parseFaults } from '../simulator/faults.js';
import { MimelogError, UsageError } from '../util/errors.js';
import { integerOption } from './options.js';

interface SimulateOptions {
  port: string;
  refuse?: string;
  dateSkewS?: string;
  otherRegion?: boolean;
  seed?: string;
  events: string;
  eventsPerFile: string;
  initialFiles?: string;
  growEveryMs?: string;
  faults: string;
  faultRate: string;
  faultSeed?: string;
  corruptFile: string[];
  expireBindingAfter?: string;
  rateLimit?: string;
  slowMs: string;
  writeExpected?: string;
  cloudIntegrated: string;
  format: 'key_value' | 'json'; // commander checks the choices
  horizons?: boolean;
  clock?: string;
  start?: string;
  spacingMs?: string;
  campaign: string;
}

const DAY_MS = 86_400_000;

function clockOption(value: string | undefined, flag = '--clock'): number | undefined {
  if (value === undefined) return undefined;
  const ms = Date.parse(value);
  if (Number.isNaN(ms)) throw new UsageError(`${flag} must be an ISO 8601 time, not "${value}"`);
  return ms;
}

/** Without --start, the newest event lands this long before now: the data is fresh, yet settled. */
const FRESH_LEAD_MS = 5 * 60_000;
/** The campaign starts this long before the newest event: inside "the last 24 hours". */
const CAMPAIGN_BEFORE_END_MS = 6 * 3_600_000;

/**
 * When the data starts: `--start`, or so that its newest event is a few minutes old (a living
 * demo: the console's last-24-hours charts show it); and when the campaign starts.
 */
async function dataTimes(o: { seed: number; events: number; eventsPerFile: number; spacingMs?: number; start?: number }): Promise<{ startMs: number; campaignMs: number }> {
  const { buildCatalog } = await import('../simulator/catalog.js');
  // The generator spaces events by seeded draws from the start: the span does not depend on it.
  const probe = buildCatalog({ seed: o.seed, events: o.events, eventsPerFile: o.eventsPerFile, startMs: 0, spacingMs: o.spacingMs });
  // A file's events are in generation order (a click comes later than its email): the newest of all of them.
  const spanMs = probe.reduce((m, f) => f.events.reduce((n, e) => Math.max(n, e.timeMs), m), 0);
  const startMs = o.start ?? Date.now() - spanMs - FRESH_LEAD_MS;
  return { startMs, campaignMs: Math.max(startMs, startMs + spanMs - CAMPAIGN_BEFORE_END_MS) };
}

const int = (value: string | undefined, flag: string) => integerOption(value, flag, 0);

/** `--date-skew-s`: whole seconds, either sign. */
function skewMs(text: string | undefined): number | undefined {
  if (text === undefined) return undefined;
  const n = Number(text);
  if (text.trim() === '' || !Number.isInteger(n)) throw new UsageError('--date-skew-s must be a whole number of seconds (negative: behind)');
  return n * 1000;
}

export function registerSimulate(program: Command): void {
  program
    .command('simulate')
    .description('serve a Mimecast API simulator on 127.0.0.1; prints one JSON line with its URL and credentials, then serves until stopped')
    .option('--port <port>', 'port (0: any free port)', '0')
    .option('--seed <n>', 'seed for the data, credentials and tokens (default: random)')
    .option('--events <n>', 'events to serve', '20000')
    .option('--events-per-file <n>', 'events per file at most', '500')
    .option('--initial-files <n>', 'files published at start (default: all)')
    .option('--grow-every-ms <ms>', 'publish one more file this often')
    .option('--faults <list>', `faults to inject: all, none, or a list of API 1.0 ${V1_FAULTS.join(', ')}; API 2.0 ${V2_FAULTS.join(', ')}`, 'none')
    .option('--fault-rate <p>', 'probability that a request meets a fault', '0.1')
    .option('--fault-seed <n>', 'seed for fault injection (default: the data seed)')
    .option('--corrupt-file <index>', 'serve this file (0-based) truncated, always (repeatable)', (v: string, acc: string[]) => [...acc, v], [] as string[])
    .option('--expire-binding-after <n>', 'after n requests every call answers 418 err_xdk_binding_expired')
    .option('--rate-limit <n/ms>', 'calls per window, e.g. 100/60000 (default 10000/3600000)')
    .option('--slow-ms <ms>', "delay of the 'slow' fault", '2000')
    .option('--cloud-integrated <messages>', 'also serve Cloud Integrated batch files (/siem/v1/batch/events/ci) for this many messages', '2000')
    .option('--write-expected <dir>', "write every file it will serve, as served, then serve: API 1.0 files to DIR/v1, API 2.0 batch files to DIR/v2, the POST feeds' records to DIR/feeds, Cloud Integrated's files to DIR/ci")
    .option('--horizons', "model Mimecast's horizons: files kept 7 days (API 1.0, API 2.0 batch), the stream's 24 h window, nothing newer than the clock")
    .option('--clock <iso>', 'with --horizons: the simulated time now (default: the newest event)')
    .option('--start <iso>', 'time of the first event (default: so that the newest event is about 5 minutes old)')
    .option('--spacing-ms <ms>', 'average time between generated emails (larger spreads the data over more time)', '700')
    .option('--campaign <recipients>', 'also serve a phishing campaign to this many recipients (some rejected, some held, some clicking), starting 6 hours before the newest event', '0')
    .option('--refuse <list>', "API 2.0: what the application may not read (403 err_insufficient_permissions): cg, ci, stream, or feed names")
    .option('--other-region', 'the account lives in another region: API 1.0 answers err_audit_log_incorrect_region, the API 2.0 token call 401')
    .option('--date-skew-s <seconds>', "every answer's Date header is this many seconds off (negative: behind)")
    .addOption(new Option('--format <format>', 'format of the files written by --write-expected').choices(['key_value', 'json']).default('key_value'))
    .action(async (o: SimulateOptions) => {
      const [{ MimecastSimulator, randomSeed }, { generateCampaign }] = await Promise.all([import('../simulator/server.js'), import('../simulator/generate.js')]); // only this command serves
      const seed = int(o.seed, '--seed') ?? randomSeed();
      let rateLimit: { limit: number; windowMs: number } | undefined;
      if (o.rateLimit) {
        const m = /^(\d+)\/(\d+)$/.exec(o.rateLimit);
        if (!m) throw new UsageError('--rate-limit must look like 100/60000');
        rateLimit = { limit: Number(m[1]), windowMs: Number(m[2]) };
      }
      let faults;
      try {
        const rate = Number(o.faultRate);
        if (o.faultRate.trim() === '' || !Number.isFinite(rate) || rate < 0 || rate > 1) throw new MimelogError('usage', '--fault-rate must be a probability between 0 and 1');
        faults = { enabled: parseFaults(o.faults), rate, seed: int(o.faultSeed, '--fault-seed') ?? seed };
      } catch (err) {
        throw new UsageError((err as Error).message);
      }
      const events = int(o.events, '--events')!;
      const eventsPerFile = int(o.eventsPerFile, '--events-per-file') ?? 500;
      const spacingMs = int(o.spacingMs, '--spacing-ms');
      const times = await dataTimes({ seed, events, eventsPerFile, spacingMs, start: clockOption(o.start, '--start') });
      const recipients = int(o.campaign, '--campaign')!;
      // Its own seed: the same seed would draw the ordinary mail's aCodes again.
      const campaign = recipients > 0 ? generateCampaign({ seed: seed + 1, startMs: times.campaignMs, recipients }) : undefined;
      const sim = new MimecastSimulator({
        port: int(o.port, '--port'),
        seed,
        events,
        eventsPerFile,
        startMs: times.startMs,
        spacingMs,
        extra: campaign?.events,
        initialFiles: int(o.initialFiles, '--initial-files'),
        growEveryMs: int(o.growEveryMs, '--grow-every-ms'),
        faults,
        corruptFiles: o.corruptFile.map((v) => int(v, '--corrupt-file')!),
        expireBindingAfter: int(o.expireBindingAfter, '--expire-binding-after'),
        rateLimit,
        slowMs: int(o.slowMs, '--slow-ms'),
        fileRetentionMs: o.horizons ? 7 * DAY_MS : undefined,
        clockMs: o.horizons ? clockOption(o.clock) : undefined,
        dateSkewMs: skewMs(o.dateSkewS),
        otherRegion: o.otherRegion,
        v2: { ...(o.horizons ? { streamWindowMs: DAY_MS } : {}), refused: o.refuse?.split(',').map((n) => n.trim()).filter(Boolean), cloudIntegrated: { messages: int(o.cloudIntegrated, '--cloud-integrated')! } },
      });
      if (o.writeExpected) {
        // Two sets: the same events as API 1.0 files and as API 2.0 batch files.
        sim.writeExpected(join(o.writeExpected, 'v1'), o.format);
        sim.v2.writeExpected(join(o.writeExpected, 'v2'));
        sim.v2.feeds.writeExpected(join(o.writeExpected, 'feeds'));
        sim.v2.writeExpectedCloudIntegrated(join(o.writeExpected, 'ci'));
      }
      const info = await sim.start();
      process.stdout.write(`${JSON.stringify({ ...info, seed, ...(campaign ? { campaign: { sender: campaign.sender, subject: campaign.subject, url: campaign.url, first_acode: campaign.recipients[0]!.acode, clicked_acode: campaign.recipients.find((r) => r.clicked)?.acode } } : {}) })}\n`);
      await new Promise<void>((resolve) => {
        process.once('SIGINT', resolve);
        process.once('SIGTERM', resolve);
      });
      await sim.stop();
      process.stderr.write(`mimelog simulate: stopped; faults injected: ${JSON.stringify(sim.injectedFaults)}\n`);
    });
}
