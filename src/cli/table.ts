/** Plain-text tables for the terminal. */
import { printable } from '../util/terminal-text.js';

export function table(headers: string[], rows: string[][]): string {
  // Cells hold sender text (subjects, addresses, file names): a control character is shown, never
  // sent, and a newline in a cell cannot start a row of its own.
  const cells = rows.map((r) => r.map(printable));
  // The last column (details, subject) runs to the end of the line; the others are capped.
  // A loop, not Math.max(...rows): spreading a long table overflows the stack.
  const widths = headers.map((h, i) => Math.min(i === headers.length - 1 ? Infinity : 60, cells.reduce((w, r) => Math.max(w, (r[i] ?? '').length), h.length)));
  const line = (row: string[]) => row.map((c, i) => (c.length > widths[i]! ? `${c.slice(0, widths[i]! - 1)}…` : c.padEnd(widths[i]!))).join('  ').trimEnd();
  return [line(headers.map(printable)), line(widths.map((w) => '-'.repeat(w))), ...cells.map(line)].join('\n');
}
