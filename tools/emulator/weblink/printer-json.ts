// JSON as the printer writes it and reads it on Weblink channels.
//
// Writing: printers put a space on both sides of each colon; the discovery
// message is pretty-printed with CRLF (WEBLINK.md A.6), alerts are on one
// line (A.10). Servers must parse either, so the fake uses both.
//
// Reading: a JSON text may come split over several WebSocket messages
// (A.5); Glue concatenates messages until the text parses, up to a bound.

/** One-line printer style: `{ "a" : "b", "c" : { … } }`. */
export function printerJson(value: unknown): string {
  if (value !== null && typeof value === 'object' && !Array.isArray(value)) {
    const entries = Object.entries(value as Record<string, unknown>).map(([k, v]) => `${JSON.stringify(k)} : ${printerJson(v)}`);
    return `{ ${entries.join(', ')} }`;
  }
  return JSON.stringify(value) ?? 'null';
}

/** Pretty printer style with CRLF, for a flat object (the discovery message). */
export function printerJsonPretty(value: Record<string, string>): string {
  const lines = Object.entries(value).map(([k, v]) => `  ${JSON.stringify(k)} : ${JSON.stringify(v)}`);
  return `{\r\n${lines.join(',\r\n')}\r\n}`;
}

/** The most a split JSON text may grow to before it is given up as garbage. */
export const DEFAULT_GLUE_LIMIT = 256 * 1024;

export type GlueResult = { kind: 'value'; value: unknown; text: string } | { kind: 'partial' } | { kind: 'garbage'; text: string };

/** Joins consecutive messages until they parse as one JSON text. */
export class Glue {
  private held = '';
  constructor(private readonly limit = DEFAULT_GLUE_LIMIT, private readonly prefix = '') {}

  push(text: string): GlueResult {
    this.held += text;
    const body = this.held.startsWith(this.prefix) ? this.held.slice(this.prefix.length) : this.held;
    try {
      const value: unknown = JSON.parse(body);
      const all = this.held;
      this.held = '';
      return { kind: 'value', value, text: all };
    } catch {
      if (this.held.length <= this.limit && /^\s*\{/.test(body || '{')) return { kind: 'partial' };
      const all = this.held;
      this.held = '';
      return { kind: 'garbage', text: all };
    }
  }

  get pending(): boolean {
    return this.held !== '';
  }
}
