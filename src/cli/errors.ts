/** An error meant for the user: printed as one line, exit status 1. */
export class UsageError extends Error {}

/** Exit statuses, documented in the README. */
export const EXIT = { ok: 0, failure: 1, deadLettered: 2, interrupted: 3, gap: 4 } as const;

/** An integer option's value, at least `min`; undefined when the option was not given. */
export function integerOption(value: string | undefined, flag: string, min: number): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (!Number.isInteger(n) || n < min) throw new UsageError(`${flag} must be an integer ≥ ${min}`);
  return n;
}
