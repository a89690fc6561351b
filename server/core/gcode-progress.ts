// Where a G-code print is, from the bytes the printer confirmed: the line
// reached (newline-terminated lines within the first `written` bytes) and
// the layer, from the comments slicers write where a layer begins: Cura's
// `;LAYER:n` (n from 0, below 0 for a raft) and PrusaSlicer's (and its
// kin's) `;LAYER_CHANGE`. Layers count from 1: `;LAYER:n` is layer n + 1,
// the k-th `;LAYER_CHANGE` is layer k.
//
// Incremental: each call reads only the bytes confirmed since the last one
// (a line cut by the last call is looked at again from where it starts,
// never searched again), so a print costs one pass over its bytes.

const NL = 0x0a;
const SEMICOLON = 0x3b;
const CURA = bytesOf(';LAYER:');
const PRUSA = bytesOf(';LAYER_CHANGE');

export class GcodeProgress {
  /** Newline-terminated lines within the bytes read so far. */
  line = 0;
  /** The layer reached; undefined before the first marker. */
  layer: number | undefined;
  private changes = 0;
  /** Where the line being read starts. */
  private lineStart = 0;
  /** Bytes searched for a newline already. */
  private searched = 0;

  /** Reads `data` up to `written` (which only grows). */
  advance(data: Uint8Array, written: number): void {
    const end = Math.min(written, data.length);
    if (end <= this.searched) return;
    const seen = data.subarray(0, end);
    for (let nl = seen.indexOf(NL, this.searched); nl >= 0; nl = seen.indexOf(NL, nl + 1)) {
      this.line += 1;
      if (data[this.lineStart] === SEMICOLON) this.marker(data, this.lineStart, nl);
      this.lineStart = nl + 1;
    }
    this.searched = end;
  }

  private marker(data: Uint8Array, start: number, end: number): void {
    if (startsWith(data, start, end, PRUSA)) {
      this.changes += 1;
      this.layer = this.changes;
      return;
    }
    if (!startsWith(data, start, end, CURA)) return;
    let i = start + CURA.length;
    const negative = data[i] === 0x2d;
    if (negative) i += 1;
    let n = 0;
    let digits = 0;
    for (; i < end && digits < 9; i++, digits++) {
      const c = data[i] as number;
      if (c < 0x30 || c > 0x39) break;
      n = n * 10 + (c - 0x30);
    }
    if (digits > 0) this.layer = (negative ? -n : n) + 1;
  }
}

function startsWith(data: Uint8Array, start: number, end: number, prefix: Uint8Array): boolean {
  if (end - start < prefix.length) return false;
  for (let i = 0; i < prefix.length; i++) if (data[start + i] !== prefix[i]) return false;
  return true;
}

function bytesOf(ascii: string): Uint8Array {
  return Uint8Array.from(ascii, (c) => c.charCodeAt(0));
}
