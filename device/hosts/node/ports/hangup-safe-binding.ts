// The serialport binding, with two fixes.
//
// 1. bindings-cpp (13.0.0) retries a read
// that returns 0 bytes, forever and without yielding a result
// (serialport/bindings-cpp#162). On Linux and macOS a serial device that went
// away (USB adapter unplugged, the PTY's other end closed) is "hung up" and
// reads 0 bytes, so the bridge would spin, grow memory until it crashes, and
// never learn the printer is gone. Here a 0-byte read is a disconnect, which
// SerialPort turns into a 'close' that the port reopens from.
//
// 2. Its poller restarts the OS poll with only the event just asked for, so
// a write that waits for 'writable' silently drops a pending wait for
// 'readable' until the write can go on. When the printer answers while we
// write (status bytes, Automatic Status Back) and both directions fill up,
// neither side reads again: a deadlock. Here every poll asks for all the
// events someone is still waiting for.
//
// Only the read and the poll of an opened unix port are replaced; they use
// the port's public `fd` and `poller` exactly as bindings-cpp does. Windows
// (no fd) is left as it is.

import { read } from 'node:fs';
import { SerialPort } from 'serialport';

interface Poller {
  once(event: 'readable', listener: (error?: Error | null) => void): unknown;
  poll(flags?: number): void;
  listenerCount(event: string): number;
}

const UV_READABLE = 0b01;
const UV_WRITABLE = 0b10;

/** Makes every poll request include the events that still have a waiter. */
function pollForAllWaiters(poller: Poller): void {
  const poll = poller.poll.bind(poller);
  poller.poll = (flags = 0) => {
    const waiting = (poller.listenerCount('readable') > 0 ? UV_READABLE : 0) | (poller.listenerCount('writable') > 0 ? UV_WRITABLE : 0);
    poll(flags | waiting);
  };
}

interface UnixPortBinding {
  fd: number | null;
  readonly isOpen: boolean;
  readonly poller: Poller;
  read(buffer: Buffer, offset: number, length: number): Promise<{ buffer: Buffer; bytesRead: number }>;
}

interface BindingLike {
  open(options: unknown): Promise<unknown>;
}

function isUnixPort(port: unknown): port is UnixPortBinding {
  const p = port as Partial<UnixPortBinding> | null;
  return typeof p?.fd === 'number' && typeof p.poller?.once === 'function' && typeof p.poller.poll === 'function' && typeof p.read === 'function';
}

function readFd(fd: number, buffer: Buffer, offset: number, length: number): Promise<number> {
  return new Promise((resolve, reject) => read(fd, buffer, offset, length, null, (e, n) => (e ? reject(e) : resolve(n))));
}

/**
 * Resolves when the poller says the fd is readable. A hang-up counts as
 * readable (libuv reports it so), and the next read then returns 0. Only
 * 'readable' is asked for: each poll request replaces the previous one.
 */
function readable(poller: Poller): Promise<void> {
  return new Promise((resolve) => poller.once('readable', () => resolve()));
}

function canceled(): Error {
  return Object.assign(new Error('Port is not open'), { canceled: true });
}

async function readUnix(port: UnixPortBinding, buffer: Buffer, offset: number, length: number): Promise<{ buffer: Buffer; bytesRead: number }> {
  for (;;) {
    if (!port.isOpen || port.fd === null) throw canceled();
    let bytesRead: number;
    try {
      bytesRead = await readFd(port.fd, buffer, offset, length);
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      if (code === 'EAGAIN' || code === 'EWOULDBLOCK' || code === 'EINTR') {
        if (!port.isOpen) throw canceled();
        await readable(port.poller);
        continue;
      }
      // Any other failure ends the port: SerialPort closes it as disconnected.
      throw e;
    }
    if (bytesRead === 0) throw new Error('serial device hung up (unplugged or closed at the other end)');
    return { buffer, bytesRead };
  }
}

const detected = SerialPort.binding as unknown as BindingLike;

export const hangupSafeBinding: BindingLike = {
  ...detected,
  async open(options) {
    const port = await detected.open(options);
    if (isUnixPort(port)) {
      pollForAllWaiters(port.poller);
      port.read = (buffer, offset, length) => readUnix(port, buffer, offset, length);
    }
    return port;
  },
};
