// Plain-text output shared by the commands: aligned tables with a header row
// and ISO timestamps to the second. Results go to stdout; scripts use --json.

/** Columns padded to their widest cell, two spaces apart, no trailing blanks. */
export function table(head: readonly string[], rows: readonly (readonly string[])[]): string {
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  return [head, ...rows].map((row) => row.map((c, i) => c.padEnd(widths[i]!)).join('  ').trimEnd()).join('\n');
}

/** 2026-01-02T03:04:05Z, or `none` for undefined. */
export function when(ms: number | undefined, none = '-'): string {
  return ms === undefined ? none : new Date(ms).toISOString().replace(/\.\d+Z$/, 'Z');
}

/** Key: value lines with the values aligned; undefined values are left out. */
export function details(lines: readonly (readonly [string, string | undefined])[]): string {
  const width = Math.max(...lines.map(([k]) => k.length)) + 2;
  return lines.filter(([, v]) => v !== undefined).map(([k, v]) => `${`${k}:`.padEnd(width)}${v}`).join('\n');
}

/** One JSON document per line on stdout. */
export function printJson(value: unknown): void {
  process.stdout.write(`${JSON.stringify(value)}\n`);
}

export function printText(text: string): void {
  if (text !== '') process.stdout.write(`${text}\n`);
}
