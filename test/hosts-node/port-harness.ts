// Drives a PrinterPort the way the device core does: writes only as much as
// the last reported room allows (less what it wrote since), and records
// every report so a test can check the port's honesty.

import assert from 'node:assert/strict';
import { after } from 'node:test';
import type { PortLinkState, PrinterPort } from '../../device/hosts/node/ports/printer-port.js';
import { Processes } from '../helpers/processes.js';
import { tempDir } from '../tools/emulator-fixture.js';

export class PortDriver {
  /** The room the writer believes it has: last report less bytes written since. */
  room = 0;
  readonly reports: number[] = [];
  readonly states: { state: PortLinkState; detail: string | undefined }[] = [];
  readonly replies: number[] = [];
  written = 0;
  private payload: Uint8Array = new Uint8Array();
  private readonly waiters = new Set<() => void>();

  constructor(readonly port: PrinterPort, private readonly chunk = 1024) {
    port.onWritable((room) => {
      this.room = room;
      this.reports.push(room);
      this.pump();
      this.wake();
    });
    port.onState((state, detail) => {
      this.states.push({ state, detail });
      this.wake();
    });
    port.onData((bytes) => {
      this.replies.push(...bytes);
      this.wake();
    });
  }

  get lastState(): PortLinkState | undefined {
    return this.states.at(-1)?.state;
  }

  /** Starts writing `payload`, paced by room reports, in the background. */
  send(payload: Uint8Array): void {
    this.payload = payload;
    this.written = 0;
    this.pump();
  }

  get done(): boolean {
    return this.written === this.payload.length;
  }

  until(condition: () => boolean, what: string, timeout = 30_000): Promise<void> {
    return new Promise((resolve, reject) => {
      const check = (): void => {
        if (!condition()) return;
        clearTimeout(timer);
        this.waiters.delete(check);
        resolve();
      };
      const timer = setTimeout(() => {
        this.waiters.delete(check);
        reject(new Error(`timed out waiting for ${what}; states ${JSON.stringify(this.states)}, last rooms ${this.reports.slice(-5).join(',')}`));
      }, timeout);
      this.waiters.add(check);
      check();
    });
  }

  private pump(): void {
    while (this.room > 0 && this.written < this.payload.length) {
      const n = Math.min(this.room, this.chunk, this.payload.length - this.written);
      // Honest means the figure we were given never exceeds what the port really takes.
      assert.ok(n <= this.port.room(), `writing ${n} with only ${this.port.room()} real room`);
      assert.ok(this.port.write(this.payload.subarray(this.written, this.written + n)), 'write on an open port');
      this.written += n;
      this.room -= n;
    }
  }

  private wake(): void {
    for (const w of [...this.waiters]) w();
  }
}

/** Opens `port` under a driver; `opened` collects the file's ports for its after() to close. */
export function driven(port: PrinterPort, opened: PrinterPort[]): PortDriver {
  opened.push(port);
  const driver = new PortDriver(port);
  port.open();
  return driver;
}

/** An ESC/POS real-time status query (DLE EOT 1) and the emulator's one-byte answer, back as data. */
export async function expectStatusAnswer(d: PortDriver): Promise<void> {
  await d.until(() => d.room > 0, 'room');
  d.send(Uint8Array.of(0x10, 0x04, 0x01));
  await d.until(() => d.replies.length === 1, 'one status byte');
  assert.deepEqual(d.replies, [0x12]);
}

/** A port test file's emulator processes, temporary folder and ports, all closed by the after() it registers. */
export function portTestFile(): { procs: Processes; tmp: ReturnType<typeof tempDir>; ports: PrinterPort[]; drive(port: PrinterPort): PortDriver } {
  const procs = new Processes();
  const tmp = tempDir();
  const ports: PrinterPort[] = [];
  after(async () => {
    await Promise.all(ports.map((p) => p.close()));
    await procs.killAll();
    tmp.cleanup();
  });
  return { procs, tmp, ports, drive: (port) => driven(port, ports) };
}

