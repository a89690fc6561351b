// A printer on a serial device (USB-serial adapter, UART, or an emulator's
// PTY). Opened exclusively so two bridges cannot interleave bytes; a device
// that disappears (USB unplugged) closes the stream and the port reopens it
// when it comes back.

import { SerialPort } from 'serialport';
import type { PortOptions, PrinterPort } from './printer-port.js';
import { StreamPort } from './stream-port.js';

export function serialPort(path: string, baudRate: number, opts: PortOptions = {}): PrinterPort {
  return new StreamPort(`serial:${path}@${baudRate}`, () => open(path, baudRate), opts);
}

function open(path: string, baudRate: number): Promise<SerialPort> {
  return new Promise((resolve, reject) => {
    const port = new SerialPort({ path, baudRate, autoOpen: false, lock: true });
    port.open((e) => (e ? reject(e) : resolve(port)));
  });
}
