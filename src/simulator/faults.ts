/**
 * Seeded fault injection for the simulator. Transient faults hit a request with a set
 * probability and pass on retry; one-shot faults (invalid token) happen once per run; permanent
 * faults (a corrupt file) happen every time that file is served.
 */
import { Rng } from './generate.js';
import { MimelogError } from '../util/errors.js';

/** Faults of API 1.0 calls. */
export const V1_FAULTS = ['429', '5xx', 'reset', 'slow', 'empty', 'truncated-zip', 'truncated-json', 'fail200', 'invalid-token'] as const;
/**
 * Faults of API 2.0 calls. `429` and `5xx` hit listings, stream pages and downloads; the content
 * faults (`malformed-line`, `long-line`) are permanent: chosen files always hold them. `fail200`
 * (HTTP 200 with a retryable `fail[]`) hits the other feeds' POST calls.
 */
export const V2_FAULTS = ['429', '5xx', 'expired-url', 'truncated-gzip', 'empty-page', 'token-expiry', 'malformed-line', 'long-line', 'fail200'] as const;
export const TRANSIENT_FAULTS = [...new Set([...V1_FAULTS, ...V2_FAULTS])] as readonly (typeof V1_FAULTS[number] | typeof V2_FAULTS[number])[];
export type Fault = (typeof TRANSIENT_FAULTS)[number];
export type V2Fault = (typeof V2_FAULTS)[number];

export interface FaultOptions {
  /** Faults switched on (`all` or a list). */
  readonly enabled: readonly Fault[];
  /** Probability that a request meets one of the enabled faults. */
  readonly rate: number;
  readonly seed: number;
}

export function parseFaults(spec: string): Fault[] {
  if (spec.trim() === '' || spec === 'none') return [];
  if (spec === 'all') return [...TRANSIENT_FAULTS];
  const list = spec.split(',').map((s) => s.trim());
  for (const f of list) if (!(TRANSIENT_FAULTS as readonly string[]).includes(f)) throw new MimelogError('usage', `unknown fault "${f}" (known: ${TRANSIENT_FAULTS.join(', ')})`);
  return list as Fault[];
}

export class FaultPlan {
  private readonly rng: Rng;
  private burst = 0;
  private invalidTokenDone = false;
  readonly injected = new Map<string, number>();

  constructor(private readonly options: FaultOptions) {
    this.rng = new Rng(options.seed);
  }

  isEnabled(f: Fault): boolean {
    return this.options.enabled.includes(f);
  }

  /** The fault for the next request, if any; `applicable` says which make sense for it. */
  next(applicable: (f: Fault) => boolean): Fault | undefined {
    if (this.burst > 0 && applicable('429')) {
      this.burst--;
      return this.count('429');
    }
    if (this.options.enabled.length === 0 || !this.rng.chance(this.options.rate)) return undefined;
    const candidates = this.options.enabled.filter((f) => applicable(f) && !(f === 'invalid-token' && this.invalidTokenDone));
    if (candidates.length === 0) return undefined;
    const f = this.rng.pick(candidates);
    if (f === '429') this.burst = this.rng.int(1, 3); // 429s come in bursts
    if (f === 'invalid-token') this.invalidTokenDone = true;
    return this.count(f);
  }

  private count(f: Fault): Fault {
    this.injected.set(f, (this.injected.get(f) ?? 0) + 1);
    return f;
  }
}
