// The answers of a Node bridge's `printers.scan` and `printers.add` control
// messages (since 1.6; a device whose hello's caps name them), read into
// typed values. A device's report data is whatever the device sent, so each
// entry is checked and one that does not fit is left out rather than shown
// half-read.

import type { ControlResult, DeliveryReport } from '../protocol/client-messages.js';
import type { Dialect } from '../protocol/device-messages.js';
import { SCAN_KINDS, type AddAnswer, type ScanEntry, type ScanKind } from '../protocol/printer-scan.js';
import { PrintbridgeError } from './errors.js';

export { ADD_CAP, dialectsFor, SCAN_CAP } from '../protocol/printer-scan.js';
export type ScannedKind = ScanKind;
export type ScannedPrinter = ScanEntry;

export interface PrinterScan {
  /** The control message's ref (its delivery report in `control.delivered` carries the same). */
  ref: string;
  printers: ScannedPrinter[];
  /** Sources the bridge could not read, and why ("CUPS: connection refused"). */
  problems: string[];
  /** Entries left out to keep the answer small. */
  more: number;
}

export interface NewPrinter {
  uri: string;
  dialect: Dialect;
  name?: string | undefined;
}

export interface AddedPrinter extends AddAnswer {
  ref: string;
}

const KINDS: readonly string[] = SCAN_KINDS;

/** The one device's report, or the reason it has none that is ok, as a PrintbridgeError. */
export function reportOf(result: ControlResult, device: string): DeliveryReport {
  const report = result.reports.find((r) => r.device === device);
  if (!report) throw new PrintbridgeError('TIMEOUT', `no report from ${device}`);
  if (report.status === 'ok') return report;
  const code = report.code ?? (report.status === 'offline' ? 'DEVICE_OFFLINE' : report.status === 'timeout' ? 'TIMEOUT' : 'INTERNAL');
  throw new PrintbridgeError(code, report.message ?? `${device}: ${report.status}`);
}

export function readScan(data: unknown, ref = ''): PrinterScan {
  const o = isObj(data) ? data : {};
  const printers: ScannedPrinter[] = [];
  for (const p of Array.isArray(o['printers']) ? o['printers'] : []) {
    if (!isObj(p) || typeof p['uri'] !== 'string' || p['uri'] === '' || !KINDS.includes(String(p['kind']))) continue;
    const port = p['port'];
    printers.push({
      uri: p['uri'],
      kind: p['kind'] as ScannedKind,
      detail: typeof p['detail'] === 'string' ? p['detail'] : '',
      port: typeof port === 'number' && Number.isInteger(port) && port >= 0 ? port : undefined,
    });
  }
  const problems = (Array.isArray(o['problems']) ? o['problems'] : []).filter((x): x is string => typeof x === 'string');
  const more = typeof o['more'] === 'number' && o['more'] > 0 ? Math.floor(o['more']) : 0;
  return { ref, printers, problems, more };
}

export function readAdded(data: unknown, ref = ''): AddedPrinter {
  const o = isObj(data) ? data : {};
  const port = o['port'];
  if (typeof port !== 'number' || !Number.isInteger(port) || port < 0) throw new PrintbridgeError('BAD_FIELD', 'the device did not say which port it added');
  return { ref, port, saved: o['saved'] !== false };
}

function isObj(x: unknown): x is Record<string, unknown> {
  return typeof x === 'object' && x !== null && !Array.isArray(x);
}
