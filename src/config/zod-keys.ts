/**
 * Zod keys shared by the service config and the destinations' `sink:` keys: enumerations with a
 * plain message, http(s) URLs without credentials, number settings (declared once in
 * settings.ts) and CA files checked when the config is read.
 */
import { z } from 'zod';
import { type DefaultContext, NUMBER_SETTINGS, type NumberSettingName, defaultOf, numberProblem, setting } from './settings.js';
import { UnreadableFile, readCaFile } from './read-file.js';

export const listed = (values: readonly string[]) => values.map((v) => JSON.stringify(v)).join(', ');
export const oneOf = <T extends string>(values: readonly [T, ...T[]], what: string) =>
  z.enum(values, { error: (iss) => `unknown ${what} ${JSON.stringify(iss.input)}, expected one of ${listed(values)}` });

/** An http(s) URL without a user or password in it: those would be logged and sent on every retry. */
export const url = z.url({ protocol: /^https?$/, error: 'an http(s) URL' })
  .refine((u) => !URL.canParse(u) || (new URL(u).username === '' && new URL(u).password === ''), 'must not carry a user name or password: give credentials under credentials: (or user/password for a sink)');

/** The config key of a setting and its type: optional when it has no default there. */
type KeyOf<N extends NumberSettingName> = (typeof NUMBER_SETTINGS)[N] extends { key: infer K extends string } ? K : never;
type NumberKeys<N extends NumberSettingName> = {
  [P in N as KeyOf<P>]: (typeof NUMBER_SETTINGS)[P] extends { default: number } | { defaults: object } ? z.ZodDefault<z.ZodNumber> : z.ZodOptional<z.ZodNumber>;
};

/** The keys of these settings, each with its bounds and its default in `context` (the table's). */
export function numberKeys<const N extends NumberSettingName>(names: readonly N[], context?: DefaultContext): NumberKeys<N> {
  const entries = names.map((n) => {
    const s = setting(n);
    // YAML's .nan, .inf and 1e400 are numbers JSON cannot spell (it would say null).
    const base = z.number({ error: (iss) => (typeof iss.input === 'number' ? `not a finite number (${iss.input})` : `expected a number, not ${JSON.stringify(iss.input)}`) }).check((ctx) => {
      const problem = numberProblem(s, ctx.value);
      if (problem !== undefined) ctx.issues.push({ code: 'custom', message: problem, input: ctx.value });
    });
    const fallback = context === undefined ? s.default : defaultOf(s, context);
    return [s.key!, fallback === undefined ? base.optional() : base.default(fallback)];
  });
  return Object.fromEntries(entries) as NumberKeys<N>;
}

/** Checked here so that `run --check` fails on it, not the first connection (a FIFO would hang it). */
export const caFile = z.string().min(1).check((ctx) => {
  try {
    readCaFile(ctx.value);
  } catch (err) {
    if (!(err instanceof UnreadableFile)) throw err;
    ctx.issues.push({ code: 'custom', message: `cannot use ${ctx.value} as a CA file (${err.message})`, input: ctx.value });
  }
});

