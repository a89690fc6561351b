// ESC/POS receipt printer (Epson TM-class behaviour).
//
// Real-time status: DLE EOT n (10 04 n, 1 ≤ n ≤ 4) is answered with one byte,
// even while offline. Like the real thing it recognises the sequence anywhere
// in the stream, even inside another command's parameters: that is exactly
// why senders must only put queries between commands, and the emulator
// should not hide the mistake. Status bytes always have bits 1 and 4 set
// (0x12 = all clear); each condition sets the bits a real printer would.
//
// Automatic Status Back: GS a n (1D 61 n) with n ≠ 0 enables it; the printer
// then sends its 4 ASB bytes at once and again on every status change; n = 0
// disables it. The first ASB byte has bits 0, 1, 4, 7 = 0, 0, 1, 0, which is
// how a host tells it from a DLE EOT answer (bits 1 and 4 set).
//
// Paper out, cover open, an error or offline stop the mechanism: job data
// waits in the input buffer until the condition clears.

import type { DialectEmulator, EmulatedPrinter, PrinterContext } from './dialect.js';

const DLE = 0x10;
const EOT = 0x04;
const GS = 0x1d;
const ASB_A = 0x61;
const FIXED = 0x12;
const OFFLINE = 0x08;

/** Status bytes for DLE EOT n = 1 (printer), 2 (offline cause), 3 (error cause), 4 (paper sensor). */
type StatusSet = readonly [number, number, number, number];

interface ConditionBits {
  readonly dleEot: StatusSet;
  /** The 4 Automatic Status Back bytes. */
  readonly asb: StatusSet;
  readonly blocks: boolean;
}

const ASB_FIXED = 0x10;

const CONDITIONS: Record<string, ConditionBits> = {
  ok: { dleEot: [FIXED, FIXED, FIXED, FIXED], asb: [ASB_FIXED, 0, 0, 0], blocks: false },
  // Near end keeps printing, so the printer stays online.
  'paper-low': { dleEot: [FIXED, FIXED, FIXED, FIXED | 0x0c], asb: [ASB_FIXED, 0, 0x03, 0], blocks: false },
  'paper-out': { dleEot: [FIXED | OFFLINE, FIXED | 0x20, FIXED, FIXED | 0x0c | 0x60], asb: [ASB_FIXED | OFFLINE, 0, 0x0f, 0], blocks: true },
  'cover-open': { dleEot: [FIXED | OFFLINE, FIXED | 0x04, FIXED, FIXED], asb: [ASB_FIXED | OFFLINE | 0x20, 0, 0, 0], blocks: true },
  // A recoverable error such as a cutter jam.
  error: { dleEot: [FIXED | OFFLINE, FIXED | 0x40, FIXED | 0x08, FIXED], asb: [ASB_FIXED | OFFLINE, 0x08, 0, 0], blocks: true },
  offline: { dleEot: [FIXED | OFFLINE, FIXED, FIXED, FIXED], asb: [ASB_FIXED | OFFLINE, 0, 0, 0], blocks: true },
};

/** Where the scanner is in a DLE EOT n or GS a n sequence. */
type Scan = 'idle' | 'dle' | 'dle-eot' | 'gs' | 'gs-a';

class EscPosPrinter implements EmulatedPrinter {
  condition = 'ok';
  private scan: Scan = 'idle';
  private asbEnabled = false;

  constructor(private readonly ctx: PrinterContext) {}

  get blocked(): boolean {
    return this.bits().blocks;
  }

  receive(bytes: Uint8Array): void {
    for (const b of bytes) {
      const state = this.scan;
      this.scan = 'idle';
      if (state === 'dle-eot' && b >= 1 && b <= 4) {
        this.ctx.reply(Uint8Array.of(this.bits().dleEot[b - 1]!));
        continue;
      }
      if (state === 'gs-a') {
        this.setAsb(b !== 0);
        continue;
      }
      if (state === 'dle' && b === EOT) this.scan = 'dle-eot';
      else if (state === 'gs' && b === ASB_A) this.scan = 'gs-a';
      else if (b === DLE) this.scan = 'dle';
      else if (b === GS) this.scan = 'gs';
    }
  }

  reset(): void {
    this.scan = 'idle';
  }

  /** A printer switched on is ready, with Automatic Status Back off until GS a n asks again. */
  powerOn(): void {
    this.scan = 'idle';
    this.condition = 'ok';
    if (this.asbEnabled) {
      this.asbEnabled = false;
      this.ctx.emit({ event: 'asb', enabled: false });
    }
  }

  setCondition(name: string): boolean {
    if (!(name in CONDITIONS)) return false;
    const changed = name !== this.condition;
    this.condition = name;
    if (changed && this.asbEnabled) this.sendAsb();
    return true;
  }

  private setAsb(on: boolean): void {
    this.asbEnabled = on;
    this.ctx.emit({ event: 'asb', enabled: on });
    if (on) this.sendAsb();
  }

  private sendAsb(): void {
    this.ctx.reply(Uint8Array.from(this.bits().asb));
  }

  private bits(): ConditionBits {
    return CONDITIONS[this.condition] ?? CONDITIONS['ok']!;
  }
}

export const escpos: DialectEmulator = {
  name: 'escpos',
  conditions: Object.keys(CONDITIONS),
  faults: {},
  create: (ctx) => new EscPosPrinter(ctx),
  queries: [1, 2, 3, 4].map((n) => Uint8Array.of(DLE, EOT, n)),
};
