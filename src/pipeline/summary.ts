/** Run counts, so a user can prove nothing was lost: every record is stored, a duplicate, a collision or a dead letter. */
import { type SinkCounts, addCounts, noCounts } from '../core/counts.js';
import type { Unit } from '../core/unit.js';
import { UNKNOWN_TYPE_REASON } from './transform.js';
import { printable } from '../util/terminal-text.js';

export class RunSummary {
  /** Inputs started, and of them those read to their end (fewer when the run was stopped). */
  inputs = 0;
  inputsComplete = 0;
  records = 0;
  readonly byType = new Map<string, number>();
  readonly bySource = new Map<string, number>();
  ambiguous = 0;
  readonly driftKeys = new Map<string, number>();
  readonly sink: SinkCounts = noCounts();
  readonly deadLetterReasons = new Map<string, number>();
  /** Dead letters per input, so a user sees which files failed. */
  readonly deadLettersBySource = new Map<string, number>();
  /** Dead letters that replay can turn into events once the type tables know their type. */
  unknownTypeDeadLetters = 0;
  /** Intervals recorded as lost at the source (aged out before they were collected). */
  gaps = 0;
  /** API feeds skipped because the account cannot read them (not licensed, a missing role). */
  unavailableFeeds: string[] = [];

  /** Inputs a local-files source started and read to their end. */
  addInputs(report: { readonly started: number; readonly complete: number }): void {
    this.inputs += report.started;
    this.inputsComplete += report.complete;
  }

  countUnit(unit: Unit): void {
    this.records += unit.events.length + unit.deadLetters.length;
    for (const e of unit.events) {
      const c = e.classification;
      bump(this.byType, c.logType);
      bump(this.bySource, c.source);
      if (c.candidates) this.ambiguous++;
      for (const k of c.driftKeys) bump(this.driftKeys, k);
    }
    for (const d of unit.deadLetters) {
      bump(this.deadLetterReasons, d.reason.replace(/\d+/g, 'N').slice(0, 60));
      bump(this.deadLettersBySource, d.source);
      if (d.reason.startsWith(UNKNOWN_TYPE_REASON)) this.unknownTypeDeadLetters++;
    }
  }

  addSink(counts: SinkCounts): void {
    addCounts(this.sink, counts);
  }

  toJSON(): Record<string, unknown> {
    return {
      inputs: this.inputs,
      records: this.records,
      stored: this.sink.stored,
      duplicates: this.sink.duplicates,
      collisions: this.sink.collisions,
      dead_letters: this.sink.deadLetters,
      by_type: sorted(this.byType),
      by_type_source: sorted(this.bySource),
      ambiguous: this.ambiguous,
      schema_drift_keys: sorted(this.driftKeys),
      dead_letter_reasons: sorted(this.deadLetterReasons),
      ...(this.gaps > 0 ? { gaps: this.gaps } : {}),
      ...(this.unavailableFeeds.length > 0 ? { unavailable_feeds: this.unavailableFeeds } : {}),
    };
  }

  /** Human-readable lines for stderr; `done`: what became of the records kept (a sink that is not the store writes them). */
  format(done = 'stored'): string {
    const j = this.toJSON();
    // Drift keys, reasons and input names are sender text: shown, never sent to the terminal.
    const map = (m: Map<string, number>) => ([...m].length ? [...m].sort().map(([k, v]) => `${printable(k)}=${v}`).join(' ') : '-');
    return [
      `mimelog: ${j.records} records from ${j.inputs} inputs: ${j.stored} ${done}, ${j.duplicates} duplicates, ${j.collisions} collisions, ${j.dead_letters} dead letters`,
      `  by type:        ${map(this.byType)}`,
      `  type decided by: ${map(this.bySource)}${this.ambiguous ? ` (ambiguous: ${this.ambiguous})` : ''}`,
      `  schema drift:   ${map(this.driftKeys)}`,
      // Reasons are sentences (spaces, `=`): each is counted ahead of it, and they are set apart by `; `.
      ...(this.deadLetterReasons.size ? [`  dead letters:   ${[...this.deadLetterReasons].sort((a, b) => b[1] - a[1] || a[0].localeCompare(b[0])).map(([k, v]) => `${v} × ${printable(k)}`).join('; ')}`] : []),
      ...(this.deadLettersBySource.size ? [`  by input:       ${topInputs(this.deadLettersBySource, 10)}`] : []),
      ...(this.gaps ? [`  GAPS:           ${this.gaps} interval(s) aged out at Mimecast before they were collected (mimelog stats lists them)`] : []),
    ].join('\n');
  }
}

/** The inputs with most dead letters, most first. */
function topInputs(m: Map<string, number>, n: number): string {
  const top = [...m].sort((a, b) => b[1] - a[1]).slice(0, n).map(([k, v]) => `${printable(k)}=${v}`);
  return `${top.join(' ')}${m.size > n ? ` (+${m.size - n} more inputs)` : ''}`;
}

function bump(m: Map<string, number>, k: string): void {
  m.set(k, (m.get(k) ?? 0) + 1);
}

function sorted(m: Map<string, number>): Record<string, number> {
  return Object.fromEntries([...m].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
}
