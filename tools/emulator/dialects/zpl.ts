// ZPL label printer (Zebra). Tilde commands act on receipt, like a real
// printer's; caret commands are part of label formats and act when the
// mechanism takes them.
//
// ~HS (host status) is answered with three strings, each STX … ETX CR LF, in
// the field order of Zebra's ZPL II Programming Guide:
//   1: aaa,b,c,dddd,eee,f,g,h,iii,j,k,l
//      aaa interface settings · b paper out · c pause · dddd label length
//      (dots) · eee formats in receive buffer · f buffer full · g
//      communications diagnostic mode · h partial format · iii unused (000) ·
//      j corrupt RAM · k under temperature · l over temperature
//   2: mmm,n,o,p,q,r,s,t,uuuuuuuu,v,www
//      mmm function settings · n unused · o head up · p ribbon out · q thermal
//      transfer mode · r print mode · s print width mode · t label waiting ·
//      uuuuuuuu labels remaining in batch · v format while printing (always
//      1) · www graphic images stored
//   3: xxxx,y  password · static RAM installed
// ~HQES answers the error and warning flags:
//   STX CR LF "PRINTER STATUS" CR LF
//   "ERRORS:   a bbbbbbbb cccccccc" CR LF   (a = 1 if any; group 1 nibbles:
//   "WARNINGS: a bbbbbbbb cccccccc" CR LF    media out 1, ribbon out 2, head
//   ETX CR LF                                open 4, cutter fault 8)
//
// Fault `silent-hs`: like many real printers, it then does not answer ~HS at
// all in media out, head open or ribbon out; ~HQES still answers.
//
// A format counts as "in the receive buffer" from the ^XZ arriving until the
// mechanism takes that ^XZ; then its ^PQ quantity (default 1) is added to the
// labels remaining, which count down one per --print-ms while nothing stops
// the mechanism. Every condition except ok stops it.

import type { DialectEmulator, EmulatedPrinter, FaultSpec, PrinterContext, PrinterSettings } from './dialect.js';

const STX = '\x02';
const ETX = '\x03';
const CRLF = '\r\n';

interface Flags {
  paperOut?: boolean;
  pause?: boolean;
  headOpen?: boolean;
  ribbonOut?: boolean;
  /** ~HQES error bits (group 1). */
  errors: number;
}

const CONDITIONS: Record<string, Flags> = {
  ok: { errors: 0 },
  'paper-out': { paperOut: true, errors: 0x1 },
  'ribbon-out': { ribbonOut: true, errors: 0x2 },
  'head-open': { headOpen: true, errors: 0x4 },
  cutter: { errors: 0x8 },
  pause: { pause: true, errors: 0 },
};
/** Conditions in which a silent-hs printer does not answer ~HS. */
const SILENT_IN = ['paper-out', 'head-open', 'ribbon-out'];

const DEFAULT_LABEL_MS = 200;
const LABEL_LENGTH = 1218;

/** Finds ASCII tokens in a byte stream, across chunk boundaries. */
class Tokens {
  private tail = '';
  private readonly keep: number;
  constructor(private readonly tokens: readonly string[]) {
    this.keep = Math.max(...tokens.map((t) => t.length));
  }
  /** The token that ends at this byte, if any. */
  feed(b: number): string | undefined {
    this.tail = (this.tail + String.fromCharCode(b)).slice(-this.keep);
    return this.tokens.find((t) => this.tail.endsWith(t));
  }
  reset(): void {
    this.tail = '';
  }
}

const pad = (n: number, width: number): string => String(Math.min(n, 10 ** width - 1)).padStart(width, '0');
const hex8 = (n: number): string => n.toString(16).toUpperCase().padStart(8, '0');

class ZplPrinter implements EmulatedPrinter {
  condition = 'ok';
  private silentHs = false;
  private readonly wire = new Tokens(['~HS', '~HQ', '~PP', '~PS', '~JA', '^XA', '^XZ']);
  private readonly engine = new Tokens(['^PQ', '^XZ']);
  /** Collecting the two letters after ~HQ. */
  private hq: string | undefined;
  private formatsReceived = 0;
  private formatsPrinted = 0;
  private partial = false;
  /** Digits after ^PQ in the format being taken, while they come. */
  private pq: string | undefined;
  private quantity = 1;
  private labelsRemaining = 0;
  /** Labels still to print of each taken format, oldest first. */
  private readonly batches: { left: number; quantity: number }[] = [];
  private labelTimer: NodeJS.Timeout | undefined;
  private readonly labelMs: number;

  constructor(private readonly ctx: PrinterContext, settings: PrinterSettings) {
    this.labelMs = settings.printMs ?? DEFAULT_LABEL_MS;
  }

  get blocked(): boolean {
    return this.condition !== 'ok';
  }

  get busy(): boolean {
    return this.labelsRemaining > 0;
  }

  receive(bytes: Uint8Array): void {
    for (const b of bytes) {
      if (this.hq !== undefined) {
        this.hq += String.fromCharCode(b);
        if (this.hq.length === 2) {
          if (this.hq === 'ES') this.ctx.reply(this.hqes());
          this.hq = undefined;
        }
        continue;
      }
      switch (this.wire.feed(b)) {
        case '~HS':
          this.answerHs();
          break;
        case '~HQ':
          this.hq = '';
          break;
        // Control commands act when they arrive, ahead of the formats queued before them, as on a real printer.
        case '~PP':
          if (this.condition === 'ok') this.setCondition('pause');
          this.ctx.emit({ event: 'command', command: '~PP', condition: this.condition });
          break;
        case '~PS':
          if (this.condition === 'pause') this.setCondition('ok');
          this.ctx.emit({ event: 'command', command: '~PS', condition: this.condition });
          break;
        case '~JA':
          this.cancelAll();
          this.ctx.emit({ event: 'command', command: '~JA' });
          break;
        case '^XA':
          this.partial = true;
          break;
        case '^XZ':
          this.partial = false;
          this.formatsReceived++;
          break;
      }
    }
  }

  print(bytes: Uint8Array): void {
    for (const b of bytes) {
      if (this.pq !== undefined) {
        if (b >= 0x30 && b <= 0x39 && this.pq.length < 8) {
          this.pq += String.fromCharCode(b);
          continue;
        }
        this.quantity = Math.max(1, Number(this.pq) || 1);
        this.pq = undefined;
      }
      const token = this.engine.feed(b);
      if (token === '^PQ') this.pq = '';
      else if (token === '^XZ') {
        this.formatsPrinted++;
        this.labelsRemaining += this.quantity;
        this.batches.push({ left: this.quantity, quantity: this.quantity });
        this.quantity = 1;
        this.tickLabels();
      }
    }
  }

  reset(): void {
    this.wire.reset();
    this.hq = undefined;
  }

  setCondition(name: string): boolean {
    if (!(name in CONDITIONS)) return false;
    this.condition = name;
    this.tickLabels();
    return true;
  }

  powerOff(): void {
    this.close();
  }

  /** Formats, labels and half-read commands are gone; silent-hs is the model's firmware and stays. */
  powerOn(): void {
    this.condition = 'ok';
    this.wire.reset();
    this.engine.reset();
    this.hq = undefined;
    this.pq = undefined;
    this.quantity = 1;
    this.formatsReceived = 0;
    this.formatsPrinted = 0;
    this.partial = false;
    this.labelsRemaining = 0;
    this.batches.length = 0;
  }

  fault(spec: FaultSpec): string | undefined {
    if (spec.name !== 'silent-hs') return `zpl has no fault ${spec.name}`;
    this.silentHs = !spec.off;
    return undefined;
  }

  close(): void {
    if (this.labelTimer) clearTimeout(this.labelTimer);
    this.labelTimer = undefined;
  }

  private answerHs(): void {
    if (this.silentHs && SILENT_IN.includes(this.condition)) {
      this.ctx.emit({ event: 'unanswered', query: '~HS', condition: this.condition });
      return;
    }
    const f = CONDITIONS[this.condition] ?? CONDITIONS['ok']!;
    const bit = (v: boolean | undefined): string => (v ? '1' : '0');
    const formats = Math.max(0, this.formatsReceived - this.formatsPrinted);
    const full = this.ctx.room() <= 0;
    const s1 = `030,${bit(f.paperOut)},${bit(f.pause)},${pad(LABEL_LENGTH, 4)},${pad(formats, 3)},${bit(full)},0,${bit(this.partial)},000,0,0,0`;
    const s2 = `001,0,${bit(f.headOpen)},${bit(f.ribbonOut)},1,2,6,0,${pad(this.labelsRemaining, 8)},1,000`;
    const s3 = '1234,0';
    this.ctx.reply([s1, s2, s3].map((s) => `${STX}${s}${ETX}${CRLF}`).join(''));
  }

  private hqes(): string {
    const errors = (CONDITIONS[this.condition] ?? CONDITIONS['ok']!).errors;
    const line = (name: string, bits: number): string => `${name.padEnd(17)}${bits ? 1 : 0} 00000000 ${hex8(bits)}${CRLF}`;
    return `${STX}${CRLF}PRINTER STATUS${CRLF}${line('   ERRORS:', errors)}${line('   WARNINGS:', 0)}${ETX}${CRLF}`;
  }

  /** ~JA: the formats taken and the labels still to print are dropped. */
  private cancelAll(): void {
    this.batches.length = 0;
    this.labelsRemaining = 0;
    this.formatsPrinted = this.formatsReceived;
    this.partial = false;
    this.engine.reset();
    this.pq = undefined;
    this.quantity = 1;
  }

  private labelOut(): void {
    const batch = this.batches[0];
    if (batch && --batch.left <= 0) {
      this.batches.shift();
      this.ctx.formatPrinted?.(batch.quantity);
    }
  }

  /** Counts labels down while the mechanism may run. */
  private tickLabels(): void {
    if (this.labelTimer || this.labelsRemaining === 0 || this.blocked) return;
    this.labelTimer = setTimeout(() => {
      this.labelTimer = undefined;
      if (!this.blocked && this.labelsRemaining > 0) {
        this.labelsRemaining--;
        this.labelOut();
      }
      this.tickLabels();
    }, this.labelMs);
  }
}

export const zpl: DialectEmulator = {
  name: 'zpl',
  conditions: Object.keys(CONDITIONS),
  faults: { 'silent-hs': 'silent-hs [off]: ~HS unanswered in paper-out, head-open, ribbon-out' },
  create: (ctx, settings) => new ZplPrinter(ctx, settings),
  // ~HQES before ~HS would not matter: neither is a prefix of the other. The
  // control commands are not print data either, so the record leaves them out.
  queries: ['~HS', '~HQES', '~PP', '~PS', '~JA'].map((q) => Uint8Array.from(q, (c) => c.charCodeAt(0))),
};
