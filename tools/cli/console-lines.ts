// The console's two translations, with no IO: a typed line into what to do
// (send a frame, run a dot-command, complain), and a received frame into the
// line to print. `printbridge console` wires them to readline and a socket.

import { formatBytes } from '../../protocol/units.js';
import { request, ShorthandError } from './shorthand.js';

export type Input =
  | { kind: 'send'; text: string; /** Set when the line was shorthand: the request as sent. */ built?: Record<string, unknown> }
  | { kind: 'exit' }
  | { kind: 'help' }
  | { kind: 'skip' }
  | { kind: 'error'; message: string };

export const CONSOLE_SYNTAX = `Type a request and press Enter:
  {"op":"ping","id":1}          raw JSON, sent as typed (even when malformed)
  ping                          shorthand: op key=value ..., with an id of its
                                own (never one a typed request used)
  jobs.list limit=5             values are JSON when they parse (5, true, [1]),
                                else text; key="5" (double quotes) stays text
  control.send to.all=true name=identify
                                dots nest: {"to":{"all":true},…}
  job.get job=ID                op and id are the request's own: not fields
  .help                         this text
  .exit or Ctrl-D               close the connection and quit`;

/**
 * The ids of one session's requests. The console numbers its own requests
 * 1, 2, 3…, stepping over every id a typed request carried, so that no two
 * requests share an id and every reply can be told apart.
 */
export class RequestIds {
  private readonly typed = new Set<number>();
  private last = 0;

  /** Notes the id(s) of a typed JSON request (or batch), if it has any. */
  typedIn(text: string): void {
    let parsed: unknown;
    try {
      parsed = JSON.parse(text);
    } catch {
      return;
    }
    for (const m of Array.isArray(parsed) ? parsed : [parsed]) {
      const id = typeof m === 'object' && m !== null ? (m as { id?: unknown }).id : undefined;
      if (typeof id === 'number') this.typed.add(id);
    }
  }

  next(): number {
    do {
      this.last++;
    } while (this.typed.has(this.last));
    return this.last;
  }
}

/** What a typed line asks for; `ids` numbers shorthand requests and learns the ids typed in JSON. */
export function readInput(line: string, ids: RequestIds): Input {
  const text = line.trim();
  if (text === '') return { kind: 'skip' };
  if (text === '.exit' || text === '.quit') return { kind: 'exit' };
  if (text === '.help' || text === '?') return { kind: 'help' };
  if (text.startsWith('.')) return { kind: 'error', message: `unknown command ${text.split(/\s/)[0]}; try .help` };
  // JSON goes out as typed: the server's answer to malformed JSON is worth seeing.
  if (text.startsWith('{') || text.startsWith('[')) {
    ids.typedIn(text);
    return { kind: 'send', text };
  }
  try {
    const built = { ...request(text), id: ids.next() };
    return { kind: 'send', text: JSON.stringify(built), built };
  } catch (e) {
    if (e instanceof ShorthandError) return { kind: 'error', message: e.message };
    throw e;
  }
}

export interface Style {
  color: boolean;
  /** Terminal width for pretty JSON; 0 keeps every message on one line. */
  width: number;
}

const paint = (code: string) => (s: string, style: Style): string => (style.color ? `\x1b[${code}m${s}\x1b[0m` : s);
const green = paint('32');
const red = paint('31');
const cyan = paint('36');
const dim = paint('2');

function json(value: unknown, style: Style, indentFrom: number): string {
  const flat = JSON.stringify(value) ?? 'undefined';
  if (style.width === 0 || indentFrom + flat.length <= style.width) return flat;
  return JSON.stringify(value, null, 2);
}

/** The line printed for a received text frame. */
export function showFrame(text: string, style: Style): string {
  let m: unknown;
  try {
    m = JSON.parse(text);
  } catch {
    return `< ${text}`;
  }
  if (typeof m !== 'object' || m === null || Array.isArray(m)) return `< ${text}`;
  const o = m as Record<string, unknown>;
  if ('re' in o) {
    const re = `#${JSON.stringify(o['re'])}`;
    if (o['ok'] === true) return `< ${re} ${green('ok', style)} ${json(o['result'], style, re.length + 6)}`;
    const err = (o['error'] ?? {}) as { code?: unknown; message?: unknown };
    return `< ${re} ${red(String(err.code ?? 'error'), style)} ${String(err.message ?? json(o['error'], style, 0))}`;
  }
  if (typeof o['event'] === 'string') {
    const { event, ...rest } = o;
    return `< ${cyan(event as string, style)} ${json(rest, style, (event as string).length + 3)}`;
  }
  return `< ${json(o, style, 2)}`;
}

/** The echo of a shorthand request, so the user sees what was sent. */
export function showSent(built: Record<string, unknown>, style: Style): string {
  return dim(`> ${JSON.stringify(built)}`, style);
}

export function showBinary(length: number, style: Style): string {
  return dim(`< <binary frame, ${formatBytes(length)}>`, style);
}
