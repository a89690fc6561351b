// TSPL label printer (TSC, Gprinter and their clones).
//
// Real-time status: ESC ! ? (1B 21 3F) is answered with one byte, anywhere in
// the stream and in any condition: 0 when ready, otherwise
//   bit0 head open · bit1 paper jam · bit2 paper out · bit3 ribbon out ·
//   bit4 pause · bit5 printing · bit6 cover open.
// "Printing" is set while the mechanism is taking label data and for
// --print-ms after it takes a PRINT command (the label feeding out).
//
// Every condition except ok stops the mechanism: job data waits in the input
// buffer until the condition clears.

import type { DialectEmulator, EmulatedPrinter, PrinterContext, PrinterSettings } from './dialect.js';

const ESC = 0x1b;
const BANG = 0x21;
const QUERY = 0x3f;

const BIT: Record<string, number> = {
  ok: 0,
  'head-open': 0x01,
  jam: 0x02,
  'paper-out': 0x04,
  'ribbon-out': 0x08,
  pause: 0x10,
  'cover-open': 0x40,
};
const PRINTING = 0x20;

/** Printing stays set this long after the last label data byte is taken. */
const DATA_HOLD_MS = 50;
const DEFAULT_PRINT_MS = 500;
const PRINT = new TextEncoder().encode('PRINT');

class TsplPrinter implements EmulatedPrinter {
  condition = 'ok';
  private matched = 0;
  private printingUntil = -Infinity;
  /** How much of "PRINT" ends the data taken so far (the keyword may straddle chunks). */
  private printMatched = 0;
  private readonly printMs: number;

  constructor(private readonly ctx: PrinterContext, settings: PrinterSettings) {
    this.printMs = settings.printMs ?? DEFAULT_PRINT_MS;
  }

  get blocked(): boolean {
    return this.condition !== 'ok';
  }

  receive(bytes: Uint8Array): void {
    for (const b of bytes) {
      if (this.matched === 2 && b === QUERY) {
        this.matched = 0;
        this.ctx.reply(Uint8Array.of(this.statusByte()));
        continue;
      }
      if (this.matched === 1 && b === BANG) this.matched = 2;
      else this.matched = b === ESC ? 1 : 0;
    }
  }

  print(bytes: Uint8Array): void {
    const now = this.ctx.now();
    this.printingUntil = Math.max(this.printingUntil, now + DATA_HOLD_MS);
    for (const b of bytes) {
      this.printMatched = b === PRINT[this.printMatched] ? this.printMatched + 1 : b === PRINT[0] ? 1 : 0;
      if (this.printMatched === PRINT.length) {
        this.printMatched = 0;
        this.printingUntil = Math.max(this.printingUntil, now + this.printMs);
      }
    }
  }

  reset(): void {
    this.matched = 0;
  }

  powerOn(): void {
    this.condition = 'ok';
    this.matched = 0;
    this.printMatched = 0;
    this.printingUntil = -Infinity;
  }

  setCondition(name: string): boolean {
    if (!(name in BIT)) return false;
    this.condition = name;
    return true;
  }

  private statusByte(): number {
    const printing = !this.blocked && (this.ctx.buffered() > 0 || this.ctx.now() < this.printingUntil);
    return (BIT[this.condition] ?? 0) | (printing ? PRINTING : 0);
  }
}

export const tspl: DialectEmulator = {
  name: 'tspl',
  conditions: Object.keys(BIT),
  faults: {},
  create: (ctx, settings) => new TsplPrinter(ctx, settings),
  queries: [Uint8Array.of(ESC, BANG, QUERY)],
};
