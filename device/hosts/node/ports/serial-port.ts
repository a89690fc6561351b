// A printer on a serial device (USB-serial adapter, UART, or an emulator's
// PTY). Opened exclusively so two bridges cannot interleave bytes; a device
// that disappears (USB unplugged) closes the stream and the port reopens it
// when it comes back.

import { SerialPort, type SerialPortOpenOptions } from 'serialport';
import { hangupSafeBinding } from './hangup-safe-binding.js';
import type { PortOptions, PrinterPort } from './printer-port.js';
import { StreamPort } from './stream-port.js';

export function serialPort(path: string, baudRate: number, opts: PortOptions = {}): PrinterPort {
  return new StreamPort(`serial:${path}@${baudRate}${opts.rtscts === true ? ' rtscts' : ''}`, () => open(path, baudRate, opts.rtscts === true), opts);
}

function open(path: string, baudRate: number, rtscts: boolean): Promise<SerialPort> {
  return new Promise((resolve, reject) => {
    // SerialPort's types hide `binding`, but it honours one given (see hangup-safe-binding.ts).
    const options = { path, baudRate, rtscts, autoOpen: false, lock: true, binding: hangupSafeBinding } as SerialPortOpenOptions<typeof SerialPort.binding>;
    const port = new SerialPort(options);
    port.open((e) => (e ? reject(e) : resolve(port)));
  });
}
