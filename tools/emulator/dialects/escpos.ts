// ESC/POS receipt printer. It answers the real-time status query DLE EOT n
// (10 04 n, 1 ≤ n ≤ 4) with one byte, as Epson-compatible printers do. Like
// the real thing it recognises the sequence anywhere in the stream, even
// inside another command's parameters: that is exactly why senders must only
// put queries between commands, and the emulator should not hide the mistake.
//
// Status bytes always have bits 1 and 4 set (0x12 = all clear); each
// condition sets the bits a real printer would set for it.

import type { DialectEmulator, EmulatedPrinter } from './dialect.js';

const DLE = 0x10;
const EOT = 0x04;
const FIXED = 0x12;

/** Status bytes for n = 1 (printer), 2 (offline cause), 3 (error cause), 4 (paper sensor). */
type StatusSet = readonly [number, number, number, number];

const OFFLINE = 0x08;

const STATUS: Record<string, StatusSet> = {
  ok: [FIXED, FIXED, FIXED, FIXED],
  // Near end keeps printing, so the printer stays online.
  'paper-low': [FIXED, FIXED, FIXED, FIXED | 0x0c],
  'paper-out': [FIXED | OFFLINE, FIXED | 0x20, FIXED, FIXED | 0x0c | 0x60],
  'cover-open': [FIXED | OFFLINE, FIXED | 0x04, FIXED, FIXED],
  // A recoverable error such as a cutter jam.
  error: [FIXED | OFFLINE, FIXED | 0x40, FIXED | 0x08, FIXED],
  offline: [FIXED | OFFLINE, FIXED, FIXED, FIXED],
};

class EscPosPrinter implements EmulatedPrinter {
  condition = 'ok';
  /** How much of DLE EOT has been seen at the end of the previous chunk. */
  private matched = 0;

  receive(bytes: Uint8Array): Uint8Array[] {
    const replies: Uint8Array[] = [];
    for (const b of bytes) {
      if (this.matched === 2) {
        this.matched = 0;
        if (b >= 1 && b <= 4) {
          replies.push(Uint8Array.of(this.statusByte(b)));
          continue;
        }
      }
      if (this.matched === 1 && b === EOT) this.matched = 2;
      else this.matched = b === DLE ? 1 : 0;
    }
    return replies;
  }

  reset(): void {
    this.matched = 0;
  }

  setCondition(name: string): boolean {
    if (!(name in STATUS)) return false;
    this.condition = name;
    return true;
  }

  private statusByte(n: number): number {
    const set = STATUS[this.condition] ?? STATUS['ok']!;
    return set[n - 1] ?? FIXED;
  }
}

export const escpos: DialectEmulator = {
  name: 'escpos',
  conditions: Object.keys(STATUS),
  create: () => new EscPosPrinter(),
};
