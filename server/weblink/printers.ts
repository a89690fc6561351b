// The Weblink printers connected to this server, by serial number, and the
// one thing clients ask of them that no bridge does: SGD (printer.sgd).
// A newer main connection of a serial takes its place here; a late close of
// the older one does not remove the newer.

import { PrintbridgeError } from '../errors.js';
import type { SgdRequest, WeblinkPrinter } from './printer.js';

/** SGD requests one printer may have waiting; more fail RATE_LIMITED at once. */
export const MAX_SGD_WAITING = 16;

export class WeblinkPrinters {
  private readonly bySerial = new Map<string, WeblinkPrinter>();

  get(serial: string): WeblinkPrinter | undefined {
    return this.bySerial.get(serial);
  }

  /** Makes `printer` the current one of its serial and returns the one it replaced. */
  set(printer: WeblinkPrinter): WeblinkPrinter | undefined {
    const old = this.bySerial.get(printer.serial);
    this.bySerial.set(printer.serial, printer);
    return old === printer ? undefined : old;
  }

  delete(printer: WeblinkPrinter): void {
    if (this.bySerial.get(printer.serial) === printer) this.bySerial.delete(printer.serial);
  }

  /** Reads or sets SGD values of `SERIAL/0` over its config channel. */
  async sgd(device: string, port: number, request: SgdRequest, timeoutMs: number): Promise<Record<string, unknown>> {
    if (port !== 0) throw new PrintbridgeError('UNKNOWN_PRINTER', `${device}/${port}: a Weblink printer is port 0`);
    const printer = this.bySerial.get(device);
    if (printer === undefined || !printer.online) throw new PrintbridgeError('DEVICE_OFFLINE', `${device} is not connected over Weblink`);
    if (printer.sgdWaiting >= MAX_SGD_WAITING) throw new PrintbridgeError('RATE_LIMITED', `${MAX_SGD_WAITING} SGD requests already wait for ${device}`);
    return printer.sgd(request, timeoutMs);
  }
}
