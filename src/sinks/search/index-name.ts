/**
 * Which index an event goes to, from the event's own time (UTC), never from the time it was
 * sent: a re-sent event always meets its earlier copy, so `create` with the same `_id` finds it,
 * even when the two sends straddle midnight.
 */
import { MimelogError } from '../../util/errors.js';

const TOKENS: Record<string, (d: Date) => string> = {
  yyyy: (d) => String(d.getUTCFullYear()).padStart(4, '0'),
  MM: (d) => String(d.getUTCMonth() + 1).padStart(2, '0'),
  dd: (d) => String(d.getUTCDate()).padStart(2, '0'),
};
const TOKEN = /\{(\w+)\}/g;

export const DEFAULT_INDEX_PATTERN = 'mimecast-siem-{yyyy}.{MM}.{dd}';

export class IndexNamer {
  private lastDay = Number.NaN;
  private lastName = '';

  constructor(readonly pattern: string) {
    for (const [, token] of pattern.matchAll(TOKEN)) {
      if (!(token! in TOKENS)) throw new MimelogError('usage', `index pattern ${pattern}: unknown token {${token}} (known: ${Object.keys(TOKENS).map((t) => `{${t}}`).join(' ')})`);
    }
    const literal = pattern.replace(TOKEN, '');
    if (literal !== literal.toLowerCase() || /[\\/*?"<>| ,#:]/.test(literal) || /^[-_+]/.test(pattern)) {
      throw new MimelogError('usage', `index pattern ${pattern}: index names must be lower case, not start with - _ +, and hold no \\ / * ? " < > | , # : or spaces`);
    }
  }

  /** The index for an event at `timeMs` (ms since the epoch). */
  indexFor(timeMs: number): string {
    const day = Math.floor(timeMs / 86_400_000);
    if (day !== this.lastDay) {
      const d = new Date(day * 86_400_000);
      this.lastName = this.pattern.replace(TOKEN, (_m, token: string) => TOKENS[token]!(d));
      this.lastDay = day;
    }
    return this.lastName;
  }

  /** The wildcard every name matches (for the index template). */
  wildcard(): string {
    return this.pattern.replace(TOKEN, '*').replace(/\*+/g, '*');
  }
}
