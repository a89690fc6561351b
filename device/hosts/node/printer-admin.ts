// The control messages a Node bridge answers itself (the core hands them to
// the host: DeviceConfig.hostControls):
// - `printers.scan`: what this computer can reach (--list-printers' list),
//   each entry marked with the port it already is, if it is one;
// - `printers.add`: one more printer port, kept in the settings file so
//   that it is there after a restart.
//
// A server may add a network printer anywhere, but a local device only among
// those the scan finds at that moment: a serial port, a USB printer or a
// CUPS queue. The bridge often runs with the rights to open any device node,
// and job data written to /dev/sda is not a print.

import { CONTROL_DATA_MAX, DIALECTS, PORT_NAME_MAX, PORTS_MAX, type Dialect } from '../../../protocol/device-messages.js';
import type { ErrorCode } from '../../../protocol/errors.js';
import type { Obj } from '../../../protocol/fields.js';
import { ADD_CAP, SCAN_CAP, type ScanAnswer, type ScanEntry, type ScanKind } from '../../../protocol/printer-scan.js';
import type { PrinterList, ReachablePrinter } from './list-printers.js';
import { dialectProblem, parsePrinterUri, sameAddress, type PrinterAddress } from './ports/uri.js';

export const HOST_CONTROLS = [SCAN_CAP, ADD_CAP] as const;

/**
 * Where added printers are kept in the settings file. A `config` control
 * message cannot set this name (its names are letters, digits and `_`), so
 * nothing reaches the list without the checks of printers.add.
 */
export const ADDED_SETTING = 'printers.added';

/** The scan's answer stays under the server's limit for a control result (CONTROL_DATA_MAX), envelope included. */
export const SCAN_ANSWER_MAX = CONTROL_DATA_MAX - 512;
/** A system's description of one printer, cut to this many characters. */
export const DETAIL_MAX = 200;
const URI_MAX = 300;

/** One of the bridge's printers, as far as these messages care. */
export interface ConfiguredPrinter {
  readonly uri: string;
  readonly dialect: Dialect;
  readonly name?: string | undefined;
}

export type Refusal = { readonly code: ErrorCode; readonly message: string };

/**
 * The scan's answer: what the system lists (a USB printer by its ids, the
 * name that survives a replug), then the bridge's own printers the system
 * does not list (network printers, devices unplugged now). Entries past
 * SCAN_ANSWER_MAX are counted in `more`.
 */
export function scanAnswer(found: PrinterList, configured: readonly ConfiguredPrinter[]): ScanAnswer {
  const mine = configured.flatMap((p, port) => {
    const address = addressOf(p.uri);
    return address === undefined ? [] : [{ port, address, uri: p.uri }];
  });
  const entries: ScanEntry[] = [];
  const claimed = new Set<number>();
  for (const f of found.printers) {
    const forms = addressesOf(f);
    const hit = mine.find((m) => forms.some((a) => sameAddress(a, m.address)));
    if (hit !== undefined) claimed.add(hit.port);
    entries.push({ uri: hit?.uri ?? f.stable ?? f.uri, kind: f.kind, detail: f.detail.slice(0, DETAIL_MAX), ...(hit === undefined ? {} : { port: hit.port }) });
  }
  for (const m of mine) {
    if (claimed.has(m.port)) continue;
    const kind: ScanKind = m.address.kind === 'tcp' ? 'network' : m.address.kind === 'usb-ids' ? 'usb' : m.address.kind;
    const detail = m.address.kind === 'tcp' ? 'network printer' : 'not found on this computer now';
    entries.push({ uri: m.uri, kind, detail, port: m.port });
  }
  const problems = found.problems.slice(0, 8).map((p) => p.slice(0, DETAIL_MAX));
  const answer: ScanAnswer = { printers: [], problems };
  let size = JSON.stringify(answer).length + 16;
  for (const [i, e] of entries.entries()) {
    const cost = JSON.stringify(e).length + 1;
    if (size + cost > SCAN_ANSWER_MAX) {
      answer.more = entries.length - i;
      break;
    }
    size += cost;
    answer.printers.push(e);
  }
  return answer;
}

/** The addresses a found printer goes by: its path, and a USB printer's ids too. */
function addressesOf(f: ReachablePrinter): PrinterAddress[] {
  // A USB serial number with characters an address cannot carry has no ids form: the path still names it.
  return [f.uri, f.stable].flatMap((uri) => {
    const a = uri === undefined ? undefined : addressOf(uri);
    return a === undefined ? [] : [a];
  });
}

/**
 * The address `uri` names, or undefined when it names none: a host given
 * ready-made ports may label them as it likes, and such a printer matches
 * no address.
 */
export function addressOf(uri: string): PrinterAddress | undefined {
  try {
    return parsePrinterUri(uri);
  } catch {
    return undefined;
  }
}

/** printers.add's arguments checked alone (before looking at what is plugged in). */
export function addRequest(args: Obj): ConfiguredPrinter | Refusal {
  const { uri, dialect = 'raw', name } = args;
  if (typeof uri !== 'string' || uri.length === 0 || uri.length > URI_MAX) return bad(`uri must be a printer address of 1..${URI_MAX} characters`);
  try {
    parsePrinterUri(uri);
  } catch (e) {
    return bad((e as Error).message);
  }
  if (typeof dialect !== 'string' || !(DIALECTS as readonly string[]).includes(dialect)) return bad(`dialect must be one of ${DIALECTS.join(', ')}`);
  const problem = dialectProblem(uri, dialect as Dialect);
  if (problem !== undefined) return bad(problem);
  if (name !== undefined && (typeof name !== 'string' || name.length === 0 || name.length > PORT_NAME_MAX || /[\x00-\x1f\x7f]/.test(name))) {
    return bad(`name must be 1..${PORT_NAME_MAX} characters without control characters`);
  }
  return { uri, dialect: dialect as Dialect, ...(name === undefined ? {} : { name }) };
}

/** Whether `wanted` may become a port of a bridge that has `configured`, given what the scan found now. */
export function addRefusal(wanted: ConfiguredPrinter, configured: readonly ConfiguredPrinter[], found: PrinterList): Refusal | undefined {
  const address = parsePrinterUri(wanted.uri);
  const port = configured.findIndex((p) => {
    const theirs = addressOf(p.uri);
    return theirs !== undefined && sameAddress(theirs, address);
  });
  if (port >= 0) return bad(`${wanted.uri} is already printer ${port} of this bridge`);
  if (configured.length >= PORTS_MAX) return bad(`this bridge has ${configured.length} printers, the most one device may have`);
  if (address.kind === 'tcp') return undefined;
  const present = found.printers.some((f) => addressesOf(f).some((a) => sameAddress(a, address)));
  if (present) return undefined;
  const why = found.problems.length > 0 ? ` (not listed: ${found.problems.join('; ').slice(0, DETAIL_MAX)})` : '';
  return bad(`${wanted.uri} is not among the printers this computer has now (printers.scan lists them)${why}`);
}

/** The added printers kept in the settings, and what in them could not be read. */
export function savedPrinters(value: string | undefined): { printers: ConfiguredPrinter[]; problems: string[] } {
  if (value === undefined) return { printers: [], problems: [] };
  let list: unknown;
  try {
    list = JSON.parse(value);
  } catch (e) {
    return { printers: [], problems: [`${ADDED_SETTING}: ${(e as Error).message}`] };
  }
  if (!Array.isArray(list)) return { printers: [], problems: [`${ADDED_SETTING} must be a JSON array`] };
  const printers: ConfiguredPrinter[] = [];
  const problems: string[] = [];
  for (const item of list) {
    const checked = typeof item === 'object' && item !== null && !Array.isArray(item) ? addRequest(item as Obj) : bad('an entry must be an object');
    if ('code' in checked) problems.push(`${ADDED_SETTING}: ${checked.message}`);
    else printers.push(checked);
  }
  return { printers, problems };
}

/** The settings value that keeps `printers`. */
export function savedValue(printers: readonly ConfiguredPrinter[]): string {
  return JSON.stringify(printers.map((p) => ({ uri: p.uri, dialect: p.dialect, ...(p.name === undefined ? {} : { name: p.name }) })));
}

function bad(message: string): Refusal {
  return { code: 'BAD_FIELD', message };
}
