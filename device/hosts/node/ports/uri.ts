// Printer addresses on the command line and in bridge options:
//   tcp://HOST:PORT            a network printer's raw port (PORT default 9100)
//   serial:/dev/ttyUSB0@115200 a serial device; @BAUD is optional (9600)
//   usb:/dev/usb/lp0           a USB printer-class device (the kernel's usblp)
//   usb:04b8:0202[:SERIAL]     the same, found by its USB ids at every open
//   cups:QUEUE                 a CUPS queue on the server CUPS_SERVER names
//                              (as for lp; localhost:631 when unset)

import type { PortTransport } from '../../../core/types.js';
import type { Dialect } from '../../../../protocol/device-messages.js';
import { dialectsFor } from '../../../../protocol/printer-scan.js';
import { cupsServer } from '../ipp.js';
import { CupsPort } from './cups-port.js';
import type { PortOptions, PrinterPort } from './printer-port.js';
import { serialPort } from './serial-port.js';
import { tcpPort } from './tcp-port.js';
import { usbPort, usbPortByIds } from './usb-port.js';
import { findUsbPrinter } from '../list-printers.js';

export type PrinterAddress =
  | { readonly kind: 'tcp'; readonly host: string; readonly port: number }
  | { readonly kind: 'serial'; readonly path: string; readonly baud: number }
  | { readonly kind: 'usb'; readonly path: string }
  | { readonly kind: 'usb-ids'; readonly vendor: string; readonly product: string; readonly serial: string | undefined }
  | { readonly kind: 'cups'; readonly queue: string };

export const DEFAULT_BAUD = 9600;
export const DEFAULT_TCP_PORT = 9100;

/** Throws a TypeError that names the problem when `uri` is not a printer address. */
export function parsePrinterUri(uri: string): PrinterAddress {
  if (uri.startsWith('tcp://')) {
    const m = /^tcp:\/\/(\[[^\]]+\]|[^:/[\]]+)(?::(\d+))?\/?$/.exec(uri);
    const port = m?.[2] === undefined ? DEFAULT_TCP_PORT : Number(m[2]);
    if (!m || !Number.isInteger(port) || port < 1 || port > 65535) throw new TypeError(`printer ${uri}: expected tcp://HOST:PORT`);
    return { kind: 'tcp', host: m[1]!.replace(/^\[(.*)\]$/, '$1'), port };
  }
  if (uri.startsWith('serial:')) {
    const m = /^serial:(\/[^@]+)(?:@(\d+))?$/.exec(uri);
    const baud = m?.[2] === undefined ? DEFAULT_BAUD : Number(m[2]);
    if (!m || !Number.isInteger(baud) || baud < 50) throw new TypeError(`printer ${uri}: expected serial:/dev/NAME[@BAUD]`);
    return { kind: 'serial', path: m[1]!, baud };
  }
  if (uri.startsWith('usb:')) {
    const ids = /^usb:([0-9a-fA-F]{4}):([0-9a-fA-F]{4})(?::([\x21-\x7e]{1,126}))?$/.exec(uri);
    if (ids) return { kind: 'usb-ids', vendor: ids[1]!, product: ids[2]!, serial: ids[3] };
    const m = /^usb:(\/[^@]+)$/.exec(uri);
    if (!m) throw new TypeError(`printer ${uri}: expected usb:/dev/usb/lpN (a path) or usb:VID:PID[:SERIAL] (hex USB ids, as --list-printers shows them)`);
    return { kind: 'usb', path: m[1]! };
  }
  if (uri.startsWith('cups:')) {
    // CUPS's own rule for queue names: printable, no space, "/", "#" or "\\", at most 127 bytes.
    const m = /^cups:([^\s/#\\\x00-\x1f\x7f]{1,127})$/.exec(uri);
    if (!m) throw new TypeError(`printer ${uri}: expected cups:QUEUE (a CUPS queue name: no spaces, "/", "#" or "\\")`);
    return { kind: 'cups', queue: m[1]! };
  }
  throw new TypeError(`printer ${uri}: use tcp://HOST:PORT, serial:/dev/NAME[@BAUD], usb:/dev/usb/lpN, usb:VID:PID[:SERIAL] or cups:QUEUE`);
}

/**
 * What ends a printer session on this address (PortConfig.transport; see
 * device/core/spooler.ts). By scheme alone: a host given ready-made ports
 * may name them as it likes, and anything else is taken for a serial line.
 */
export function portTransport(uri: string): PortTransport {
  return uri.startsWith('tcp:') ? 'network' : uri.startsWith('cups:') ? 'spooler' : 'serial';
}

/** Why the printer at `uri` cannot be driven in `dialect` (dialectsFor), or undefined. */
export function dialectProblem(uri: string, dialect: Dialect): string | undefined {
  return dialectsFor(uri).includes(dialect) ? undefined : `${uri}: a CUPS queue takes the raw dialect only, not ${dialect}`;
}

/** The name the system knows the printer by, for clients (compat printers.find) when no name is given: a CUPS queue's. */
export function systemName(uri: string): string | undefined {
  return uri.startsWith('cups:') ? uri.slice('cups:'.length) : undefined;
}

/** Whether two addresses name the same printer (a serial line at any speed, USB ids in any case). */
export function sameAddress(a: PrinterAddress, b: PrinterAddress): boolean {
  switch (a.kind) {
    case 'tcp':
      return b.kind === 'tcp' && a.host.toLowerCase() === b.host.toLowerCase() && a.port === b.port;
    case 'serial':
    case 'usb':
      return b.kind === a.kind && a.path === b.path;
    case 'usb-ids':
      return b.kind === 'usb-ids' && a.vendor.toLowerCase() === b.vendor.toLowerCase() && a.product.toLowerCase() === b.product.toLowerCase() && a.serial === b.serial;
    case 'cups':
      return b.kind === 'cups' && a.queue === b.queue;
    default:
      return a satisfies never;
  }
}

export function openPrinterPort(uri: string, opts: PortOptions = {}): PrinterPort {
  const a = parsePrinterUri(uri);
  if (a.kind === 'cups') return new CupsPort(a.queue, opts.cups ?? cupsServer(), opts);
  if (a.kind === 'usb') return usbPort(a.path, opts);
  if (a.kind === 'usb-ids') return usbPortByIds(uri, () => findUsbPrinter(a, opts.sysfs, opts.devDir), opts);
  return a.kind === 'tcp' ? tcpPort(a.host, a.port, opts) : serialPort(a.path, a.baud, opts);
}
