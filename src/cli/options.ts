/**
 * Command-line options made from the settings table (config/settings.ts): each numeric flag is
 * parsed and bounds-checked by commander as it reads the command line, so an action only ever
 * sees numbers within range.
 */
import { Option } from 'commander';
import { type DefaultContext, type NumberSettingName, type Unit, defaultOf, numberProblem, parseNumberText, rangeText, setting } from '../config/settings.js';
import { UsageError } from '../util/errors.js';

/** An integer option's value, at least `min`; undefined when the option was not given. */
export function integerOption(value: string | undefined, flag: string, min: number): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (!Number.isInteger(n) || n < min) throw new UsageError(`${flag} must be an integer ≥ ${min}`);
  return n;
}

const PLACEHOLDER: Record<Unit, string> = { s: 'seconds', ms: 'ms', bytes: 'bytes', days: 'days', count: 'n', share: 'share' };

/** The flag of a setting, with its parser, bounds in the help, and its command-line default. */
export function numberOption(name: NumberSettingName, context: DefaultContext = 'cli'): Option {
  const s = setting(name);
  if (s.flag === undefined) throw new Error(`setting ${name} has no flag`);
  const flag = s.flag;
  // A UsageError (not commander's InvalidArgumentError) so that the line is mimelog's own: flag, what is wrong, the range.
  const option = new Option(`${flag} <${PLACEHOLDER[s.unit]}>`, `${s.help} (${rangeText(s)})`).argParser((text: string) => {
    const problem = numberProblem(s, parseNumberText(text));
    if (problem !== undefined) throw new UsageError(`${flag}: ${problem}`);
    return parseNumberText(text);
  });
  const value = defaultOf(s, context);
  if (value !== undefined) option.default(value);
  else if (s.defaultText !== undefined) option.description += ` (default: ${s.defaultText})`;
  return option;
}

/** Adds these settings' flags to `cmd`. */
export function addNumberOptions<C extends { addOption(o: Option): C }>(cmd: C, names: readonly NumberSettingName[]): C {
  for (const n of names) cmd.addOption(numberOption(n));
  return cmd;
}
