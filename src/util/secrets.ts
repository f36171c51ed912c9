/**
 * Every secret mimelog holds, and every form in which one can reach an output: raw, URL-encoded
 * (path and form, `+` for a space), JSON-escaped (a secret holding `"` or `\`), a JSON-escaped
 * encoded form, and the base64 of `user:password` of a Basic header. One registry for the whole
 * process: the logger and the error printer mask with it, whoever registered the secret.
 */

/** Shorter values are not masked: they would mask ordinary words and numbers. */
const MIN_SECRET_LENGTH = 4;

const MASK = '[redacted]';

/** The JSON string body of `s`, without its quotes: how a secret appears inside a JSON line. */
function jsonEscaped(s: string): string {
  return JSON.stringify(s).slice(1, -1);
}

/** The forms of one secret that an output may carry. */
export function secretForms(secret: string): string[] {
  const percent = encodeURIComponent(secret);
  // Percent-encoding may use lower-case hex (RFC 3986 allows both): `%2f` as well as `%2F`.
  const encoded = [secret, percent, percent.replace(/%[0-9A-F]{2}/g, (h) => h.toLowerCase()), new URLSearchParams({ s: secret }).toString().slice(2)];
  return [...new Set(encoded.flatMap((e) => [e, jsonEscaped(e), jsonEscaped(jsonEscaped(e))]))];
}

export class Secrets {
  /** Every form of every secret, longest first so that a secret inside another is masked whole. */
  private forms: string[] = [];

  /** Registers values that must never appear in output (short or empty values are ignored). */
  add(...values: (string | undefined)[]): void {
    const next = new Set(this.forms);
    for (const v of values) if (v && v.length >= MIN_SECRET_LENGTH) for (const f of secretForms(v)) next.add(f);
    this.forms = [...next].sort((a, b) => b.length - a.length);
  }

  /** Forgets values added before (an access token long replaced), so that a registry fed for months stays small. */
  remove(...values: (string | undefined)[]): void {
    const drop = new Set(values.flatMap((v) => (v ? secretForms(v) : [])));
    this.forms = this.forms.filter((f) => !drop.has(f));
  }

  /** A Basic `Authorization` credential: the password, and the header's base64 of `user:password`. */
  addBasicAuth(user: string, password: string): void {
    this.add(password, Buffer.from(`${user}:${password}`).toString('base64'));
  }

  /** `text` with every form of every secret replaced by `[redacted]`. */
  mask(text: string): string {
    let out = text;
    for (const f of this.forms) if (out.includes(f)) out = out.split(f).join(MASK);
    return out;
  }
}

/** The process's secrets: what reads a secret registers it here (through a Logger or directly). */
export const SECRETS = new Secrets();

/** `text` with every registered secret masked: for any output that is not a log line (errors, pages). */
export function maskSecrets(text: string): string {
  return SECRETS.mask(text);
}
