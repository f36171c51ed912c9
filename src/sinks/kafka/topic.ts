/**
 * The topic an event goes to: a template with `{dataset}` (`event.dataset`, e.g.
 * `mimecast.siem_logs`) and `{log_type}` (`mimecast.log_type`), or a plain name for one topic.
 */
import type { ProcessedEvent } from '../../core/unit.js';
import { datasetOf } from '../../mimecast/feeds.js';

/** What each placeholder is replaced with. */
const PLACEHOLDERS: Readonly<Record<string, (e: ProcessedEvent) => string>> = {
  dataset: (e) => datasetOf(e.classification.logType),
  log_type: (e) => e.classification.logType,
};

/** Kafka's rule for a topic name (its Topic.validate): these characters, 1 to 249 of them, not "." or "..". */
const LEGAL = /^[A-Za-z0-9._-]{1,249}$/;

/** Why `name` cannot be a Kafka topic, or undefined. */
export function topicProblem(name: string): string | undefined {
  if (name === '.' || name === '..') return `"${name}" is not a legal topic name`;
  if (!LEGAL.test(name)) return `topic ${JSON.stringify(name.slice(0, 300))} is not legal: 1 to 249 of letters, digits, ".", "_" and "-"`;
  return undefined;
}

/** Why the template cannot make legal topic names (an unknown placeholder, an illegal character), or undefined. */
export function templateProblem(template: string): string | undefined {
  for (const m of template.matchAll(/\{([^}]*)\}/g)) {
    if (!(m[1]! in PLACEHOLDERS)) return `unknown placeholder {${m[1]}} in topic ${JSON.stringify(template)}: use ${Object.keys(PLACEHOLDERS).map((p) => `{${p}}`).join(' or ')}`;
  }
  return topicProblem(template.replace(/\{[^}]*\}/g, 'x'));
}

export class TopicNamer {
  constructor(private readonly template: string) {}

  /** The event's topic; a value that makes an illegal name is caught by the caller (`topicProblem`). */
  topicFor(e: ProcessedEvent): string {
    return this.template.replace(/\{([a-z_]+)\}/g, (_, p: string) => PLACEHOLDERS[p]!(e));
  }
}
