// ESC/POS (receipt printers).
//
// Status: `DLE EOT n` (10 04 n) is answered at once with one byte, even when
// the printer is offline or its buffer is full. One poll asks n = 1, 2, 3, 4
// (12 bytes) and reads four answers; every answer byte has the fixed pattern
// 0xx1xx10, so `(b & 0x93) === 0x12` tells it from anything else the printer
// sends. Automatic Status Back (`GS a n`, if the job enabled it) pushes four
// bytes on every change: the first matches `(b & 0x93) === 0x10`, the other
// three `(b & 0x90) === 0`; it is read whenever it comes.
//
// Where a query may go: DLE EOT inside another command's parameters (a
// bit image, a barcode) would be taken as data. A small tokenizer follows
// the job stream through the common commands (fixed parameter counts, and
// the length-prefixed or NUL-terminated ones: ESC *, GS v 0, GS ( …, GS 8 L,
// GS k, ESC D, FS ( …) and queries go only between commands. After a
// command it does not know, it stops trusting itself: no more queries until
// the job ends (polls go on between jobs).
//
// Confirmation, precisely: after the last job byte, an answer to a query sent
// after it shows the printer online, cover closed, paper present and no
// error. Because DLE EOT is answered in real time, ahead of data still in
// the printer's buffer, this proves the printer is there, took the bytes
// and was ready to print them; it does not prove the paper came out (a jam
// or paper end while the buffer drains shows up as status after job.done).
// The answer must come on the printer session that took the bytes: a
// reconnected port, or a serial printer back after a silence, cannot
// confirm them (byte-dialect.ts, spooler.ts).

import { ByteDialect } from './byte-dialect.js';
import type { PrinterStatus } from './dialect.js';

const ESC = 0x1b;
const GS = 0x1d;
const FS = 0x1c;
const DLE = 0x10;
const QUERY = Uint8Array.of(DLE, 4, 1, DLE, 4, 2, DLE, 4, 3, DLE, 4, 4);

/** Parameter counts of fixed-length commands, as "command character, count" pairs per prefix. */
const FIXED: Record<number, string> = {
  [ESC]: ' 1!1$2%1-1203=1?1@0E1G1J1K1L0M1R1S0T1U1V1W8\\2a1c2d1e1i0m0p3r1t1u1v0{1\f0',
  [GS]: '!1$2/1:0B1E1H1I1L2P2T1W2\\2^3a1b1c0f1g4h1j1r1w1z3',
  [FS]: '!1&0-1.0C1S2W1p2',
  [DLE]: '\x041\x051',
};

function table(s: string): Map<number, number> {
  const m = new Map<number, number>();
  for (let i = 0; i + 1 < s.length; i += 2) m.set(s.charCodeAt(i), s.charCodeAt(i + 1) - 48);
  return m;
}

const TABLES = new Map<number, Map<number, number>>();
for (const k of [ESC, GS, FS, DLE]) TABLES.set(k, table(FIXED[k] ?? ''));

const LOST = -1;

/** How many parameter bytes follow `prefix cmd`, given the ones read so far; LOST for an unknown command. */
function headerLength(prefix: number, cmd: number, h: number[]): number {
  const c = String.fromCharCode(cmd);
  if (prefix === ESC && (c === '*' || c === '(')) return 3;
  if (prefix === ESC && c === 'D') return 0;
  if (prefix === GS) {
    if (c === '(') return 3;
    if (c === '*') return 2;
    if (c === 'v') return 6;
    if (c === '8') return 5;
    if (c === 'V') return h.length > 0 && [65, 66, 97, 98, 103, 104].includes(h[0] ?? 0) ? 2 : 1;
    if (c === 'k') return h.length > 0 && (h[0] ?? 0) >= 65 ? 2 : 1;
  }
  if (prefix === FS && c === '(') return 3;
  if (prefix === DLE && cmd === 0x14) {
    const fn = h[0];
    return fn === undefined ? 1 : fn === 7 ? 2 : fn === 8 ? 8 : fn <= 2 ? 3 : LOST;
  }
  return TABLES.get(prefix)?.get(cmd) ?? LOST;
}

const NUL_TERMINATED = -2;

/** Data bytes after the header: a count, or NUL_TERMINATED. */
function dataLength(prefix: number, cmd: number, h: number[]): number {
  const b = (i: number): number => h[i] ?? 0;
  const c = String.fromCharCode(cmd);
  if (prefix === ESC && c === '*') return (b(1) + b(2) * 256) * (b(0) <= 1 ? 1 : 3);
  if (prefix === ESC && c === 'D') return NUL_TERMINATED;
  if (c === '(') return b(1) + b(2) * 256;
  if (prefix === GS) {
    if (c === '*') return b(0) * b(1) * 8;
    if (c === 'v') return (b(2) + b(3) * 256) * (b(4) + b(5) * 256);
    if (c === '8') return b(1) + b(2) * 256 + b(3) * 65536 + b(4) * 16777216;
    if (c === 'k') return b(0) >= 65 ? b(1) : NUL_TERMINATED;
  }
  return 0;
}

export class EscPos extends ByteDialect {
  private prefix = 0;
  private cmd = -1;
  private head: number[] = [];
  private skip = 0;
  private nul = false;
  private lost = false;
  /** Answers to the current poll, in order n = 1..4. */
  private answer: number[] = [];
  /** Bytes of an Automatic Status Back block. */
  private asb: number[] = [];

  constructor(poll: number) {
    super(poll, 1);
  }

  protected query(): Uint8Array {
    this.answer = [];
    return QUERY;
  }

  protected restart(): void {
    this.prefix = 0;
    this.skip = 0;
    this.nul = false;
    this.lost = false;
  }

  protected step(b: number): boolean {
    if (this.lost) return false;
    if (this.skip > 0) return --this.skip === 0;
    if (this.nul) {
      this.nul = b !== 0;
      return !this.nul;
    }
    if (this.prefix === 0) {
      if (b === ESC || b === GS || b === FS || b === DLE) {
        this.prefix = b;
        this.cmd = -1;
        this.head = [];
        return false;
      }
      return true;
    }
    if (this.cmd < 0) this.cmd = b;
    else this.head.push(b);
    const want = headerLength(this.prefix, this.cmd, this.head);
    if (want === LOST) {
      this.lost = true;
      return false;
    }
    if (this.head.length < want) return false;
    const data = dataLength(this.prefix, this.cmd, this.head);
    this.prefix = 0;
    if (data === NUL_TERMINATED) this.nul = true;
    else this.skip = data;
    return data === 0;
  }

  protected partial(): number {
    return this.answer.length + this.asb.length;
  }

  protected forget(): void {
    this.answer = [];
    this.asb = [];
  }

  protected read(b: number): PrinterStatus | undefined {
    if (this.asb.length > 0) {
      if ((b & 0x90) !== 0) {
        this.asb = [];
        this.junk++;
        return undefined;
      }
      this.asb.push(b);
      if (this.asb.length < 4) return undefined;
      const [s1 = 0, s2 = 0, s3 = 0] = this.asb;
      this.asb = [];
      return escposStatus(s1 & 0x08, s1 & 0x20, s2 & 0x6c, (s3 & 0x0c) !== 0, (s3 & 0x03) !== 0, s1 & 0x40 ? 'paper feed button' : undefined);
    }
    if ((b & 0x93) === 0x10) {
      this.asb.push(b);
      return undefined;
    }
    if ((b & 0x93) !== 0x12) {
      this.junk++;
      return undefined;
    }
    this.answer.push(b);
    if (this.answer.length < 4) return undefined;
    const [s1 = 0, s2 = 0, s3 = 0, s4 = 0] = this.answer;
    this.answer = [];
    return escposStatus(s1 & 0x08, s2 & 0x04, (s3 & 0x68) | (s2 & 0x40 ? 0x100 : 0), (s2 & 0x20) !== 0 || (s4 & 0x60) !== 0, (s4 & 0x0c) !== 0, s2 & 0x08 ? 'paper feed button' : undefined);
  }
}

/** Error bits as in DLE EOT 3 / ASB byte 2: 0x08 cutter, 0x20 unrecoverable, 0x40 auto-recoverable; others just "error". */
function escposStatus(offline: number, cover: number, error: number, paperOut: boolean, paperLow: boolean, why: string | undefined): PrinterStatus {
  if (cover) return { state: 'cover-open' };
  if (paperOut) return { state: 'paper-out' };
  if (error) {
    const detail = error & 0x08 ? 'autocutter error' : error & 0x20 ? 'unrecoverable error' : error & 0x40 ? 'auto-recoverable error (e.g. head temperature)' : 'error';
    return { state: 'error', detail };
  }
  if (offline) return { state: 'offline', detail: why ?? 'printer reports offline' };
  if (paperLow) return { state: 'paper-low' };
  return { state: 'online' };
}
