// ZPL (Zebra label printers).
//
// Status: `~HS` is answered with three STX…ETX CR LF strings:
//   1: aaa,b,c,dddd,eee,f,g,h,iii,j,k,l   b paper out, c pause, eee formats
//      in the receive buffer, f buffer full, k/l under/over temperature
//   2: mmm,n,o,p,q,r,s,t,uuuuuuuu,v,www   o head up, p ribbon out,
//      uuuuuuuu labels remaining in the batch
//   3: xxxx,y
// In media out, head open, ribbon out and some other errors the printer may
// not answer ~HS at all: a timeout means "error, cause unknown", and we ask
// `~HQES`, whose ERRORS line carries flags (media out 1, ribbon out 2, head
// open 4, cutter 8, head over temperature 0x10, motor over temperature 0x20
// …) and WARNINGS line (paper near end 8).
//
// Where a query may go: after `^XZ` (the end of a label format) and between
// jobs. (A format using ^CC to change the caret is not followed.)
//
// Confirmation: after the last byte, no formats in the buffer, no labels
// remaining and nothing wrong; two such answers in a row unless labels or
// formats were seen pending during the job. Silence, for a serial printer's
// session, is ~HS and the ~HQES after it both unanswered.

import { ByteDialect } from './byte-dialect.js';
import { ascii, text, type PrinterStatus } from './dialect.js';

const HS = ascii('~HS') as Uint8Array;
const HQES = ascii('~HQES') as Uint8Array;
const STX = 0x02;
const ETX = 0x03;
const MAX_BLOCK = 200;

export class Zpl extends ByteDialect {
  /** How much of "^XZ" the stream has just seen. */
  private xz = 0;
  private block: number[] | undefined;
  private blocks: string[] = [];

  constructor(poll: number) {
    super(poll, 2);
  }

  protected query(): Uint8Array {
    this.blocks = [];
    return HS;
  }

  protected override silent(misses: number): { status: PrinterStatus; follow?: Uint8Array | undefined; gone?: boolean } {
    // The first silence after a ~HS: ask ~HQES for the cause. A printer in
    // media out or head open may ignore ~HS and still answer ~HQES; only when
    // that goes unanswered too is the printer silent (see ByteDialect).
    return { status: { state: 'error', detail: 'no answer to ~HS' }, follow: misses % 2 === 1 ? HQES : undefined, gone: misses >= 2 };
  }

  protected restart(): void {
    this.xz = 0;
  }

  protected step(b: number): boolean {
    const c = b | 0x20; // lower case for letters
    if (b === 0x5e) this.xz = 1;
    else if (this.xz === 1 && c === 0x78) this.xz = 2;
    else if (this.xz === 2 && c === 0x7a) {
      this.xz = 0;
      return true;
    } else this.xz = 0;
    return false;
  }

  protected partial(): number {
    return this.blocks.length + (this.block?.length ?? 0);
  }

  protected forget(): void {
    this.block = undefined;
    this.blocks = [];
  }

  protected read(b: number): PrinterStatus | undefined {
    if (b === STX) {
      this.block = [];
      return undefined;
    }
    const block = this.block;
    if (block === undefined) {
      if (b !== 0x0d && b !== 0x0a) this.junk++;
      return undefined;
    }
    if (b !== ETX) {
      if (block.length < MAX_BLOCK) block.push(b);
      return undefined;
    }
    this.block = undefined;
    const s = text(block);
    if (s.includes('ERRORS')) {
      this.blocks = [];
      return hqesStatus(s);
    }
    this.blocks.push(s);
    if (this.blocks.length < 3) return undefined;
    const [one = '', two = ''] = this.blocks;
    this.blocks = [];
    return hsStatus(one, two);
  }
}

export function hsStatus(one: string, two: string): PrinterStatus {
  const a = one.split(',');
  const b = two.split(',');
  if (a.length < 12 || b.length < 11 || !/^\s*\d{3}$/.test(a[0] ?? '')) return { state: 'unknown', detail: 'unreadable ~HS answer' };
  const flag = (f: string[], i: number): boolean => (f[i] ?? '').trim() === '1';
  const formats = Number(a[4]);
  const labels = Number(b[8]);
  if (flag(b, 2)) return { state: 'cover-open', detail: 'head open' };
  if (flag(a, 1)) return { state: 'paper-out' };
  if (flag(b, 3)) return { state: 'error', detail: 'ribbon out' };
  if (flag(a, 10) || flag(a, 11)) return { state: 'error', detail: flag(a, 10) ? 'head under temperature' : 'head over temperature' };
  if (flag(a, 2)) return { state: 'offline', detail: 'paused' };
  if (formats > 0 || labels > 0) return { state: 'busy', detail: `${formats} formats in buffer, ${labels} labels remaining` };
  if (flag(a, 5)) return { state: 'busy', detail: 'receive buffer full' };
  return { state: 'online' };
}

const HQES_FLAGS: ReadonlyArray<[number, string]> = [
  [0x1, 'paper-out'], [0x4, 'cover-open'], [0x2, 'ribbon out'], [0x8, 'cutter fault'],
  [0x10, 'head over temperature'], [0x20, 'motor over temperature'],
];

export function hqesStatus(s: string): PrinterStatus {
  const errors = /ERRORS:\s*(\d)\s+([0-9A-Fa-f]{8})\s+([0-9A-Fa-f]{8})/.exec(s);
  if (errors === null) return { state: 'unknown', detail: 'unreadable ~HQES answer' };
  const bits = parseInt(errors[3] ?? '0', 16);
  if (errors[1] !== '0' && bits !== 0) {
    for (const [bit, what] of HQES_FLAGS) {
      if (bits & bit) return what === 'paper-out' || what === 'cover-open' ? { state: what, detail: what === 'cover-open' ? 'head open' : undefined } : { state: 'error', detail: what };
    }
    return { state: 'error', detail: `error flags ${errors[3]}` };
  }
  const warnings = /WARNINGS:\s*(\d)\s+[0-9A-Fa-f]{8}\s+([0-9A-Fa-f]{8})/.exec(s);
  if (warnings !== null && parseInt(warnings[2] ?? '0', 16) & 0x8) return { state: 'paper-low' };
  // ~HQES says all is well although ~HS was silent: report what we cannot explain.
  return { state: 'unknown', detail: 'no answer to ~HS, no error flags' };
}
