// Takes a printer's answered status queries out of the byte stream, so that
// --out records what the printer printed, not what the host asked it. A
// bridge polls an idle printer every few seconds; a recording that kept those
// queries could never equal the job that was sent.
//
// Queries are matched anywhere in the stream, as the emulated printers answer
// them anywhere (escpos.ts says why). A query split across two reads is held
// back until the next read decides it.

export class QueryStripper {
  private held: Uint8Array = new Uint8Array(0);

  constructor(private readonly queries: readonly Uint8Array[]) {}

  /** The bytes of `chunk` (and of any held tail before it) that are not part of a query. */
  push(chunk: Uint8Array): Uint8Array {
    if (this.queries.length === 0) return chunk;
    const input = this.held.length === 0 ? chunk : concat(this.held, chunk);
    this.held = new Uint8Array(0);
    const out: number[] = [];
    let i = 0;
    scan: while (i < input.length) {
      let partial = false;
      for (const q of this.queries) {
        const n = Math.min(q.length, input.length - i);
        if (!startsWith(input, i, q, n)) continue;
        if (n === q.length) {
          i += n;
          continue scan;
        }
        partial = true;
      }
      if (partial) {
        // Only the stream's tail can be a partial query: wait for more.
        this.held = input.slice(i);
        break;
      }
      out.push(input[i]!);
      i += 1;
    }
    return Uint8Array.from(out);
  }

  /** What is still held back; the stream ended, so it was data after all. */
  flush(): Uint8Array {
    const rest = this.held;
    this.held = new Uint8Array(0);
    return rest;
  }
}

function startsWith(input: Uint8Array, at: number, q: Uint8Array, n: number): boolean {
  for (let k = 0; k < n; k++) if (input[at + k] !== q[k]) return false;
  return true;
}

function concat(a: Uint8Array, b: Uint8Array): Uint8Array {
  const out = new Uint8Array(a.length + b.length);
  out.set(a, 0);
  out.set(b, a.length);
  return out;
}
