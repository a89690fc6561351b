// Printer addresses on the command line and in bridge options:
//   tcp://HOST:PORT            a network printer's raw port (PORT default 9100)
//   serial:/dev/ttyUSB0@115200 a serial device; @BAUD is optional (9600)

import type { PortOptions, PrinterPort } from './printer-port.js';
import { serialPort } from './serial-port.js';
import { tcpPort } from './tcp-port.js';

export type PrinterAddress =
  | { readonly kind: 'tcp'; readonly host: string; readonly port: number }
  | { readonly kind: 'serial'; readonly path: string; readonly baud: number };

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
  throw new TypeError(`printer ${uri}: use tcp://HOST:PORT or serial:/dev/NAME[@BAUD]`);
}

export function openPrinterPort(uri: string, opts: PortOptions = {}): PrinterPort {
  const a = parsePrinterUri(uri);
  return a.kind === 'tcp' ? tcpPort(a.host, a.port, opts) : serialPort(a.path, a.baud, opts);
}
