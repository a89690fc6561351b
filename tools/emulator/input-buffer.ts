// The printer's input buffer and the mechanism that empties it.
//
// Bytes off the wire go in; the mechanism takes them out as fast as
// --print-rate allows (at once when unset) while nothing stops it (a
// blocking condition such as paper out, or `pause`). When the buffer is full
// the intake stops reading, which is how a real printer without flow control
// looks busy to its host. With XON/XOFF the printer sends DC3 (XOFF) when
// the buffer passes its high mark (3/4) and DC1 (XON) when it has drained to
// its low mark (1/4); bytes that still arrive after XOFF are counted and
// reported with the XON, so a test can see whether the sender obeyed.

export interface InputBufferOptions {
  capacity: number;
  /** Mechanism speed in bytes per second; undefined: as fast as bytes arrive. */
  rate?: number | undefined;
  xonxoff: boolean;
  /** True while the mechanism must not run. */
  blocked(): boolean;
  /** Bytes the mechanism took. */
  print(bytes: Buffer): void;
  /** Bytes the printer sends to the host (XON/XOFF). */
  reply(bytes: Uint8Array): void;
  xoff(buffered: number): void;
  xon(buffered: number, afterXoff: number): void;
  /** The mechanism took bytes, so there may be room again. */
  drained(): void;
}

export const XOFF = 0x13;
export const XON = 0x11;
const TICK_MS = 10;

export class InputBuffer {
  private chunks: Buffer[] = [];
  private size = 0;
  private off = false;
  private afterXoff = 0;
  private paused = false;
  private timer: NodeJS.Timeout | undefined;
  /** Monotonic time up to which the mechanism has been credited. */
  private creditedTo = 0;
  private readonly high: number;
  private readonly low: number;

  constructor(private readonly opts: InputBufferOptions) {
    this.high = Math.max(1, Math.floor((opts.capacity * 3) / 4));
    this.low = Math.floor(opts.capacity / 4);
  }

  get buffered(): number {
    return this.size;
  }

  get room(): number {
    return this.opts.capacity - this.size;
  }

  get isPaused(): boolean {
    return this.paused;
  }

  push(bytes: Buffer): void {
    if (bytes.length === 0) return;
    if (this.off) this.afterXoff += bytes.length;
    // Copy: the intake's chunk may be a view into a buffer that is reused.
    this.chunks.push(Buffer.from(bytes));
    this.size += bytes.length;
    if (this.opts.xonxoff && !this.off && this.size >= this.high) {
      this.off = true;
      this.afterXoff = 0;
      this.opts.reply(Uint8Array.of(XOFF));
      this.opts.xoff(this.size);
    }
    this.run();
  }

  /** Stops or restarts the mechanism (the `pause` / `unpause` commands). */
  setPaused(paused: boolean): void {
    this.paused = paused;
    this.run();
  }

  /** Something that may unblock the mechanism changed. */
  run(): void {
    if (this.paused || this.opts.blocked() || this.size === 0) return;
    if (this.opts.rate === undefined) return this.take(this.size);
    if (this.timer) return;
    this.creditedTo = performance.now();
    this.timer = setTimeout(() => this.tick(), TICK_MS);
  }

  close(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
  }

  /**
   * The power went: everything not yet printed is gone, the mechanism is
   * neither paused nor in XOFF. Returns how many bytes were lost.
   */
  clear(): number {
    this.close();
    const lost = this.size;
    this.chunks = [];
    this.size = 0;
    this.off = false;
    this.afterXoff = 0;
    this.paused = false;
    return lost;
  }

  private tick(): void {
    this.timer = undefined;
    if (this.paused || this.opts.blocked()) return;
    const now = performance.now();
    const n = Math.floor(((now - this.creditedTo) * this.opts.rate!) / 1000);
    if (n > 0) {
      this.creditedTo += (n * 1000) / this.opts.rate!;
      this.take(n);
    }
    if (this.size > 0 && !this.timer) this.timer = setTimeout(() => this.tick(), TICK_MS);
  }

  private take(n: number): void {
    let left = Math.min(n, this.size);
    while (left > 0) {
      const head = this.chunks[0]!;
      const part = head.length <= left ? head : head.subarray(0, left);
      if (part === head) this.chunks.shift();
      else this.chunks[0] = head.subarray(left);
      this.size -= part.length;
      left -= part.length;
      this.opts.print(part);
    }
    if (this.off && this.size <= this.low) {
      this.off = false;
      this.opts.reply(Uint8Array.of(XON));
      this.opts.xon(this.size, this.afterXoff);
    }
    this.opts.drained();
  }
}
