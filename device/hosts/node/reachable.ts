// What the bridge's computer can print to, as --list-printers and the
// printers.scan control message show it: one entry per address, from every
// source that could be read (list-printers.ts gathers them).

import type { ScanKind } from '../../../protocol/printer-scan.js';

export interface ReachablePrinter {
  /** The --printer address: serial:/dev/NAME, usb:/dev/usb/lpN, cups:QUEUE or tcp://HOST:PORT. */
  readonly uri: string;
  readonly kind: ScanKind;
  /** What the system says about it, for a person. */
  readonly detail: string;
  /** A USB printer's address by its ids (usb:VID:PID[:SERIAL]), which survives a replug that renumbers it. */
  readonly stable?: string;
}

export interface PrinterList {
  readonly printers: readonly ReachablePrinter[];
  /** Sources that could not be read, and why. */
  readonly problems: readonly string[];
}
