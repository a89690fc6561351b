// One printer on a UART through ECMA-419 `embedded:io/serial`.
//
// The room reported to the core is what the driver's onWritable said, less
// what was written since, and the core never writes more than that. Drivers
// differ in what they refuse inside that room: the ESP32 one throws when the
// bytes do not fit the TX FIFO (and writes nothing), the Linux host's while
// an earlier write is still pending. The core was told those bytes went out,
// so a refused write is kept, in order, and written first at the next
// onWritable, before any new room is reported; what is kept never exceeds
// the room last reported. An optional busy/CTS input (a GPIO, since the
// ESP32 port ignores hardware flow control) holds the room at zero while
// the printer is busy.

import Digital from 'embedded:io/digital';
import Serial from 'embedded:io/serial';
import type { DeviceEvent } from '../../core/types.js';

export interface UartOptions {
  /** A tty path instead of a UART number: the SDK's Linux host opens devices by path. */
  readonly device: string;
  readonly port: number;
  readonly tx: number;
  readonly rx: number;
  readonly baud: number;
  readonly busyPin: number;
  readonly busyActiveLow: boolean;
}

export class UartPrinter {
  private serial: Serial | undefined;
  private busyInput: Digital | undefined;
  private room = 0;
  private busy = false;
  /** Bytes the driver refused after the core counted them written, in order. */
  private readonly pending: Uint8Array[] = [];

  constructor(
    private readonly index: number,
    private readonly options: UartOptions,
    private readonly deliver: (event: DeviceEvent) => void,
  ) {}

  open(): void {
    const o = this.options;
    try {
      const where = o.device === '' ? { port: o.port, transmit: o.tx, receive: o.rx } : { device: o.device };
      this.serial = new Serial({
        ...where, baud: o.baud, format: 'buffer',
        onWritable: (count: number) => this.writable(count),
        onReadable: (count: number) => this.readable(count),
      });
    } catch (e) {
      this.deliver({ type: 'port.state', port: this.index, state: 'offline', detail: `uart ${o.device === '' ? o.port : o.device}: ${String(e)}` });
      return;
    }
    if (o.busyPin >= 0) this.openBusyInput(o.busyPin);
    // A UART cannot tell whether a printer is attached; "online" means the
    // port is ready, and the dialect's status answers say more.
    this.deliver({ type: 'port.state', port: this.index, state: this.busy ? 'busy' : 'online' });
  }

  /** Hands bytes to the driver. The core never asks for more than the room we reported. */
  write(bytes: Uint8Array): void {
    const serial = this.serial;
    if (serial === undefined) throw new Error(`uart ${this.options.port} is not open`);
    if (bytes.length > this.room) throw new RangeError(`${bytes.length} bytes > room ${this.room}`);
    this.room -= bytes.length;
    if (this.pending.length > 0 || !this.tryWrite(bytes)) this.pending.push(bytes.slice());
  }

  private writable(count: number): void {
    let flushed = 0;
    while (this.pending.length > 0) {
      const next = this.pending[0];
      // Refused again: the driver calls onWritable once more when it has room.
      if (next === undefined || !this.tryWrite(next)) return;
      this.pending.shift();
      flushed += next.length;
    }
    this.room = Math.max(0, count - flushed);
    if (!this.busy) this.deliver({ type: 'port.writable', port: this.index, room: this.room });
  }

  /** False when the driver refused the bytes (no room in it now); they are then not written at all. */
  private tryWrite(bytes: Uint8Array): boolean {
    try {
      this.serial?.write(ownBuffer(bytes));
      return true;
    } catch {
      return false;
    }
  }

  private readable(count: number): void {
    const serial = this.serial;
    if (serial === undefined || count <= 0) return;
    // Drain the 128-byte RX FIFO at once: data left there is lost when it fills.
    const data = serial.read(count);
    if (data instanceof ArrayBuffer && data.byteLength > 0) this.deliver({ type: 'port.data', port: this.index, bytes: new Uint8Array(data) });
  }

  private openBusyInput(pin: number): void {
    const o = this.options;
    const level = (): boolean => (this.busyInput?.read() === (o.busyActiveLow ? 0 : 1));
    try {
      this.busyInput = new Digital({
        pin, mode: o.busyActiveLow ? Digital.InputPullUp : Digital.InputPullDown,
        edge: Digital.Rising | Digital.Falling,
        onReadable: () => this.setBusy(level()),
      });
      this.busy = level();
    } catch (e) {
      this.deliver({ type: 'port.state', port: this.index, state: 'unknown', detail: `busy pin ${pin}: ${String(e)}` });
    }
  }

  private setBusy(busy: boolean): void {
    if (busy === this.busy) return;
    this.busy = busy;
    this.deliver({ type: 'port.state', port: this.index, state: busy ? 'busy' : 'online' });
    this.deliver({ type: 'port.writable', port: this.index, room: busy ? 0 : this.room });
  }
}

/** Drivers take whole ArrayBuffers (the Linux host refuses views), so a view into a larger buffer is copied out. */
function ownBuffer(bytes: Uint8Array): ArrayBuffer {
  if (bytes.byteOffset === 0 && bytes.byteLength === bytes.buffer.byteLength) return bytes.buffer as ArrayBuffer;
  return bytes.slice().buffer;
}
