// What the printer does with bytes from its raw channels (WEBLINK.md A.9):
// the same as with bytes on TCP 9100. One engine serves every raw channel,
// as a real printer has one.
//
//   raw bytes ──┬─ `! U1 getvar/setvar/do` lines (outside a format): answered from the SGD store
//               └─ the zpl dialect's receive() (answers ~HS, ~HQES on arrival)
//                  └─ pending ── mechanism (while nothing blocks it) ──┬─ zpl print(): labels, formatPrinted
//                                                                     └─ record file (answered queries left out)
//
// The zpl dialect (tools/emulator/dialects/zpl.ts) owns ~HS, format and label
// counting; this file only adds the SGD lines and the buffer between arrival
// and mechanism, whose contents a power cycle loses.
//
// The mechanism takes one format (up to its ^XZ) at a time and the next one
// only when the labels of the last are out, so the buffer fills while the
// printer prints, as a real one's does when a host sends faster than labels
// come out, and reading stops when it is full. ~JA drops what the buffer
// holds up to it, as it cancels every format the printer has not printed.

import { closeSync, openSync, writeSync } from 'node:fs';
import { zpl } from '../dialects/zpl.js';
import type { EmulatedPrinter, EventFields } from '../dialects/dialect.js';
import { QueryStripper } from '../query-stripper.js';
import type { SgdStore } from './sgd-store.js';

/** Receive buffer: past this many unprinted bytes the printer stops reading its raw channels. */
export const DEFAULT_RAW_BUFFER = 1 << 20;
/** The longest `! U1 …` line kept; a longer one is dropped unanswered. */
export const MAX_SGD_LINE = 4096;
/** How an SGD command line starts on the raw channel (outside a format). */
const SGD_PREFIX = '! U1 ';
const FORMAT_END = '^XZ';
const CANCEL_ALL = '~JA';

export interface RawIntakeOptions {
  sgd: SgdStore;
  record?: string | undefined;
  /** ms per label (the zpl dialect's --print-ms). */
  labelMs?: number | undefined;
  /** Receive buffer size in bytes (default DEFAULT_RAW_BUFFER). */
  capacity?: number | undefined;
  /** The buffer filled up (stop reading) or has room again. */
  fullChanged(full: boolean): void;
  reply(bytes: Buffer): void;
  emit(e: EventFields): void;
  formatPrinted(labels: number): void;
}

export class RawIntake {
  private readonly printer: EmulatedPrinter;
  private readonly stripper = new QueryStripper(zpl.queries ?? []);
  private readonly recordFd: number | undefined;
  private pending: Buffer[] = [];
  private pendingBytes = 0;
  private full = false;
  /** The last bytes the mechanism took, so a ^XZ split between two takes is seen. */
  private takenTail = '';
  /** The last bytes taken in, so a ~JA split between two chunks is seen. */
  private cancelTail = '';
  /** Last bytes seen, to know whether a format is open. */
  private tail = '';
  private inFormat = false;
  private sgdLine: string | undefined;
  private skipLf = false;
  private discarding = false;
  received = 0;
  printed = 0;

  constructor(private readonly opts: RawIntakeOptions) {
    this.recordFd = opts.record === undefined ? undefined : openSync(opts.record, 'a');
    this.printer = zpl.create(
      {
        reply: (bytes) => opts.reply(typeof bytes === 'string' ? Buffer.from(bytes, 'latin1') : Buffer.from(bytes)),
        emit: opts.emit,
        emitThrottled: opts.emit,
        buffered: () => this.pendingBytes,
        room: () => Math.max(0, this.capacity - this.pendingBytes),
        conditionChanged: () => this.run(),
        now: () => performance.now(),
        formatPrinted: (labels) => {
          // What follows the format in the buffer is taken (and recorded) before the printer tells of it.
          this.run();
          opts.formatPrinted(labels);
        },
      },
      { printMs: opts.labelMs },
    );
    // A ZD420 stays silent on ~HS in media out, head open and ribbon out (A.9).
    this.printer.fault?.({ name: 'silent-hs' });
  }

  get condition(): string {
    return this.printer.condition;
  }

  setCondition(name: string): boolean {
    const ok = this.printer.setCondition(name);
    this.run();
    return ok;
  }

  /** Bytes from a raw channel. */
  feed(bytes: Buffer): void {
    this.received += bytes.length;
    let start = 0;
    for (let i = 0; i < bytes.length; i++) {
      const c = String.fromCharCode(bytes[i]!);
      if (this.skipLf) {
        // The LF of a CRLF that ended a `! U1` line belongs to that line.
        this.skipLf = false;
        if (c === '\n') {
          start = i + 1;
          continue;
        }
      }
      if (this.discarding) {
        // The rest of a `! U1` line that was too long.
        start = i + 1;
        if (c === '\n' || c === '\r') {
          this.discarding = false;
          this.skipLf = c === '\r';
        }
        continue;
      }
      if (this.sgdLine !== undefined) {
        start = i + 1;
        if (c === '\n' || c === '\r') {
          const line = this.sgdLine;
          this.sgdLine = undefined;
          this.skipLf = c === '\r';
          this.sgdCommand(line);
        } else if (this.sgdLine.length >= MAX_SGD_LINE) {
          this.opts.emit({ event: 'sgd-line-too-long', limit: MAX_SGD_LINE });
          this.sgdLine = undefined;
          this.discarding = true;
        } else {
          this.sgdLine += c;
          if (!SGD_PREFIX.startsWith(this.sgdLine.slice(0, SGD_PREFIX.length).toUpperCase())) {
            // Not `! U1 ` after all: those bytes are ordinary data.
            const data = this.sgdLine;
            this.sgdLine = undefined;
            for (const d of data) this.track(d);
            this.take(Buffer.from(data, 'latin1'));
          }
        }
        continue;
      }
      if (c === '!' && !this.inFormat) {
        this.take(bytes.subarray(start, i));
        this.sgdLine = '!';
        start = i + 1;
        continue;
      }
      this.track(c);
    }
    this.take(bytes.subarray(start));
    this.run();
    if (!this.full && this.pendingBytes >= this.capacity) {
      this.full = true;
      this.opts.fullChanged(true);
    }
  }

  private get capacity(): number {
    return this.opts.capacity ?? DEFAULT_RAW_BUFFER;
  }

  /** Follows ^XA … ^XZ, inside which `!` is label data. */
  private track(c: string): void {
    this.tail = (this.tail + c).slice(-3);
    if (this.tail === '^XA') this.inFormat = true;
    else if (this.tail === '^XZ') this.inFormat = false;
  }

  /** Bytes received and not yet taken by the mechanism: what a power cycle loses. */
  get buffered(): number {
    return this.pendingBytes;
  }

  /** Switched off: buffered bytes and unprinted labels are gone. Returns the bytes lost. */
  powerOff(): number {
    const lost = this.pendingBytes;
    this.pending = [];
    this.pendingBytes = 0;
    this.full = false;
    this.takenTail = '';
    this.cancelTail = '';
    this.printer.powerOff?.();
    return lost;
  }

  powerOn(): void {
    this.printer.powerOn();
    this.printer.fault?.({ name: 'silent-hs' });
    this.tail = '';
    this.inFormat = false;
    this.sgdLine = undefined;
    this.discarding = false;
    this.skipLf = false;
  }

  /** A raw channel closed: a half-read command is forgotten, as on a new TCP connection. */
  channelClosed(): void {
    this.printer.reset();
    this.sgdLine = undefined;
    this.discarding = false;
  }

  close(): void {
    this.printer.close?.();
    if (this.recordFd !== undefined) closeSync(this.recordFd);
  }

  private take(bytes: Buffer): void {
    if (bytes.length === 0) return;
    this.printer.receive(bytes);
    let keepFrom = 0;
    for (let i = 0; i < bytes.length; i++) {
      this.cancelTail = (this.cancelTail + String.fromCharCode(bytes[i]!)).slice(-CANCEL_ALL.length);
      if (this.cancelTail !== CANCEL_ALL) continue;
      // The formats not printed yet are cancelled; what comes after ~JA stays.
      this.pending = [];
      this.pendingBytes = 0;
      this.takenTail = '';
      keepFrom = i + 1;
    }
    const kept = bytes.subarray(keepFrom);
    if (kept.length === 0) return;
    this.pending.push(Buffer.from(kept));
    this.pendingBytes += kept.length;
  }

  /** The mechanism takes the next format while nothing stops it and no label of the last is still to come. */
  private run(): void {
    while (!this.printer.blocked && this.printer.busy !== true && this.pendingBytes > 0) {
      const bytes = this.nextFormat();
      this.printed += bytes.length;
      const keep = this.stripper.push(bytes);
      if (this.recordFd !== undefined && keep.length > 0) writeSync(this.recordFd, keep);
      this.printer.print?.(bytes);
    }
    if (this.full && this.pendingBytes < this.capacity) {
      this.full = false;
      this.opts.fullChanged(false);
    }
  }

  /** Takes the pending bytes up to and including the next ^XZ, or all of them when none has come yet. */
  private nextFormat(): Buffer {
    let tail = this.takenTail;
    let chunks = 0;
    let cut = -1;
    for (const chunk of this.pending) {
      for (let i = 0; i < chunk.length && cut < 0; i++) {
        tail = (tail + String.fromCharCode(chunk[i]!)).slice(-FORMAT_END.length);
        if (tail === FORMAT_END) cut = i + 1;
      }
      if (cut >= 0) break;
      chunks++;
    }
    this.takenTail = tail;
    const whole = this.pending.splice(0, cut < 0 ? this.pending.length : chunks);
    if (cut >= 0) {
      const last = this.pending[0]!;
      whole.push(last.subarray(0, cut));
      if (cut < last.length) this.pending[0] = last.subarray(cut);
      else this.pending.shift();
    }
    const bytes = Buffer.concat(whole);
    this.pendingBytes -= bytes.length;
    return bytes;
  }


  private sgdCommand(line: string): void {
    const m = /^!\s*U1\s+(getvar|setvar|do)\s+"([^"]*)"(?:\s+"([^"]*)")?\s*$/i.exec(line);
    if (!m) {
      this.opts.emit({ event: 'sgd-unknown', line });
      return;
    }
    const verb = m[1]!.toLowerCase();
    const name = m[2]!;
    if (verb === 'getvar') {
      const value = this.opts.sgd.get(name);
      this.opts.reply(Buffer.from(`"${value ?? '?'}"\r\n`, 'latin1'));
      this.opts.emit({ event: 'sgd', via: 'raw', op: 'get', names: [name] });
      return;
    }
    const ok = this.opts.sgd.set(name, m[3] ?? '');
    this.opts.emit({ event: 'sgd', via: 'raw', op: 'set', names: [name], ok });
  }
}
