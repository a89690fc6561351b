// TSPL (TSC, Gprinter label printers).
//
// Status: `ESC ! ?` (1B 21 3F) is answered with one byte: 0 ready; bit0 head
// open, bit1 paper jam, bit2 paper out, bit3 ribbon out, bit4 pause, bit5
// printing, bit6 cover open, bit7 other error. Printing maps to busy.
//
// Where a query may go: TSPL is line based, so between lines (after LF),
// except inside the binary payload of BITMAP (width × height bytes after the
// fifth comma) and DOWNLOAD "name",SIZE, (SIZE bytes), which the tokenizer
// counts out.
//
// Confirmation: after the last byte, the printing bit is clear and nothing is
// wrong. If printing was never seen during the job, two ready answers in a
// row (CONFIRM_MS apart) are needed, so a label still being parsed is not
// taken for one already out. Only answers on the printer session that took
// the job's bytes count (byte-dialect.ts, spooler.ts).

import { ByteDialect } from './byte-dialect.js';
import { text, type PrinterStatus } from './dialect.js';

const QUERY = Uint8Array.of(0x1b, 0x21, 0x3f);

export class Tspl extends ByteDialect {
  private line: number[] = [];
  private skip = 0;

  constructor(poll: number) {
    super(poll, 2);
  }

  protected query(): Uint8Array {
    return QUERY;
  }

  protected restart(): void {
    this.line = [];
    this.skip = 0;
  }

  protected step(b: number): boolean {
    if (this.skip > 0) {
      this.skip--;
      return false;
    }
    if (b === 0x0a) {
      this.line = [];
      return true;
    }
    if (this.line.length < 64) this.line.push(b);
    if (b === 0x2c) {
      const head = text(this.line);
      const bmp = /^BITMAP\s*\d+\s*,\s*\d+\s*,\s*(\d+)\s*,\s*(\d+)\s*,\s*\d+\s*,$/i.exec(head);
      const dl = bmp === null ? /^DOWNLOAD\s*(?:[A-Z]\s*,\s*)?"[^"]*"\s*,\s*(\d+)\s*,$/i.exec(head) : null;
      if (bmp !== null) this.skip = Number(bmp[1]) * Number(bmp[2]);
      else if (dl !== null) this.skip = Number(dl[1]);
      if (this.skip > 0) this.line.push(0);
    }
    return false;
  }

  protected partial(): number {
    return 0;
  }

  protected forget(): void {}

  protected read(b: number): PrinterStatus | undefined {
    // One byte is the whole answer; bytes nobody asked for are not status.
    if (!this.answering) {
      this.junk++;
      return undefined;
    }
    return tsplStatus(b);
  }
}

export function tsplStatus(b: number): PrinterStatus {
  if (b & 0x41) return { state: 'cover-open', detail: b & 0x01 ? 'head open' : undefined };
  if (b & 0x04) return { state: 'paper-out' };
  if (b & 0x8a) return { state: 'error', detail: b & 0x02 ? 'paper jam' : b & 0x08 ? 'ribbon out' : 'printer error' };
  if (b & 0x10) return { state: 'offline', detail: 'paused' };
  if (b & 0x20) return { state: 'busy', detail: 'printing' };
  return { state: 'online' };
}
