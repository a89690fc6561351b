// The printer's wire side: takes bytes off one source stream at a time, as
// fast as the line (--baud) and the printer's input buffer allow, and hands
// them on. It never reads ahead of what it hands on, so when it stops (a
// stall, a full input buffer) or slows down (--baud) the source's buffers
// fill and backpressure travels back to the sender: the socket or socat
// stops being read, the kernel buffers fill, the sender's writes stop
// completing.
//
// Reading uses paused mode (`read()` on 'readable'); bytes beyond a mark (a
// scheduled fault), the buffer's room or a pacing slice are pushed back with
// `unshift`, so marks happen at an exact byte count.
//
// Pacing models an 8N1 line: each byte holds the line for 10 bit times, and
// a slice of bytes reaches the printer when its last stop bit is in (so a
// G-code line's `ok` cannot come before the line could have arrived). The
// line's "free at" time carries over between slices while the sender keeps
// the line busy, so a timer that fires late (up to CATCH_UP_MS) is made up
// on the next slice instead of lowering the rate; after an idle moment
// (nothing to read, or the buffer full) the line starts afresh and banks
// nothing, so a G-code line sent after an `ok` still takes its full time.
//
// While the printer is switched off (a PTY's power cycle) whatever reaches
// it is dropped as fast as it comes: not counted, not handed on, no marks,
// no pacing. On a real serial line the bytes in flight are a UART FIFO and a
// few KiB of tty buffer, shifted out into the void while the printer is off;
// here socat and its socket buffer hold far more, and pacing them would
// replay stale bytes after power-on that a real line would have lost.

import type { Readable } from 'node:stream';
import { atDeadline, type Cancel } from './deadline.js';

export interface IntakeOptions {
  /** Line rate in baud (8N1: ten bit times per byte); undefined means unpaced. */
  baud?: number | undefined;
  /** How many bytes the printer can take now. */
  room(): number;
  /** `start` and `end` (monotonic ms) bound the line time these bytes took. */
  consume(bytes: Buffer, start: number, end: number): void;
  /** The next byte count at which something is scheduled, if any. */
  nextMark(): number | undefined;
  /** `total` reached the mark that nextMark() gave. */
  atMark(total: number): void;
  /** True while the printer is switched off: bytes are read and dropped. */
  off?(): boolean;
  /** Bytes read and dropped while off (or cut off on the line by a power change). */
  dropped?(bytes: number): void;
}

/** Pacing slices are this long, so the rate holds even with 64 KiB reads. */
const SLICE_MS = 20;
/** Timer lateness up to this much is made up while the line stays busy. */
const CATCH_UP_MS = 250;

export class Intake {
  total = 0;
  private source: Readable | undefined;
  private isStalled = false;
  /** Monotonic time at which the paced line is free again. */
  private lineFreeAt = -Infinity;
  private wait: Cancel | undefined;
  /** Bytes of the slice the pending wait will deliver. */
  private pendingSlice = 0;
  /** Nothing was waiting at the last look (or the buffer was full): the line went idle. */
  private idle = true;
  /** A pump is on the stack: a nested kick() is left to its loop, which re-checks the room. */
  private pumping = false;
  private readonly bytesPerMs: number | undefined;
  private readonly onReadable = (): void => this.pump();

  constructor(private readonly opts: IntakeOptions) {
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

  /** Stops reading; true if it was not stalled already. */
  stall(): boolean {
    if (this.isStalled) return false;
    this.isStalled = true;
    return true;
  }

  /** Reads again; true if it was stalled. */
  resume(): boolean {
    if (!this.isStalled) return false;
    this.isStalled = false;
    this.pump();
    return true;
  }

  /** The printer has room again (its buffer drained, a mark was handled). */
  kick(): void {
    this.pump();
  }

  close(): void {
    this.detach();
    this.wait?.();
    this.wait = undefined;
  }

  /**
   * The power changed: a slice still on the line never arrives (reported as
   * dropped), a stall ends, and the line starts afresh.
   */
  interrupt(): void {
    this.isStalled = false;
    if (this.wait) {
      this.wait();
      this.wait = undefined;
      if (this.pendingSlice > 0) this.opts.dropped?.(this.pendingSlice);
    }
    this.pendingSlice = 0;
    this.idle = true;
    this.lineFreeAt = -Infinity;
    this.pump();
  }

  private pump(): void {
    if (this.pumping) return;
    this.pumping = true;
    try {
      this.pumpLoop();
    } finally {
      this.pumping = false;
    }
  }

  private pumpLoop(): void {
    const source = this.source;
    while (source && source === this.source && !this.isStalled && this.wait === undefined) {
      const off = this.opts.off?.() ?? false;
      const room = off ? Infinity : this.opts.room();
      if (room <= 0) {
        this.idle = true;
        return;
      }
      const chunk = source.read() as Buffer | null;
      if (chunk === null) {
        this.idle = true;
        return;
      }
      const fresh = this.idle;
      this.idle = false;
      let take = Math.min(chunk.length, room);
      const mark = off ? undefined : this.opts.nextMark();
      if (mark !== undefined) take = Math.min(take, Math.max(0, mark - this.total));
      if (this.bytesPerMs !== undefined && !off) take = Math.min(take, Math.max(1, Math.floor(this.bytesPerMs * SLICE_MS)));
      if (take < chunk.length) source.unshift(chunk.subarray(take));
      if (take === 0) {
        this.atMark(mark);
        continue;
      }
      const bytes = chunk.subarray(0, take);
      const { start, end } = off ? { start: performance.now(), end: performance.now() } : this.lineTime(take, fresh);
      if (end <= performance.now()) {
        this.deliver(bytes, start, end, mark);
        continue;
      }
      // On a paced line the printer has a byte once its stop bit is in.
      this.pendingSlice = bytes.length;
      this.wait = atDeadline(end, () => {
        this.wait = undefined;
        this.pendingSlice = 0;
        this.pumping = true;
        try {
          this.deliver(bytes, start, end, mark);
        } finally {
          this.pumping = false;
        }
        this.pump();
      });
    }
  }

  private deliver(bytes: Buffer, start: number, end: number, mark: number | undefined): void {
    if (this.opts.off?.()) {
      this.opts.dropped?.(bytes.length);
      return;
    }
    this.total += bytes.length;
    this.opts.consume(bytes, start, end);
    this.atMark(mark);
  }

  private atMark(mark: number | undefined): void {
    if (mark !== undefined && this.total >= mark) this.opts.atMark(this.total);
  }

  /** When `n` bytes started and finished on the line; `fresh`: the line was idle before them. */
  private lineTime(n: number, fresh: boolean): { start: number; end: number } {
    const now = performance.now();
    if (this.bytesPerMs === undefined) return { start: now, end: now };
    const start = Math.max(this.lineFreeAt, fresh ? now : now - CATCH_UP_MS);
    this.lineFreeAt = start + n / this.bytesPerMs;
    return { start, end: this.lineFreeAt };
  }
}
