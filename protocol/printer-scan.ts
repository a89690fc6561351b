// The control messages a device answers when its hello's caps name them
// (since 1.6; the Node bridge does): `printers.scan`, the printers its
// computer can reach, and `printers.add`, one of them made a printer of the
// device. The shapes of their answers, shared by the bridge that sends them
// and the clients that read them.

import { DIALECTS, type Dialect } from './device-messages.js';

/** The control names, which are also the caps that announce them. */
export const SCAN_CAP = 'printers.scan';
export const ADD_CAP = 'printers.add';

export const SCAN_KINDS = ['serial', 'usb', 'cups', 'network'] as const;
export type ScanKind = (typeof SCAN_KINDS)[number];

export interface ScanEntry {
  /** The address the bridge takes: serial:/dev/ttyUSB0, usb:/dev/usb/lp0, usb:VID:PID, cups:QUEUE, tcp://HOST:PORT. */
  uri: string;
  kind: ScanKind;
  /** What the computer says about it, for a person. */
  detail: string;
  /** Set when the address is already one of the device's printers: the printer is `${device}/${port}`. */
  port?: number | undefined;
}

/** `printers.scan`'s data. */
export interface ScanAnswer {
  printers: ScanEntry[];
  /** Sources that could not be read, and why ("CUPS: connect ECONNREFUSED"). */
  problems: string[];
  /** Entries left out to keep the answer under the limit of a control result. */
  more?: number | undefined;
}

/** `printers.add`'s data. */
export interface AddAnswer {
  port: number;
  /** False when the device has nowhere to keep it: the printer lasts until the device stops. */
  saved: boolean;
}

/**
 * The dialects a printer at `uri` can be driven in. A CUPS queue takes each
 * job whole and passes nothing back (no status queries, no pacing of the
 * printer's own), so raw only.
 */
export function dialectsFor(uri: string): readonly Dialect[] {
  return uri.startsWith('cups:') ? ['raw'] : DIALECTS;
}
