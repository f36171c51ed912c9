/** Plain-text tables for the terminal. */

export function table(headers: string[], rows: string[][]): string {
  // The last column (details, subject) runs to the end of the line; the others are capped.
  // A loop, not Math.max(...rows): spreading a long table overflows the stack.
  const widths = headers.map((h, i) => Math.min(i === headers.length - 1 ? Infinity : 60, rows.reduce((w, r) => Math.max(w, (r[i] ?? '').length), h.length)));
  const line = (cells: string[]) => cells.map((c, i) => (c.length > widths[i]! ? `${c.slice(0, widths[i]! - 1)}…` : c.padEnd(widths[i]!))).join('  ').trimEnd();
  return [line(headers), line(widths.map((w) => '-'.repeat(w))), ...rows.map(line)].join('\n');
}
