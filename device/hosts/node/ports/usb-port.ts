// A USB printer-class device as the kernel's usblp driver gives it
// (/dev/usb/lpN, or found by its USB ids at every open, so that a replug
// that renumbers it changes nothing): a character device that takes the printer's bytes and,
// for printers that answer (bidirectional), gives back their status
// answers. No termios, so not a serial port; and not a socket or tty, so
// Node has no stream for it. The device is opened non-blocking and read by
// polling: a blocking read would hold one of libuv's few threads for as long
// as the printer says nothing. Unplugged, reads and writes fail (ENODEV,
// EIO): the stream ends and the port reopens the path when it is back, a
// new printer session (device/core/spooler.ts).

import fs from 'node:fs';
import { Duplex } from 'node:stream';
import type { PortOptions, PrinterPort } from './printer-port.js';
import { StreamPort } from './stream-port.js';

/** How often an idle device is asked for answers, and a full one for room again. */
const POLL_MS = 20;
const READ_SIZE = 4096;

export function usbPort(path: string, opts: PortOptions = {}): PrinterPort {
  return new StreamPort(`usb:${path}`, () => openDevice(path), opts);
}

/** A USB printer known by its ids (`usb:VID:PID[:SERIAL]`): its lpN is looked up at every open. */
export function usbPortByIds(label: string, find: () => string | undefined, opts: PortOptions = {}): PrinterPort {
  return new StreamPort(label, () => {
    const path = find();
    if (path === undefined) return Promise.reject(Object.assign(new Error('no USB printer with these ids is plugged in'), { code: 'ENODEV' }));
    return openDevice(path);
  }, opts);
}

function openDevice(path: string): Promise<Duplex> {
  return new Promise((resolve, reject) => {
    fs.open(path, fs.constants.O_RDWR | fs.constants.O_NONBLOCK | fs.constants.O_NOCTTY, (e, fd) => (e ? reject(e) : resolve(new CharDevice(fd))));
  });
}

const again = (e: NodeJS.ErrnoException): boolean => e.code === 'EAGAIN' || e.code === 'EWOULDBLOCK';

class CharDevice extends Duplex {
  private reading = false;
  private gone = false;
  private readonly timers = new Set<NodeJS.Timeout>();
  private readonly buffer = Buffer.alloc(READ_SIZE);

  constructor(private readonly fd: number) {
    super();
  }

  override _read(): void {
    this.poll();
  }

  override _write(chunk: Buffer, _encoding: BufferEncoding, callback: (error?: Error | null) => void): void {
    this.writeFrom(chunk, 0, callback);
  }

  override _destroy(error: Error | null, callback: (error?: Error | null) => void): void {
    this.gone = true;
    for (const t of this.timers) clearTimeout(t);
    this.timers.clear();
    fs.close(this.fd, () => callback(error));
  }

  private later(fn: () => void): void {
    const t = setTimeout(() => {
      this.timers.delete(t);
      if (!this.gone) fn();
    }, POLL_MS);
    this.timers.add(t);
  }

  private writeFrom(chunk: Buffer, at: number, callback: (error?: Error | null) => void): void {
    fs.write(this.fd, chunk, at, chunk.length - at, null, (e, n) => {
      if (this.gone) return callback(new Error('device closed'));
      if (e && !again(e)) return callback(e);
      const next = at + (e ? 0 : n);
      if (next >= chunk.length) return callback();
      // The device's buffer is full (the printer is busy): try the rest again shortly.
      this.later(() => this.writeFrom(chunk, next, callback));
    });
  }

  private poll(): void {
    if (this.reading || this.gone) return;
    this.reading = true;
    fs.read(this.fd, this.buffer, 0, READ_SIZE, null, (e, n) => {
      this.reading = false;
      if (this.gone) return;
      if (e && !again(e)) return void this.destroy(e);
      // Nothing to read yet: ask again later.
      if (e) return this.later(() => this.poll());
      // End of file: the device hung up (a PTY stand-in whose other side closed; usblp says ENODEV).
      if (n === 0) return void this.destroy(new Error('the device hung up'));
      if (this.push(Buffer.from(this.buffer.subarray(0, n)))) this.poll();
    });
  }
}
