// The printer's input side: takes bytes off one source stream at a time, as
// fast as the "mechanism" allows, and hands them on. It never reads ahead of
// what it consumes, so when it stops (a stall) or slows down (--baud) the
// source's buffers fill and backpressure travels back to the sender: the
// socket or socat stops being read, the kernel buffers fill, the sender's
// writes stop completing.
//
// Reading uses paused mode (`read()` on 'readable'); bytes beyond a stall
// point or a pacing slice are pushed back with `unshift`, so the stall
// happens at an exact byte count.

import type { Readable } from 'node:stream';

export interface IntakeOptions {
  /** Stall once, after exactly this many bytes in total. */
  stallAfter?: number | undefined;
  /** Line rate in baud (8N1: ten bit times per byte); undefined means unpaced. */
  baud?: number | undefined;
  consume(bytes: Buffer): void;
  /** `byCount` is true when the --stall-after point was reached, false for stall(). */
  stalled(total: number, byCount: boolean): void;
}

/** Pacing slices are this long, so the rate holds even with 64 KiB reads. */
const SLICE_MS = 20;

export class Intake {
  total = 0;
  private source: Readable | undefined;
  private stallPending: number | undefined;
  private isStalled = false;
  /** Monotonic time at which the paced line is free again. */
  private lineFreeAt = 0;
  private wait: NodeJS.Timeout | undefined;
  private readonly bytesPerMs: number | undefined;
  private readonly onReadable = (): void => this.pump();

  constructor(private readonly opts: IntakeOptions) {
    this.stallPending = opts.stallAfter;
    this.bytesPerMs = opts.baud === undefined ? undefined : opts.baud / 10 / 1000;
  }

  get stalled(): boolean {
    return this.isStalled;
  }

  attach(source: Readable): void {
    this.detach();
    this.source = source;
    source.on('readable', this.onReadable);
    this.pump();
  }

  detach(): void {
    this.source?.off('readable', this.onReadable);
    this.source = undefined;
  }

  stall(byCount = false): void {
    if (this.isStalled) return;
    this.isStalled = true;
    this.opts.stalled(this.total, byCount);
  }

  resume(): void {
    if (!this.isStalled) return;
    this.isStalled = false;
    this.pump();
  }

  close(): void {
    this.detach();
    if (this.wait) clearTimeout(this.wait);
    this.wait = undefined;
  }

  private pump(): void {
    const source = this.source;
    while (source && source === this.source && !this.isStalled && this.wait === undefined) {
      const chunk = source.read() as Buffer | null;
      if (chunk === null) return;
      let take = chunk.length;
      if (this.stallPending !== undefined) take = Math.min(take, this.stallPending - this.total);
      const slice = this.sliceBytes();
      if (slice !== undefined) take = Math.min(take, slice);
      if (take < chunk.length) source.unshift(chunk.subarray(take));
      if (take > 0) {
        this.total += take;
        this.opts.consume(chunk.subarray(0, take));
        this.pace(take);
      }
      if (this.stallPending !== undefined && this.total >= this.stallPending) {
        this.stallPending = undefined;
        this.stall(true);
      }
    }
  }

  private sliceBytes(): number | undefined {
    if (this.bytesPerMs === undefined) return undefined;
    return Math.max(1, Math.floor(this.bytesPerMs * SLICE_MS));
  }

  /** Holds the line busy for the time `n` bytes take at the configured rate. */
  private pace(n: number): void {
    if (this.bytesPerMs === undefined) return;
    const now = performance.now();
    this.lineFreeAt = Math.max(this.lineFreeAt, now) + n / this.bytesPerMs;
    const delay = this.lineFreeAt - now;
    if (delay < 1) return;
    this.wait = setTimeout(() => {
      this.wait = undefined;
      this.pump();
    }, delay);
  }
}
