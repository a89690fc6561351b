// A FIFO of byte chunks that hands out exactly as many bytes as asked for,
// splitting a chunk when needed. The spooler's bound (the credit window) is
// enforced by its caller; this only keeps the count honest.

export class ByteQueue {
  private chunks: Uint8Array[] = [];
  private head = 0; // read position inside chunks[0]
  private count = 0;

  get length(): number {
    return this.count;
  }

  push(bytes: Uint8Array): void {
    if (bytes.length === 0) return;
    this.chunks.push(bytes);
    this.count += bytes.length;
  }

  /** The next bytes without removing them: one contiguous piece of at most `max` (fewer at a chunk's end). */
  peek(max: number): Uint8Array {
    const first = this.chunks[0];
    if (first === undefined || max <= 0) return new Uint8Array(0);
    return first.subarray(this.head, Math.min(first.length, this.head + max));
  }

  /** Removes and returns up to `max` bytes (fewer only when fewer are queued). */
  take(max: number): Uint8Array {
    const n = Math.min(max, this.count);
    if (n <= 0) return new Uint8Array(0);
    const first = this.chunks[0];
    if (first !== undefined && first.length - this.head >= n) {
      // The common case, a slice of one chunk, costs no copy.
      const out = first.subarray(this.head, this.head + n);
      this.advance(n);
      return out;
    }
    const out = new Uint8Array(n);
    let filled = 0;
    while (filled < n) {
      const chunk = this.chunks[0];
      if (chunk === undefined) break;
      const part = Math.min(n - filled, chunk.length - this.head);
      out.set(chunk.subarray(this.head, this.head + part), filled);
      filled += part;
      this.advance(part);
    }
    return out;
  }

  clear(): void {
    this.chunks = [];
    this.head = 0;
    this.count = 0;
  }

  private advance(n: number): void {
    this.head += n;
    this.count -= n;
    const first = this.chunks[0];
    if (first !== undefined && this.head >= first.length) {
      this.chunks.shift();
      this.head = 0;
    }
  }
}
