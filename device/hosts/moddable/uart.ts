// One printer on a UART through ECMA-419 `embedded:io/serial`.
//
// The ESP32 driver has no software buffer: write() throws when the bytes do
// not fit the TX FIFO and never writes part of them, and onWritable reports
// how much room the FIFO has. So the room the port reports to the core is
// exactly that count, minus what we wrote since, and a write is never
// larger than it. An optional busy/CTS input (a GPIO, since the ESP32 port
// ignores hardware flow control) holds the room at zero while the printer
// is busy.

import Digital from 'embedded:io/digital';
import Serial from 'embedded:io/serial';
import type { DeviceEvent } from '../../core/types.js';

export interface UartOptions {
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

  constructor(
    private readonly index: number,
    private readonly options: UartOptions,
    private readonly deliver: (event: DeviceEvent) => void,
  ) {}

  open(): void {
    const o = this.options;
    try {
      this.serial = new Serial({
        port: o.port, transmit: o.tx, receive: o.rx, baud: o.baud, format: 'buffer',
        onWritable: (count: number) => this.writable(count),
        onReadable: (count: number) => this.readable(count),
      });
    } catch (e) {
      this.deliver({ type: 'port.state', port: this.index, state: 'offline', detail: `uart ${o.port}: ${String(e)}` });
      return;
    }
    if (o.busyPin >= 0) this.openBusyInput(o.busyPin);
    // A UART cannot tell whether a printer is attached; "online" means the
    // port is ready, and the dialect's status answers say more.
    this.deliver({ type: 'port.state', port: this.index, state: this.busy ? 'busy' : 'online' });
  }

  /** Hands bytes to the FIFO. The core never asks for more than the room we reported. */
  write(bytes: Uint8Array): void {
    const serial = this.serial;
    if (serial === undefined) throw new Error(`uart ${this.options.port} is not open`);
    if (bytes.length > this.room) throw new RangeError(`${bytes.length} bytes > room ${this.room}`);
    serial.write(bytes);
    this.room -= bytes.length;
  }

  private writable(count: number): void {
    this.room = count;
    if (!this.busy) this.deliver({ type: 'port.writable', port: this.index, room: count });
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
