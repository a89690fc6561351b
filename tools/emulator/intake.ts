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
// Pacing models an 8N1 line: each byte holds the line for 10 bit times. The
// line's "free at" time carries over between slices, so a timer that fires
// late is made up on the next slice instead of lowering the rate; an idle
// line (nothing to read, or the buffer full) does not bank time beyond
// SLACK_MS.

import type { Readable } from 'node:stream';

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
}

/** Pacing slices are this long, so the rate holds even with 64 KiB reads. */
const SLICE_MS = 20;
/** Timer lateness up to this much is made up; longer gaps are idle line. */
const SLACK_MS = 20;

export class Intake {
  total = 0;
  private source: Readable | undefined;
  private isStalled = false;
  /** Monotonic time at which the paced line is free again. */
  private lineFreeAt = -Infinity;
  private wait: NodeJS.Timeout | undefined;
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
    if (this.wait) clearTimeout(this.wait);
    this.wait = undefined;
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
      const room = this.opts.room();
      if (room <= 0) return;
      const chunk = source.read() as Buffer | null;
      if (chunk === null) return;
      let take = Math.min(chunk.length, room);
      const mark = this.opts.nextMark();
      if (mark !== undefined) take = Math.min(take, Math.max(0, mark - this.total));
      if (this.bytesPerMs !== undefined) take = Math.min(take, Math.max(1, Math.floor(this.bytesPerMs * SLICE_MS)));
      if (take < chunk.length) source.unshift(chunk.subarray(take));
      if (take > 0) {
        this.total += take;
        const { start, end } = this.lineTime(take);
        this.opts.consume(chunk.subarray(0, take), start, end);
        this.pace(end);
      }
      if (mark !== undefined && this.total >= mark) this.opts.atMark(this.total);
    }
  }

  /** When `n` bytes started and finished on the line. */
  private lineTime(n: number): { start: number; end: number } {
    const now = performance.now();
    if (this.bytesPerMs === undefined) return { start: now, end: now };
    const start = this.lineFreeAt >= now - SLACK_MS ? this.lineFreeAt : now;
    this.lineFreeAt = start + n / this.bytesPerMs;
    return { start, end: this.lineFreeAt };
  }

  /** Holds the line busy until `end`. */
  private pace(end: number): void {
    if (this.bytesPerMs === undefined) return;
    const delay = end - performance.now();
    if (delay < 1) return;
    this.wait = setTimeout(() => {
      this.wait = undefined;
      this.pump();
    }, delay);
  }
}
