// What the compatibility adapters share: finding a printbridge printer by the
// name an older API knows it by, turning lines of text into job bytes the way
// the printer's language wants them, and reading the core's events.
//
// A printer's compat name is the name its bridge configured for the port
// (`--name`), else its printbridge id `device/port`; the id always works too.

import type { ClientEvent, JobView, PrinterView } from '../../protocol/client-messages.js';
import type { Temperature } from '../../protocol/device-messages.js';
import type { Listener } from '../core/events.js';
import type { Hub } from '../core/hub.js';
import { isFinal } from '../core/jobs.js';
import { jobView } from '../core/views.js';
import { PrintbridgeError } from '../errors.js';

export function compatName(p: PrinterView): string {
  return p.name !== undefined && p.name !== '' ? p.name : p.id;
}

/** A printer by compat name or by id. Two ports with the same name: the first by id wins (documented). */
export function findPrinter(hub: Hub, name: string): PrinterView {
  const all = hub.views.printers();
  const found = all.find((p) => p.id === name) ?? all.find((p) => compatName(p) === name);
  if (found === undefined) throw new PrintbridgeError('UNKNOWN_PRINTER', name);
  return found;
}

/**
 * The unfinished job on a printer. A device's status report may still name
 * a job that just ended until its next report: that one is not running.
 */
export function runningJob(hub: Hub, p: PrinterView): JobView | undefined {
  if (p.job === undefined) return undefined;
  try {
    const job = jobView(hub.jobs.get(p.job));
    return isFinal(job.state) ? undefined : job;
  } catch {
    return undefined; // the device names a job the store no longer has
  }
}

export type LineEnding = 'crlf' | 'lf' | 'none';

/** TSPL printers want CR LF after each command; the other languages take LF. */
export function dialectLineEnding(dialect: string): LineEnding {
  return dialect === 'tspl' ? 'crlf' : 'lf';
}

/**
 * Lines as the text of a job: each line gets the line ending unless it
 * already ends with LF (a page that sends a whole label as one string keeps
 * its own line breaks).
 */
export function composeLines(lines: readonly string[], ending: LineEnding): string {
  const eol = ending === 'crlf' ? '\r\n' : ending === 'lf' ? '\n' : '';
  let text = '';
  for (const line of lines) text += line.endsWith('\n') ? line : line + eol;
  return text;
}

/** Temperatures as 3D-printer hosts name them: bed, tool0, tool1…; other sensors by their own lower-case name. */
export function temperatureMap(temps: readonly Temperature[] | undefined): Record<string, number> {
  const out: Record<string, number> = {};
  for (const t of temps ?? []) {
    const tool = /^T(\d*)$/i.exec(t.name);
    const key = tool !== null ? `tool${tool[1] === '' ? '0' : tool[1]}` : /^B$/i.test(t.name) ? 'bed' : t.name.toLowerCase();
    out[key] = t.current;
  }
  return out;
}

/**
 * Taps the core's event bus for one adapter. The bus hands listeners the
 * event as its /v1/client wire text; the tap reads it back once per event for
 * all of the adapter's connections, which then speak their own encoding.
 */
export class EventTap implements Listener {
  constructor(
    /** The kinds of event the adapter follows, asked afresh for each event. */
    private readonly follows: (kind: ClientEvent['event']) => boolean,
    private readonly handle: (e: ClientEvent) => void,
  ) {}

  hears(kind: ClientEvent['event']): boolean {
    return this.follows(kind);
  }

  wants(event: ClientEvent): boolean {
    return this.follows(event.event);
  }

  send(text: string): void {
    this.handle(JSON.parse(text) as ClientEvent);
  }
}
