// Starting the printer emulator as a real process, for the emulator's own
// tests and for the Node host's port tests.

import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import net from 'node:net';
import { after } from 'node:test';
import { SerialPort } from 'serialport';
import { Processes, type Proc } from '../helpers/processes.js';

export interface TcpEmulator {
  proc: Proc;
  port: number;
  /** Every byte received (--raw-out), for tests that compare what was sent. */
  out: string;
  /** What the printer printed (--out): received bytes less the status queries it answered. */
  printed: string;
}

export interface PtyEmulator {
  proc: Proc;
  path: string;
  /** Every byte received (--raw-out). */
  out: string;
  /** What the printer printed (--out). */
  printed: string;
}

/** A fresh temp dir, removed by the returned cleanup. */
export function tempDir(prefix = 'printbridge-test-'): { dir: string; cleanup(): void } {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  return { dir, cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}

export async function tcpEmulator(procs: Processes, dir: string, extra: string[] = [], dialect = 'escpos'): Promise<TcpEmulator> {
  const tag = `tcp-${Date.now()}-${Math.random().toString(36).slice(2)}`;
  const out = join(dir, `${tag}.raw`);
  const printed = join(dir, `${tag}.bin`);
  const proc = procs.cli(['emulate', '--dialect', dialect, '--tcp', '127.0.0.1:0', '--out', printed, '--raw-out', out, ...extra]);
  const { port } = await proc.waitForEvent<{ event: string; port: number }>('listening');
  return { proc, port, out, printed };
}

export async function ptyEmulator(procs: Processes, dir: string, extra: string[] = [], dialect = 'escpos'): Promise<PtyEmulator> {
  const tag = `${Date.now()}-${Math.random().toString(36).slice(2)}`;
  const out = join(dir, `pty-${tag}.raw`);
  const printed = join(dir, `pty-${tag}.bin`);
  const proc = procs.cli(['emulate', '--dialect', dialect, '--pty', join(dir, `tty-${tag}`), '--out', printed, '--raw-out', out, ...extra]);
  const { path } = await proc.waitForEvent<{ event: string; path: string }>('pty');
  return { proc, path, out, printed };
}

/** Bytes a printer sent back, taken in order from a socket or serial port. */
export interface Replies {
  /** The next `n` bytes. */
  take(n: number): Promise<number[]>;
  /** Text up to and including the first occurrence of `end` (latin1). */
  until(end: string): Promise<string>;
  /** Everything received and not taken yet. */
  pending(): number[];
}

export function replies(stream: Readable): Replies {
  let buffered: number[] = [];
  let wake = (): void => {};
  stream.on('data', (chunk: Buffer) => {
    buffered.push(...chunk);
    wake();
  });
  const text = (): string => String.fromCharCode(...buffered);
  return {
    async take(n) {
      while (buffered.length < n) await new Promise<void>((r) => (wake = r));
      const out = buffered.slice(0, n);
      buffered = buffered.slice(n);
      return out;
    },
    async until(end) {
      while (!text().includes(end)) await new Promise<void>((r) => (wake = r));
      const upTo = text().indexOf(end) + end.length;
      const out = text().slice(0, upTo);
      buffered = buffered.slice(upTo);
      return out;
    },
    pending: () => [...buffered],
  };
}

/** The last `received` total the emulator reported. */
export function lastReceived(proc: Proc): number {
  const reports = proc.events().filter((e) => e['event'] === 'received');
  return (reports.at(-1)?.['bytes'] as number | undefined) ?? 0;
}

/** Waits until the emulator reports exactly `bytes` consumed in total. */
export function received(proc: Proc, bytes: number, from = 0): Promise<unknown> {
  return proc.waitForEvent({ event: 'received', bytes }, { from, timeout: 60_000 });
}

export function sha256(bytes: Uint8Array): string {
  return createHash('sha256').update(bytes).digest('hex');
}

export function fileHash(path: string): string {
  return sha256(readFileSync(path));
}

/**
 * Resolves once `probe` has returned the same value on `times` consecutive
 * looks `everyMs` apart: "nothing moves any more", used to observe a stall.
 * It measures nothing; a stall that never settles ends in the timeout.
 */
export async function settled<T>(probe: () => T, { everyMs = 100, times = 5, timeout = 30_000 } = {}): Promise<T> {
  const deadline = Date.now() + timeout;
  let last = JSON.stringify(probe());
  let same = 0;
  while (same < times) {
    if (Date.now() > deadline) throw new Error(`still changing after ${timeout} ms: ${last}`);
    await new Promise((r) => setTimeout(r, everyMs));
    const now = JSON.stringify(probe());
    same = now === last ? same + 1 : 0;
    last = now;
  }
  return probe();
}

export interface EmulatorHarness {
  readonly procs: Processes;
  readonly dir: string;
  /** A TCP connection to an emulator, destroyed at the end of the file. */
  connect(port: number): Promise<net.Socket>;
  /** The emulator's PTY opened with serialport, closed at the end of the file. */
  openSerial(path: string): Promise<SerialPort>;
}

/**
 * What every emulator test file sets up: its processes, a temp dir, and the
 * sockets and serial ports it opens, all torn down after the file's tests.
 */
export function emulatorHarness(): EmulatorHarness {
  const procs = new Processes();
  const tmp = tempDir();
  const sockets: net.Socket[] = [];
  const ports: SerialPort[] = [];
  after(async () => {
    for (const s of sockets) s.destroy();
    await Promise.all(ports.map((p) => new Promise<void>((r) => (p.isOpen ? p.close(() => r()) : r()))));
    await procs.killAll();
    tmp.cleanup();
  });
  return {
    procs,
    dir: tmp.dir,
    connect: (port) =>
      new Promise((resolve, reject) => {
        const socket = net.connect(port, '127.0.0.1', () => resolve(socket));
        sockets.push(socket);
        socket.once('error', reject);
      }),
    openSerial: (path) =>
      new Promise((resolve, reject) => {
        const port = new SerialPort({ path, baudRate: 115200, autoOpen: false });
        port.open((e) => {
          if (e) return reject(e);
          ports.push(port);
          resolve(port);
        });
      }),
  };
}
