/**
 * What the simulator serves: seeded events cut into API 1.0 files, one log type per file,
 * named as Mimecast names them (`receipt_20211018093329655.log`, `ttp_url_….json`), in time order.
 */
import { LOG_TYPES } from '../mimecast/log-types.js';
import { type GeneratedEvent, generateEvents, toKeyValueLine, toV1JsonFile } from './generate.js';

export type FileFormat = 'key_value' | 'json';

export interface SiemFile {
  readonly index: number;
  readonly name: string;
  readonly logType: string;
  readonly events: readonly GeneratedEvent[];
}

export interface CatalogOptions {
  readonly seed: number;
  readonly events: number;
  readonly eventsPerFile: number;
  readonly startMs: number;
  /** Average time between emails (default: the generator's, 700 ms). */
  readonly spacingMs?: number;
  /** A phishing campaign's events (generateCampaign) mixed in by time, besides the `events` ordinary ones. */
  readonly extra?: readonly GeneratedEvent[];
}

const PREFIX = new Map(LOG_TYPES.map((t) => [t.name, t.filePrefixes[0]!]));

function stamp(ms: number): string {
  return new Date(ms).toISOString().replace(/[-:TZ.]/g, '').slice(0, 17); // yyyyMMddHHmmssSSS
}

/** Cuts the event stream into files: a type's file closes when full or when time moves on by 30 min. */
export function buildCatalog(options: CatalogOptions): SiemFile[] {
  const open = new Map<string, GeneratedEvent[]>();
  const closed: { logType: string; events: GeneratedEvent[] }[] = [];
  let n = 0;
  const extra = [...(options.extra ?? [])].sort((a, b) => a.timeMs - b.timeMs);
  const place = (e: GeneratedEvent) => {
    const list = open.get(e.logType) ?? [];
    if (list.length > 0 && (list.length >= options.eventsPerFile || e.timeMs - list[0]!.timeMs > 30 * 60_000)) {
      closed.push({ logType: e.logType, events: list.splice(0) });
    }
    list.push(e);
    open.set(e.logType, list);
  };
  for (const e of generateEvents({ seed: options.seed, startMs: options.startMs, spacingMs: options.spacingMs })) {
    if (n++ >= options.events) break;
    while (extra.length > 0 && extra[0]!.timeMs <= e.timeMs) place(extra.shift()!);
    place(e);
  }
  for (const e of extra) place(e);
  for (const [logType, events] of open) if (events.length) closed.push({ logType, events });
  // Files in the order Mimecast would publish them: by the time of their last event.
  closed.sort((a, b) => a.events.at(-1)!.timeMs - b.events.at(-1)!.timeMs || (a.logType < b.logType ? -1 : 1));
  const seen = new Set<string>();
  return closed.map((f, index) => {
    let ms = f.events.at(-1)!.timeMs;
    let name = `${PREFIX.get(f.logType)}${stamp(ms)}`;
    while (seen.has(name)) name = `${PREFIX.get(f.logType)}${stamp(++ms)}`;
    seen.add(name);
    return { index, name, logType: f.logType, events: f.events };
  });
}

export function fileName(file: SiemFile, format: FileFormat): string {
  return `${file.name}.${format === 'json' ? 'json' : 'log'}`;
}

export function fileBody(file: SiemFile, format: FileFormat): string {
  return format === 'json' ? toV1JsonFile(file.events) : `${file.events.map(toKeyValueLine).join('\n')}\n`;
}
