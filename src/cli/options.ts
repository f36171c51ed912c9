/** Parsers for option values commander's `choices` cannot check. */
import { UsageError } from '../util/errors.js';

/** An integer option's value, at least `min`; undefined when the option was not given. */
export function integerOption(value: string | undefined, flag: string, min: number): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (!Number.isInteger(n) || n < min) throw new UsageError(`${flag} must be an integer ≥ ${min}`);
  return n;
}
