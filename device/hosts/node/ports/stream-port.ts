// The part of a printer port that does not depend on the medium: keep a
// Node duplex stream open (reopening with capped exponential backoff), count
// what Node still buffers, and report room after every write and flush.
// tcp-port.ts and serial-port.ts only say how to open their stream.

import type { Duplex } from 'node:stream';
import { backoffCeiling } from '../../../core/backoff.js';
import { PortReports } from './port-reports.js';
import { DEFAULT_HIGH_WATER_MARK, type PortLinkState, type PortOptions, type PrinterPort } from './printer-port.js';

/** Resolves with an open stream, or rejects with the reason it cannot open. */
export type Opener = () => Promise<Duplex>;

export class StreamPort implements PrinterPort {
  private stream: Duplex | undefined;
  private opening = false;
  private closed = false;
  private attempt = 0;
  private openedAt = 0;
  private retry: NodeJS.Timeout | undefined;
  private readonly reports = new PortReports(this);
  private readonly hwm: number;
  private readonly base: number;
  private readonly cap: number;
  private readonly stableAfter: number;
  private dataListener: (bytes: Uint8Array) => void = () => {};

  constructor(readonly label: string, private readonly opener: Opener, opts: PortOptions = {}) {
    this.hwm = opts.highWaterMark ?? DEFAULT_HIGH_WATER_MARK;
    this.base = opts.backoffBase ?? 250;
    this.cap = opts.backoffCap ?? 10_000;
    this.stableAfter = opts.stableAfter ?? 10_000;
  }

  get isOpen(): boolean {
    return this.stream !== undefined;
  }

  onWritable(listener: (room: number) => void): void {
    this.reports.writable = listener;
  }

  onData(listener: (bytes: Uint8Array) => void): void {
    this.dataListener = listener;
  }

  onState(listener: (state: PortLinkState, detail?: string) => void): void {
    this.reports.state = listener;
  }

  open(): void {
    if (this.closed) throw new Error(`${this.label}: open() after close()`);
    if (this.stream || this.opening || this.retry) return;
    this.opening = true;
    this.opener().then(
      (stream) => {
        this.opening = false;
        if (this.closed) return void stream.destroy();
        this.attach(stream);
      },
      (e: unknown) => {
        this.opening = false;
        if (!this.closed) this.failed(describe(e));
      },
    );
  }

  room(): number {
    return this.stream ? Math.max(0, this.hwm - this.stream.writableLength) : 0;
  }

  write(bytes: Uint8Array): boolean {
    const stream = this.stream;
    if (!stream) return false;
    // The callback runs once the OS took the bytes: room grows again.
    stream.write(bytes, () => this.reports.room());
    this.reports.room();
    return true;
  }

  async close(): Promise<void> {
    this.closed = true;
    if (this.retry) clearTimeout(this.retry);
    this.retry = undefined;
    const stream = this.stream;
    this.stream = undefined;
    if (!stream || stream.destroyed) return;
    await new Promise<void>((resolve) => {
      stream.once('close', () => resolve());
      stream.destroy();
    });
  }

  private attach(stream: Duplex): void {
    this.stream = stream;
    this.openedAt = performance.now();
    let why: string | undefined;
    stream.on('data', (chunk: Buffer) => this.dataListener(new Uint8Array(chunk.buffer, chunk.byteOffset, chunk.byteLength)));
    stream.on('error', (e) => (why ??= describe(e)));
    stream.on('end', () => (why ??= 'closed by the printer'));
    // SerialPort passes its disconnect error here; net.Socket a boolean.
    stream.once('close', (error?: unknown) => {
      if (error instanceof Error) why ??= error.message;
      if (this.stream !== stream) return;
      this.stream = undefined;
      if (performance.now() - this.openedAt >= this.stableAfter) this.attempt = 0;
      if (!this.closed) this.failed(why ?? 'closed');
    });
    this.reports.setState('online');
    this.reports.room();
  }

  private failed(detail: string): void {
    this.reports.setState('offline', detail);
    this.reports.writable(0);
    const delay = backoffCeiling(this.attempt, this.base, this.cap);
    this.attempt++;
    this.retry = setTimeout(() => {
      this.retry = undefined;
      if (!this.closed) this.open();
    }, delay);
  }
}

function describe(e: unknown): string {
  if (e instanceof Error) return e.message;
  return String(e);
}
