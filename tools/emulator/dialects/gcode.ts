// A Marlin-class 3D printer's serial protocol.
//
// Lines end at LF or CR; text after ';' is a comment; empty lines are ignored
// without an answer (as Marlin does, so a host that waits for an `ok` after a
// comment line hangs here too). Each command is queued and answered `ok`
// when it has run: after --ok-delay for ordinary commands, --long-ms for
// G28, G29, M109, M190, M400 and M600, the given time for G4 P<ms>/S<s>.
// While a command runs longer than --busy-every, `echo:busy: processing` is
// sent every --busy-every ms.
//
// Numbered lines `N<n> <cmd>*<checksum>`, checked in Marlin's order:
//   n ≠ last + 1 (except M110)  → Error:Line Number is not Last Line Number+1, Last Line: <last>
//   no checksum                 → Error:No Checksum with line number, Last Line: <last>
//   checksum ≠ XOR of the bytes before '*' → Error:checksum mismatch, Last Line: <last>
// each followed by `Resend: <last+1>` and a bare `ok` (Marlin 2.1's
// flush_and_request_resend: no ADVANCED_OK fields); the line is not run. A
// '*' on an unnumbered line is "No Line Number with checksum". `M110 N<k>`
// sets the last line number to k. A line lost on the wire gets no answer at
// all, so every numbered line behind it is refused, each with its own error,
// until the host sends the lost line again. (Marlin 2.x also empties its
// serial receive buffer on such an error, so some of those lines vanish
// without an answer; this printer has no receive buffer and answers each.)
//
// On receipt, before the queue (Marlin's emergency parser): M112 halts the
// printer (`Error:Printer halted. kill() called!`, condition "halted", no
// further answers until `set ok`, which answers `start` like a reset); M108
// ends a running M109/M190 wait; M410 is reported. M108 and M410 also go
// through the queue and get their `ok`.
//
// M105 answers `ok T:<hotend> /<target> B:<bed> /<target>`; M104/M109 S set
// the hotend, M140/M190 S the bed (reached at once; the M109/M190 wait is
// --long-ms).
//
// Faults (by line number, or the next numbered line when no @ is given):
//   corrupt@N[*K]    flip a bit in line N as it arrives, K times (→ checksum mismatch)
//   resend@N[*K]     line N's number arrives garbled, K times (→ a line number
//                    error answering line N itself)
//   drop-line@N[*K]  line N vanishes on the wire the first K times it is sent:
//                    no answer; the lines behind it get line number errors
// (`drop` is the common fault that cuts the TCP connection.)
//
// --advanced-ok models Marlin's ADVANCED_OK: a command queue of --bufsize
// slots (BUFSIZE, default 4; the running command holds one) and a planner of
// --planner blocks (BLOCK_BUFFER_SIZE, default 16; each queued or running
// G0-G3 holds one). The `ok` of a command that ran says
// `ok N<its line> P<planner free> B<slots free>`, without N when it came
// unnumbered (an M105's `ok` carries temperatures instead, as Marlin's does):
// a host can tell from the N which of its lines ran. The counts are Marlin's
// ok_to_send(): it answers before the command leaves the queue, so the
// answered command still holds its slot (B = BUFSIZE - commands held, at
// most BUFSIZE - 1) and, a move, its planner block, and the planner keeps
// one block unused (P = BLOCK_BUFFER_SIZE - 1 - moves held). A line arriving
// while every slot is taken is lost, as a printer that stopped reading its
// serial port loses it: no answer, counted as an overrun (event `overrun`,
// and `overruns` in the `gcode` report), so a host that sends more than it
// was told there is room for is caught; the next numbered line then gets a
// line number error.
//
// --lines-out FILE gets each command that ran, without N and checksum, in
// order, so a test can compare the program executed with the one submitted.

import { closeSync, openSync, writeSync } from 'node:fs';
import { atDeadline, type Cancel } from '../deadline.js';
import type { DialectEmulator, EmulatedPrinter, FaultSpec, PrinterContext, PrinterSettings } from './dialect.js';

const MAX_LINE = 1024;
const LONG = new Set(['G28', 'G29', 'M109', 'M190', 'M400', 'M600']);
const DEFAULTS = { okDelay: 0, longMs: 3_000, busyEvery: 2_000, bufsize: 4, planner: 16 };
const MOVES = new Set(['G0', 'G1', 'G2', 'G3']);

interface Running {
  readonly word: string;
  /** Ends it now and answers `ok` (its time is up, or M108 broke a wait). */
  finish(): void;
  /** Ends it without an answer (halt, exit). */
  stop(): void;
}

const FAULT_KINDS = ['corrupt', 'resend', 'drop-line'] as const;
type FaultKind = (typeof FAULT_KINDS)[number];
interface PendingFault {
  kind: FaultKind;
  left: number;
}

const wallClock = (): number => performance.timeOrigin + performance.now();

/** XOR of the bytes of `text` (ASCII), Marlin's line checksum. */
export function checksum(text: string): number {
  let x = 0;
  for (let i = 0; i < text.length; i++) x ^= text.charCodeAt(i) & 0xff;
  return x;
}

function param(cmd: string, letter: string): number | undefined {
  const m = new RegExp(`(?:^|\\s)${letter}(-?\\d+(?:\\.\\d+)?)`, 'i').exec(cmd);
  return m ? Number(m[1]) : undefined;
}

class GcodePrinter implements EmulatedPrinter {
  condition: 'ok' | 'halted' = 'ok';
  private line: number[] = [];
  private lastN = 0;
  /** Commands accepted and not yet run, with their line numbers when numbered. */
  private readonly queue: { body: string; n: number | undefined }[] = [];
  private running: Running | undefined;
  private readonly hotend = { actual: 21, target: 0 };
  private readonly bed = { actual: 21, target: 0 };
  private readonly faultsAt = new Map<number, PendingFault>();
  private nextFault: PendingFault | undefined;
  private readonly linesFd: number | undefined;
  private readonly okDelay: number;
  private readonly longMs: number;
  private readonly busyEvery: number;
  /** ADVANCED_OK's buffers, or undefined: an `ok` without fields and no limit on queued lines. */
  private readonly buffers: { readonly slots: number; readonly planner: number } | undefined;
  private overruns = 0;
  private executed = 0;
  private resends = 0;
  private maxQueued = 0;
  private firstAt: number | undefined;
  private lastAt: number | undefined;

  constructor(private readonly ctx: PrinterContext, settings: PrinterSettings) {
    this.okDelay = settings.okDelay ?? DEFAULTS.okDelay;
    this.longMs = settings.longMs ?? DEFAULTS.longMs;
    this.busyEvery = settings.busyEvery ?? DEFAULTS.busyEvery;
    const adv = settings.advancedOk;
    this.buffers = adv === undefined ? undefined : { slots: adv.bufsize ?? DEFAULTS.bufsize, planner: adv.planner ?? DEFAULTS.planner };
    this.linesFd = settings.linesOut === undefined ? undefined : openSync(settings.linesOut, 'a');
  }

  get blocked(): boolean {
    return this.condition === 'halted';
  }

  receive(bytes: Uint8Array): void {
    for (const b of bytes) {
      if (b === 0x0a || b === 0x0d) {
        if (this.line.length > 0) this.handle(String.fromCharCode(...this.line));
        this.line = [];
      } else if (this.line.length < MAX_LINE) this.line.push(b);
    }
  }

  reset(): void {
    this.line = [];
  }

  /** The running command stops and the queued ones are forgotten: none of them ran. */
  powerOff(): void {
    this.stopRunning();
    this.queue.length = 0;
    this.line = [];
    this.report();
  }

  /** A reset board: line numbers start again at 0 (a host must send M110 or number from 1), heaters off, and `start`. */
  powerOn(): void {
    this.condition = 'ok';
    this.line = [];
    this.lastN = 0;
    this.hotend.actual = this.bed.actual = 21;
    this.hotend.target = this.bed.target = 0;
    this.ctx.reply('start\n');
  }

  setCondition(name: string): boolean {
    if (name === 'halted') {
      this.halt();
      return true;
    }
    if (name !== 'ok') return false;
    if (this.condition === 'halted') {
      this.condition = 'ok';
      this.lastN = 0;
      this.ctx.reply('start\n');
    }
    return true;
  }

  fault(spec: FaultSpec): string | undefined {
    const kind = FAULT_KINDS.find((k) => k === spec.name);
    if (kind === undefined) return `gcode has no fault ${spec.name}`;
    const pending: PendingFault = { kind, left: spec.count ?? 1 };
    if (spec.at === undefined) this.nextFault = pending;
    else this.faultsAt.set(spec.at, pending);
    return undefined;
  }

  close(): void {
    this.stopRunning();
    this.report();
    if (this.linesFd !== undefined) closeSync(this.linesFd);
  }

  private handle(received: string): void {
    if (this.condition === 'halted') return;
    let text = received.trimStart();
    const numbered = /^N(-?\d+)/i.exec(text);
    const n = numbered ? Number(numbered[1]) : undefined;
    const fault = n === undefined ? undefined : this.takeFault(n);
    // Lost on the wire: the printer never reads it, so it answers nothing (--raw-out and the byte counts still have it).
    if (fault === 'drop-line') return;
    if (fault === 'corrupt') text = corrupt(text, numbered![0].length);

    const semi = text.indexOf(';');
    if (semi >= 0) text = text.slice(0, semi);
    text = text.trimEnd();
    if (text === '') return;

    const star = text.lastIndexOf('*');
    const body = (numbered ? text.slice(numbered[0].length, star >= 0 ? star : undefined) : star >= 0 ? text.slice(0, star) : text).trim();
    const word = (/^[A-Z]\d+/i.exec(body)?.[0] ?? body.split(/\s/)[0] ?? '').toUpperCase();
    if (word === 'M112') return this.halt(body);
    if (word === 'M108' && (this.running?.word === 'M109' || this.running?.word === 'M190')) this.running.finish();
    if (word === 'M410') this.ctx.emit({ event: 'quickstop' });
    if (this.buffers !== undefined && this.queue.length + (this.running ? 1 : 0) >= this.buffers.slots) {
      this.overruns++;
      this.ctx.emit({ event: 'overrun', line: n ?? null });
      this.report();
      return;
    }

    if (n !== undefined) {
      if (fault === 'resend' || (word !== 'M110' && n !== this.lastN + 1)) return this.requestResend('Line Number is not Last Line Number+1, Last Line: ');
      if (star < 0) return this.requestResend('No Checksum with line number, Last Line: ');
      const given = text.slice(star + 1).trim();
      if (!/^\d+$/.test(given) || Number(given) !== checksum(text.slice(0, star))) return this.requestResend('checksum mismatch, Last Line: ');
      this.lastN = word === 'M110' ? (param(body, 'N') ?? n) : n;
    } else if (star >= 0) {
      return this.requestResend('No Line Number with checksum, Last Line: ');
    } else if (word === 'M110') {
      // Marlin takes M110 N<k> without a line number too (hosts send it so before each print).
      this.lastN = param(body, 'N') ?? this.lastN;
    }
    this.enqueue(body, n);
  }

  private takeFault(n: number): FaultKind | undefined {
    const pending = this.faultsAt.get(n) ?? this.nextFault;
    if (!pending) return undefined;
    pending.left--;
    if (pending.left <= 0) {
      if (this.faultsAt.get(n) === pending) this.faultsAt.delete(n);
      else this.nextFault = undefined;
    }
    this.ctx.emit({ event: 'fault', name: pending.kind, line: n });
    return pending.kind;
  }

  private requestResend(error: string): void {
    this.resends++;
    const line = this.lastN + 1;
    this.ctx.reply(`Error:${error}${this.lastN}\nResend: ${line}\nok\n`);
    this.ctx.emit({ event: 'resend', line, reason: error.replace(/, Last Line: $/, '') });
  }

  /** `body` is the M112 line that caused it, recorded like a command that ran. */
  private halt(body?: string): void {
    this.stopRunning();
    this.queue.length = 0;
    if (body !== undefined) this.record(body);
    this.condition = 'halted';
    this.ctx.reply('Error:Printer halted. kill() called!\n');
    this.ctx.conditionChanged();
  }

  private enqueue(body: string, n: number | undefined): void {
    this.firstAt ??= wallClock();
    this.queue.push({ body, n });
    this.maxQueued = Math.max(this.maxQueued, this.queue.length + (this.running ? 1 : 0));
    this.runNext();
  }

  private runNext(): void {
    while (!this.running && this.condition === 'ok' && this.queue.length > 0) {
      const { body, n } = this.queue.shift()!;
      const word = (/^[A-Z]\d+/i.exec(body)?.[0] ?? '').toUpperCase();
      let ms = this.okDelay;
      if (word === 'G4') ms = param(body, 'P') ?? (param(body, 'S') ?? 0) * 1000;
      else if (LONG.has(word)) ms = this.longMs;
      if (ms <= 0) {
        this.complete(body, word, n);
        continue;
      }
      let timer: Cancel | undefined;
      let busy: NodeJS.Timeout | undefined;
      const running: Running = {
        word,
        finish: () => {
          if (this.running !== running) return;
          running.stop();
          this.running = undefined;
          this.complete(body, word, n);
          this.runNext();
        },
        stop: () => {
          timer?.();
          clearInterval(busy);
        },
      };
      this.running = running;
      timer = atDeadline(this.ctx.now() + ms, running.finish);
      if (ms >= this.busyEvery) busy = setInterval(() => this.ctx.reply('echo:busy: processing\n'), this.busyEvery);
    }
  }

  private stopRunning(): void {
    this.running?.stop();
    this.running = undefined;
  }

  private complete(body: string, word: string, n: number | undefined): void {
    const s = param(body, 'S');
    if ((word === 'M104' || word === 'M109') && s !== undefined) this.hotend.actual = this.hotend.target = s;
    if ((word === 'M140' || word === 'M190') && s !== undefined) this.bed.actual = this.bed.target = s;
    this.record(body);
    this.executed++;
    this.lastAt = wallClock();
    if (word === 'M105') {
      const t = (v: number): string => v.toFixed(1);
      this.ctx.reply(`ok T:${t(this.hotend.actual)} /${t(this.hotend.target)} B:${t(this.bed.actual)} /${t(this.bed.target)}\n`);
    } else this.ctx.reply(`${this.ok(n, word)}\n`);
    this.report();
  }

  /** `ok` for the command `word` that ran, with ADVANCED_OK's line `n` (when there is one) and free counts when modelled. */
  private ok(n: number | undefined, word: string): string {
    const b = this.buffers;
    if (b === undefined) return 'ok';
    // Marlin answers while the command still holds its slot (and its planner block, a move).
    let moves = MOVES.has(word) ? 1 : 0;
    for (const q of this.queue) if (MOVES.has(commandWord(q.body))) moves++;
    if (this.running !== undefined && MOVES.has(this.running.word)) moves++;
    const held = 1 + this.queue.length + (this.running ? 1 : 0);
    return `ok${n === undefined ? '' : ` N${n}`} P${Math.max(0, b.planner - 1 - moves)} B${Math.max(0, b.slots - held)}`;
  }

  private record(body: string): void {
    if (this.linesFd !== undefined) writeSync(this.linesFd, `${body}\n`);
  }

  private report(): void {
    this.ctx.emitThrottled({
      event: 'gcode', executed: this.executed, resends: this.resends, maxQueued: this.maxQueued, overruns: this.overruns,
      firstAt: this.firstAt, at: this.lastAt,
    });
  }
}

function commandWord(body: string): string {
  return (/^[A-Z]\d+/i.exec(body)?.[0] ?? '').toUpperCase();
}

/** Flips one bit of the first command character after the line number, as line noise would. */
function corrupt(text: string, after: number): string {
  let i = after;
  while (i < text.length && text[i] === ' ') i++;
  if (i >= text.length) return text;
  return text.slice(0, i) + String.fromCharCode(text.charCodeAt(i) ^ 0x20) + text.slice(i + 1);
}

export const gcode: DialectEmulator = {
  name: 'gcode',
  conditions: ['ok', 'halted'],
  faults: {
    corrupt: 'corrupt@N[*K]: flip a bit in line N (default: the next), K times',
    resend: 'resend@N[*K]: line N (default: the next) arrives with a garbled number, K times',
    'drop-line': 'drop-line@N[*K]: line N (default: the next) vanishes on the wire, K times',
  },
  create: (ctx, settings) => new GcodePrinter(ctx, settings),
};
