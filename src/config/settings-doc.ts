/**
 * The settings table as Markdown, for the README (`npm run settings-table` prints it; a test
 * checks that the README holds exactly this).
 */
import { NUMBER_SETTINGS, type NumberSetting, SECRET_SETTINGS, SOURCE_KINDS, keyPath, rangeText } from './settings.js';

const code = (text: string | undefined) => (text === undefined ? '–' : `\`${text}\``);

/** The command line's default, then the service's where it differs (one value for every source kind: "(service)"). */
function defaultText(s: NumberSetting): string {
  const contexts = Object.entries(s.defaults ?? {}).filter(([context]) => context !== 'cli');
  const same = contexts.length === SOURCE_KINDS.length && new Set(contexts.map(([, v]) => v)).size === 1;
  const per = same ? [`${contexts[0]![1]} (service)`] : contexts.map(([context, v]) => `${v} (${context})`);
  const first = s.defaultText ?? (s.default !== undefined ? String(s.default) : undefined);
  return [...(first !== undefined ? [first] : []), ...per].join('; ') || 'none';
}


export const SETTINGS_BEGIN = '<!-- settings table: printed by `npm run settings-table` from src/config/settings.ts; do not edit by hand -->';
export const SETTINGS_END = '<!-- end of settings table -->';

export function settingsMarkdown(): string {
  const rows = (Object.values(NUMBER_SETTINGS) as NumberSetting[]).map((s) =>
    `| ${code(s.flag)} | ${code(keyPath(s))} | ${rangeText(s).replace(/^from /, '')} | ${defaultText(s)} | ${s.help} |`);
  const secrets = SECRET_SETTINGS.map((s) => `| ${s.env.map((e) => code(e)).join(', ')} | ${code(s.key)}, ${code(`${s.key}_file`)} | secret | none | ${s.help} |`);
  return [
    SETTINGS_BEGIN,
    '| flag | config key | allowed | default | what it sets |',
    '|---|---|---|---|---|',
    ...rows,
    ...secrets,
    SETTINGS_END,
  ].join('\n');
}
