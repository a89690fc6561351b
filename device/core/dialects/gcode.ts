// G-code (Marlin-class 3D printers), streamed the way OctoPrint and
// Moonraker do it:
//
// - One line in flight; the printer's `ok` releases the next. A job starts
//   with `M110 N0`, then every line goes as `N<n> <cmd>*<xor checksum>`,
//   comments and blank lines stripped.
// - A printer that reports its free buffers in every `ok` (Marlin's
//   ADVANCED_OK: `ok N<line> P<planner free> B<command slots free>`) gets more
//   lines in flight: at most min(P, B + 1) of the last `ok` counting the
//   lines still unanswered, at most RX_BYTES unanswered bytes (the serial
//   receive buffer), at most MAX_WINDOW. B + 1: Marlin answers while the
//   command still holds its slot, and frees it right after; a line sent but
//   not yet parsed is not in B, so the unanswered lines are counted against
//   it. An `ok` without both fields, or with a malformed one, means one
//   line; an `ok` saying P0 means none until the next `ok`, or HOLD_MS after
//   the last one with nothing in flight. The `ok`s of lines that ran release
//   the in-flight lines oldest first.
// - `Resend: N` (or `rs N`) says the printer took every line before N and
//   none from N on. The numbered lines in flight from N on leave the count at
//   once (refused or lost on the wire, they hold no slot and will never run),
//   and the lines go again from N, in order, out of a ring of the last RING
//   lines. The `ok` right after a `Resend:` line is the refusal's own: it
//   releases nothing and says nothing of the buffers (Marlin 2.1 sends it
//   bare). Each line that was in flight behind the gap may be refused on its
//   own, with a line number error (Marlin's "Line Number is not Last Line
//   Number+1", Repetier's "expected line") and the same `Resend: N`: up to
//   that many of these echoes are not acted on, so a gap is resent once. A
//   lost line answers nothing, and Marlin empties its receive buffer on an
//   error, so fewer echoes may come; as answers come in the order the lines
//   arrived, the count ends when an `ok` names line N or later. A checksum
//   error is never an echo (the lines behind a gap fail on their number
//   first): it is the resent line refused again. Ten consecutive requests
//   for one line fail the job "communication stuck".
// - Once the job's last line is sent, a numbered `M105` follows it while it
//   is unanswered, so a printer that lost that line asks for it rather than
//   going silent.
// - A line unanswered for LINE_MS (LONG_MS for G28/G29/M400/M600/M109/M190…)
//   gets an `M105` tickle; any line from the printer (`echo:busy:`,
//   temperatures) keeps the in-flight line alive. DEAD_AFTER timeouts in a
//   row: the printer is dead, the port offline, the job failed.
// - After such a stall the printer may still hold every line in flight (a
//   slow move, a pause) or have lost some, so they stay counted until its
//   answers say which: an `ok N<k>` (ADVANCED_OK names the line it ran)
//   releases the lines up to k, the later ones stay in flight; an `ok`
//   without N is the tickle's (or a printer that does not name lines), and
//   as the printer runs lines in order, it releases every line up to the
//   tickle. Lines released that way were never confirmed: the job is not
//   done until a later numbered line is taken (a numbered `M105` goes when
//   nothing else would), since the printer takes line k only after k-1, and
//   asks `Resend:` for a line it lost.
// - Temperatures (`T:210.0 /210.0 B:60.0 /60.0`) from any line go to the
//   port status; between jobs an `M105` goes every poll interval.
// - Emergency commands (M112, M108, M410) jump the queue: written at once,
//   unnumbered, whatever is in flight (Marlin's emergency parser acts on
//   them on arrival). M112 kills the printer, so it fails the job.
// - `start` (the printer reset) or a fatal `Error:` (halted, thermal
//   runaway, MINTEMP/MAXTEMP) mid-job fails the job; so does losing the port.
// - A print that ends unfinished while the printer still listens (canceled,
//   failed by the spool, or a stream this dialect gave up on) is followed by
//   the port's cancel script, as OctoPrint does: by default heaters, fan and
//   motors off. It goes unnumbered after the `ok` of the line in flight (with
//   ADVANCED_OK, behind the lines in flight, room permitting), before
//   anything else. Not after M112, a reset, a halt, a silent printer
//   or a lost port: then the printer does not listen, or is safe already.
//
// Pacing and exactly-once: the spool counts as written the job bytes this
// dialect took, which is the lines handed to the printer (or skipped as
// comments) plus at most one line being assembled. The dialect holds those
// lines (ring, line buffer) for as long as the spool holds the job, so a lost
// server link costs nothing; job.done waits for the `ok` of the last line.

import { ascii, text, type CommandResult, type Dialect, type JobFeed, type PrinterStatus, type Verdict } from './dialect.js';
import type { Temperature } from '../../../protocol/device-messages.js';
import type { PortConfig } from '../types.js';

const RING = 32;
/** Most lines in flight whatever the printer reports: well inside RING, so a resend always finds its line. */
const MAX_WINDOW = 16;
/** Most unanswered bytes in flight with several lines: Marlin's default serial receive buffer is 128 bytes. */
const RX_BYTES = 127;
/** After an `ok` saying no room, with nothing in flight: wait this long, then one line. */
const HOLD_MS = 1_000;
const MAX_LINE = 256;
const LINE_MS = 30_000;
const LONG_MS = 600_000;
const IDLE_MS = 5_000;
const DEAD_AFTER = 5;
const MAX_RESENDS = 10;
const MAX_COMMANDS = 4;
const MAX_ANSWER_LINES = 16;
/** Commands that take seconds (homing, heating, waiting): they get the long time limit. */
const LONG_COMMANDS: readonly string[] = ['G28', 'G29', 'G4', 'M0', 'M1', 'M109', 'M190', 'M191', 'M303', 'M400', 'M600'];
/** The only commands that may jump the queue. */
const EMERGENCY_COMMANDS: readonly string[] = ['M112', 'M108', 'M410'];
/** After an unfinished print: hotend and bed heaters off, part fan off, motors off (PortConfig.cancelScript). */
export const DEFAULT_CANCEL_SCRIPT: readonly string[] = ['M104 S0', 'M140 S0', 'M107', 'M84'];
// No RegExp lives at module level here: this module is preloaded on the
// device, and a preloaded RegExp is a frozen object in flash that XS's exec
// must not be handed (on the SDK runtime it crashed the VM under load).

/** The command word of a G-code line, upper case ("G28" of "g28 X0"). */
function commandWord(line: string): string {
  const t = line.trimStart();
  const end = t.search(/\s/);
  return (end < 0 ? t : t.slice(0, end)).toUpperCase();
}

const isLong = (cmd: string): boolean => LONG_COMMANDS.includes(commandWord(cmd));

/**
 * A cancel script as one string (a host's flag or setting): lines separated
 * by newlines or `;` (so it carries no comments), blank ones dropped. Throws
 * a RangeError naming a line that is not single-byte text or is too long.
 */
export function cancelScriptLines(script: string): string[] {
  const lines: string[] = [];
  for (const part of script.split('\n').join(';').split(';')) {
    const line = part.trim();
    if (line === '') continue;
    if (ascii(line) === undefined || line.length > MAX_LINE) throw new RangeError(`cancel script line ${JSON.stringify(line.slice(0, 40))} is not single-byte text of at most ${MAX_LINE} characters`);
    lines.push(line);
  }
  return lines;
}

interface Ready {
  bytes: Uint8Array;
  limit: number;
  /** The command result this line's answer goes to. */
  ref?: string | undefined;
  /** A cancel script line (kept across a port loss). */
  stop?: string | undefined;
  /** Its line number, when numbered. */
  n?: number | undefined;
}

interface InFlight {
  at: number;
  limit: number;
  /** Its byte count, for RX_BYTES. */
  size: number;
  /** Its line number, when numbered. */
  n?: number | undefined;
  /** The command result this line's answer goes to. */
  ref?: string | undefined;
  /** In flight when the printer fell silent (or the tickle then): whether it still holds the line, its next answers tell. */
  stale?: boolean | undefined;
}

export class Gcode implements Dialect {
  readonly confirms = true;
  readonly answering = false;
  /** A starved stream ruins a 3D print: the spool must not quietly continue one. */
  readonly stalls = true;
  status: PrinterStatus | undefined;
  readonly results: CommandResult[] = [];
  private job = false;
  private started = false;
  private n = 0;
  private readonly ring: (Uint8Array | undefined)[] = [];
  private resendFrom: number | undefined;
  /** The line of the last `Resend:` acted on, and how many times in a row. */
  private resendLine = -1;
  private resends = 0;
  /** Command results of lines taken out of flight by a `Resend:`, for when they go again. */
  private resent: { n: number; ref: string }[] = [];
  /** Lines written and not yet answered, oldest first: each `ok` releases the first. */
  private inflight: InFlight[] = [];
  private inflightBytes = 0;
  /** Lines the last `ok` left room for (1 without ADVANCED_OK). */
  private room = 1;
  /** When room is 0 and nothing is in flight: one line may go from then. */
  private holdUntil = 0;
  /** At most this many line number errors asking for `resendLine` may still come from lines sent before it was acted on. */
  private echoes = 0;
  /** The printer's last line was a `Resend:`: an `ok` now is the refusal's. */
  private refusal = false;
  /** The printer's last line was a line number error. */
  private lineError = false;
  /** The numbered M105 after the job's last line went. */
  private fenced = false;
  /** The tickle after a stall, not written yet: it goes whatever the room, as the marker that ends the resynchronisation. */
  private tickle: { bytes: Uint8Array; limit: number } | undefined;
  /** The highest job line released after a stall without an `ok` of its own: the job is done only once a line from it on is taken. */
  private unsure: number | undefined;
  private timeouts = 0;
  private line: number[] = [];
  private rx: number[] = [];
  private urgent: Uint8Array[] = [];
  private ready: Ready | undefined;
  private readonly commands: { ref: string; cmd: string }[] = [];
  private answer: string[] = [];
  private fatal: Verdict | undefined;
  private due = 0;
  private temps: Temperature[] | undefined;
  private up = true;
  private seen = -Infinity;
  /** The port's cancel script, cleaned. */
  private readonly cancelScript: readonly string[];
  /** Lines of the cancel script still to go. */
  private readonly stopping: string[] = [];
  /** The job's verdict was done: its end needs no cancel script. */
  private completed = false;
  /** The job failed here while the printer still listens: its end gets the cancel script. */
  private fatalListening = false;

  constructor(
    private readonly poll: number,
    port?: Pick<PortConfig, 'cancelScript'>,
  ) {
    const script: string[] = [];
    for (const line of port?.cancelScript ?? DEFAULT_CANCEL_SCRIPT) {
      const cmd = clean(line);
      if (cmd !== '' && cmd.length <= MAX_LINE && ascii(cmd) !== undefined) script.push(cmd);
    }
    this.cancelScript = script;
  }

  begin(now: number): void {
    this.job = true;
    this.started = false;
    this.completed = false;
    this.fatalListening = false;
    this.fatal = undefined;
    this.line = [];
    this.resendFrom = undefined;
    this.unsure = undefined;
    this.fenced = false;
    // Line numbers start again at 0: requests of an earlier job are no echoes.
    this.resendLine = -1;
    this.echoes = 0;
    this.due = now + this.poll;
  }

  end(): void {
    // n > 0: a line after M110 N0 went to the printer, so it may be heating or moving.
    const unfinished = this.job && this.started && this.n > 0 && !this.completed;
    if (unfinished && this.up && (this.fatal === undefined || this.fatalListening)) this.stopping.push(...this.cancelScript);
    this.job = false;
    this.started = false;
    // The job's failure ends with it: lines between jobs (the cancel script, M999 after an M112) go again.
    this.fatal = undefined;
    this.line = [];
    this.resendFrom = undefined;
    this.unsure = undefined;
    // Commands refused mid-job that had not gone again: they never ran.
    for (const r of this.resent) this.results.push({ ref: r.ref, ok: false, code: 'PRINTER_ERROR', message: 'the print ended before the command was sent again' });
    this.resent = [];
    if (this.ready?.ref === undefined && this.ready?.stop === undefined) this.ready = undefined;
  }

  link(up: boolean, now: number): void {
    this.up = up;
    if (this.job && !up) this.fail('PRINTER_UNREACHABLE', 'printer link lost mid-print; a 3D print is not resumed');
    this.clearInflight();
    // A cancel script line not written yet goes when the port is back.
    if (this.ready?.stop !== undefined) this.stopping.unshift(this.ready.stop);
    this.ready = undefined;
    this.rx = [];
    this.status = undefined;
    this.timeouts = 0;
    this.due = now;
  }

  command(ref: string, cmdIn: string, emergency: boolean): void {
    const cmd = cmdIn.trim();
    const bytes = ascii(`${cmd}\n`);
    const refuse = (code: 'BAD_FIELD' | 'PORT_BUSY', message: string): void => void this.results.push({ ref, ok: false, code, message });
    if (bytes === undefined || cmd === '' || cmd.includes('\n')) return refuse('BAD_FIELD', 'data must be one line of G-code');
    if (emergency) {
      if (!EMERGENCY_COMMANDS.includes(commandWord(cmd))) return refuse('BAD_FIELD', 'only M112, M108 and M410 may jump the queue');
      this.urgent.push(bytes);
      this.results.push({ ref, ok: true, data: { written: bytes.length } });
      if (/^M112/i.test(cmd)) {
        this.status = { state: 'error', detail: 'emergency stop (M112)' };
        if (this.job) this.fail('PRINTER_ERROR', 'emergency stop (M112)');
      }
      return;
    }
    if (this.commands.length >= MAX_COMMANDS) return refuse('PORT_BUSY', 'too many printer commands waiting');
    this.commands.push({ ref, cmd });
  }

  write(room: number, feed: JobFeed | undefined, now: number): Uint8Array | undefined {
    this.seen = now;
    this.expire(now);
    if (!this.up || room <= 0) return undefined;
    const urgent = this.urgent[0];
    if (urgent !== undefined) {
      if (urgent.length > room) return undefined;
      this.urgent.shift();
      return urgent;
    }
    if (this.fatal !== undefined) return undefined;
    const tickle = this.tickle;
    if (tickle !== undefined) {
      if (tickle.bytes.length > room) return undefined;
      this.tickle = undefined;
      return this.send(tickle, now, true);
    }
    if (!this.mayWrite(now)) return undefined;
    if (this.ready === undefined) this.ready = this.next(feed, now);
    const r = this.ready;
    if (r === undefined || r.bytes.length > room) return undefined;
    if (this.inflight.length > 0 && this.inflightBytes + r.bytes.length > RX_BYTES) return undefined;
    this.ready = undefined;
    return this.send(r, now, false);
  }

  private send(r: Pick<Ready, 'bytes' | 'limit' | 'ref' | 'n'>, now: number, stale: boolean): Uint8Array {
    this.inflight.push({ at: now, limit: r.limit, ref: r.ref, size: r.bytes.length, n: r.n, ...(stale ? { stale } : {}) });
    this.inflightBytes += r.bytes.length;
    return r.bytes;
  }

  verdict(sent: boolean): Verdict | undefined {
    if (this.fatal !== undefined) return this.fatal;
    if (!sent || !this.started || this.line.length > 0 || this.inflight.length > 0 || this.ready !== undefined || this.resendFrom !== undefined || this.unsure !== undefined) return undefined;
    this.completed = true;
    return { ok: true };
  }

  input(bytes: Uint8Array, now: number): void {
    for (const b of bytes) {
      if (b === 0x0a) {
        const line = text(this.rx).trim();
        this.rx = [];
        if (line !== '') this.onLine(line, now);
      } else if (b !== 0x0d && this.rx.length < MAX_LINE) this.rx.push(b);
    }
  }

  deadline(): number | undefined {
    if (!this.up) return undefined;
    const f = this.inflight[0];
    if (f !== undefined) return f.at + f.limit;
    if (this.room === 0 && this.holdUntil > this.seen) return this.holdUntil;
    return this.poll > 0 && this.due > this.seen ? this.due : undefined;
  }

  /** The next line to send, if any: a resend, the cancel script, M110, a command, a poll, or the job's next line. */
  private next(feed: JobFeed | undefined, now: number): Ready | undefined {
    if (this.resendFrom !== undefined) {
      const n = this.resendFrom;
      const bytes = this.ring[n % RING];
      const cmdLong = bytes !== undefined && isLong(text(bytes).replace(/^N\d+ /, ''));
      this.resendFrom = n + 1 > this.n ? undefined : n + 1;
      const ref = this.takeResent(n);
      // A command's answer is what the printer says to it once it is taken, not to its refusal.
      if (ref !== undefined) this.answer = [];
      if (bytes !== undefined) return { bytes, limit: cmdLong ? LONG_MS : LINE_MS, n, ref };
    }
    const stop = this.stopping.shift();
    if (stop !== undefined) return { ...this.plain(stop, isLong(stop) ? LONG_MS : LINE_MS), stop };
    if (this.job && !this.started) {
      this.started = true;
      this.n = 0;
      return this.plain('M110 N0', LINE_MS);
    }
    const cmd = this.commands.shift();
    if (cmd !== undefined) {
      this.answer = [];
      const r = this.job ? this.numbered(cmd.cmd) : this.plain(cmd.cmd, isLong(cmd.cmd) ? LONG_MS : LINE_MS);
      return { ...r, ref: cmd.ref };
    }
    if (this.poll > 0 && now >= this.due) {
      this.due = now + this.poll;
      return this.job ? this.numbered('M105') : this.plain('M105', IDLE_MS);
    }
    if (!this.job) return undefined;
    return (feed === undefined ? undefined : this.jobLine(feed)) ?? this.probe(feed);
  }

  /**
   * A numbered `M105` when nothing else goes: behind the job's last line
   * while that is unanswered (once), or when lines released after a stall
   * still wait for confirmation. The printer takes it only after every line
   * before it, and asks for a line it lost.
   */
  private probe(feed: JobFeed | undefined): Ready | undefined {
    if (this.fatal !== undefined) return undefined;
    if (this.unsure !== undefined && this.inflight.length === 0) return this.numbered('M105');
    const taken = feed !== undefined && feed.length === 0 && feed.last && this.line.length === 0;
    if (!taken || this.fenced || !this.inflight.some((g) => g.n !== undefined)) return undefined;
    this.fenced = true;
    return this.numbered('M105');
  }

  /** The command result waiting for line `n`, now that it goes again. */
  private takeResent(n: number): string | undefined {
    const i = this.resent.findIndex((r) => r.n === n);
    if (i < 0) return undefined;
    return this.resent.splice(i, 1)[0]?.ref;
  }

  /** The job's next line, comments and blank lines skipped. */
  private jobLine(feed: JobFeed): Ready | undefined {
    for (;;) {
      const view = feed.peek(MAX_LINE);
      let end = view.indexOf(0x0a);
      const complete = end >= 0 || (feed.length === view.length && feed.last);
      if (end < 0) end = view.length;
      const part = feed.take(Math.min(end + 1, view.length));
      for (let i = 0; i < part.length; i++) if (part[i] !== 0x0a && this.line.length <= MAX_LINE) this.line.push(part[i] ?? 0);
      if (this.line.length > MAX_LINE) {
        this.fail('BAD_FIELD', `a G-code line is longer than ${MAX_LINE} bytes`, true);
        return undefined;
      }
      if (!complete) {
        if (feed.length === 0) return undefined;
        continue;
      }
      const cmd = clean(text(this.line));
      this.line = [];
      if (cmd !== '') return this.numbered(cmd);
      if (feed.length === 0) return undefined;
    }
  }

  private plain(cmd: string, limit: number): { bytes: Uint8Array; limit: number } {
    return { bytes: ascii(`${cmd}\n`) ?? new Uint8Array(0), limit };
  }

  private numbered(cmd: string): { bytes: Uint8Array; limit: number; n: number } {
    const n = ++this.n;
    const body = `N${n} ${cmd}`;
    let sum = 0;
    for (let i = 0; i < body.length; i++) sum ^= body.charCodeAt(i) & 0xff;
    const bytes = ascii(`${body}*${sum}\n`) ?? new Uint8Array(0);
    this.ring[n % RING] = bytes;
    this.resends = 0;
    return { bytes, limit: isLong(cmd) ? LONG_MS : LINE_MS, n };
  }

  /** Whether another line may go now: one when nothing is in flight, more as the last `ok` allowed. */
  private mayWrite(now: number): boolean {
    if (this.room === 0 && this.inflight.length === 0 && now >= this.holdUntil) this.room = 1;
    return this.inflight.length < Math.min(this.room, MAX_WINDOW);
  }

  private clearInflight(): void {
    this.inflight = [];
    this.inflightBytes = 0;
    this.room = 1;
    this.echoes = 0;
    this.refusal = false;
    this.lineError = false;
    this.tickle = undefined;
  }

  private onLine(line: string, now: number): void {
    const f = this.inflight[0];
    if (f !== undefined) f.at = now;
    this.timeouts = 0;
    // Marlin writes a line's error, its `Resend:` and the refusal's `ok` back to back: each tells about the next.
    const { refusal, lineError } = this;
    this.refusal = false;
    this.lineError = false;
    const s = this.status;
    if (this.temperatures(line) || s === undefined || s.state === 'offline') {
      // The printer speaks, so it is there; an error it reported stands until `start`.
      this.status = s?.state === 'error' ? { state: 'error', detail: s.detail, temps: this.temps } : { state: 'online', temps: this.temps };
    }
    if (refusal && /^ok\b/i.test(line)) return;
    const resend = /^(?:Resend:|rs)\s*N?:?\s*(\d+)/i.exec(line);
    if (resend !== null) return this.resend(Number(resend[1]), lineError);
    if (line === 'start') {
      this.status = { state: 'online', temps: this.temps };
      if (this.job && this.started) this.fail('PRINTER_ERROR', 'printer restarted mid-print');
      this.clearInflight();
      return;
    }
    const error = /^Error:/i.test(line);
    if (error && /halted|kill|thermal runaway|MINTEMP|MAXTEMP|heating failed/i.test(line)) {
      this.status = { state: 'error', detail: line.slice(6, 120).trim() };
      if (this.job) this.fail('PRINTER_ERROR', line.slice(0, 200));
      return;
    }
    this.lineError = error && /line number is not last line number\s*\+\s*1|expected line/i.test(line);
    if (f?.ref !== undefined && this.answer.length < MAX_ANSWER_LINES) this.answer.push(line.slice(0, 200));
    if (!/^ok\b/i.test(line)) return;
    this.room = okRoom(line);
    if (this.room === 0) this.holdUntil = now + HOLD_MS;
    // Answers come in the order lines arrived: once a line from the gap on ran, no echo of it is still to come.
    const k = okLine(line);
    if (k !== undefined && k >= this.resendLine) this.echoes = 0;
    const released = this.answered(k);
    if (released.length === 0) return;
    for (const g of released) {
      this.inflightBytes -= g.size;
      if (g.ref !== undefined) this.results.push({ ref: g.ref, ok: true, data: { lines: this.answer } });
    }
    // The next line's time runs from now: it waited behind this one.
    const head = this.inflight[0];
    if (head !== undefined) head.at = now;
  }

  /** Takes out of the in-flight queue the lines an `ok` naming line `k` (if it names one) answers. */
  private answered(k: number | undefined): InFlight[] {
    const head = this.inflight[0];
    if (head === undefined) return [];
    if (head.stale !== true) return this.confirm(this.inflight.splice(0, 1));
    let last = -1;
    if (k !== undefined) for (let i = 0; i < this.inflight.length; i++) if ((this.inflight[i]?.n ?? Infinity) <= k) last = i;
    if (last >= 0) return this.confirm(this.inflight.splice(0, last + 1));
    // The `ok` of an unnumbered line: the first one in flight ran, so every line before it ran or was lost.
    const unnumbered = this.inflight.findIndex((g) => g.n === undefined);
    const released = this.inflight.splice(0, unnumbered < 0 ? 1 : unnumbered + 1);
    for (const g of released) if (g.n !== undefined && this.job) this.unsure = Math.max(this.unsure ?? 0, g.n);
    return released;
  }

  /** Lines the printer took: a numbered one confirms every line before it. */
  private confirm(lines: InFlight[]): InFlight[] {
    for (const g of lines) if (g.n !== undefined && this.unsure !== undefined && g.n >= this.unsure) this.unsure = undefined;
    return lines;
  }

  /** `Resend: n`; `lineError`: it follows a line number error, so it may be an echo of a gap already acted on. */
  private resend(n: number, lineError: boolean): void {
    this.refusal = true;
    // Between jobs nothing goes numbered: a late request for a job line is not honoured.
    if (!this.job) return;
    if (n === this.resendLine && lineError && this.echoes > 0) {
      this.echoes--;
      return;
    }
    if (n === this.resendLine) this.resends++;
    else {
      this.resendLine = n;
      this.resends = 1;
    }
    if (this.resends >= MAX_RESENDS) return this.fail('PRINTER_ERROR', `communication stuck: line ${n} resent ${MAX_RESENDS} times`, true);
    if (n > this.n || n <= this.n - RING || this.ring[n % RING] === undefined) return this.fail('PRINTER_ERROR', `printer asked for line ${n}, which is no longer held`, true);
    this.resendFrom = n;
    // A numbered line not written yet is in the ring: it goes in its turn.
    const ready = this.ready;
    if (ready?.n !== undefined && ready.ref !== undefined) this.resent.push({ n: ready.n, ref: ready.ref });
    this.ready = undefined;
    let out = 0;
    const kept: InFlight[] = [];
    for (const g of this.inflight) {
      if (g.n === undefined || g.n < n) {
        kept.push(g);
        continue;
      }
      out++;
      this.inflightBytes -= g.size;
      if (g.ref !== undefined) this.resent.push({ n: g.n, ref: g.ref });
    }
    this.inflight = kept;
    // Every line taken out but the one this answers may still be refused on its own.
    this.echoes = Math.max(0, out - 1);
  }

  private expire(now: number): void {
    const f = this.inflight[0];
    if (f === undefined || now < f.at + f.limit) return;
    for (const g of this.inflight) {
      if (g.ref !== undefined) this.results.push({ ref: g.ref, ok: false, code: 'TIMEOUT', message: 'no ok from the printer' });
      g.ref = undefined;
    }
    // After a silence no earlier answer is still on its way.
    this.echoes = 0;
    if (++this.timeouts >= DEAD_AFTER || (!this.job && f.limit === IDLE_MS)) {
      this.clearInflight();
      this.status = { state: 'offline', detail: `no answer from the printer (${this.timeouts} timeouts)` };
      if (this.timeouts >= DEAD_AFTER && this.job) this.fail('PRINTER_UNREACHABLE', `printer stopped answering (${this.timeouts} timeouts in a row)`);
      return;
    }
    // The lines stay counted against the printer's buffers until its answers say which it still holds.
    for (const g of this.inflight) {
      g.stale = true;
      g.at = now;
    }
    // Tickle: its `ok` ends the resynchronisation; a line the printer lost is then asked for again by number.
    this.tickle = this.plain('M105', f.limit === IDLE_MS ? IDLE_MS : LINE_MS);
  }

  /** Reads temperatures from a line; true when a target changed (worth a status report at once). */
  private temperatures(line: string): boolean {
    if (!line.includes(':')) return false;
    const temps: Temperature[] = [];
    for (const m of line.matchAll(/\b(T\d*|B|C|P|H):\s*(-?\d+(?:\.\d+)?)\s*(?:\/\s*(-?\d+(?:\.\d+)?))?/g)) {
      if (temps.length >= 8) break;
      const name = m[1] ?? '';
      temps.push({ name, current: Number(m[2]), ...(m[3] === undefined ? {} : { target: Number(m[3]) }) });
    }
    if (temps.length === 0) return false;
    this.temps = temps;
    return true;
  }

  /** Fails the job; `listening`: the printer still takes lines, so the job's end sends the cancel script. */
  private fail(code: 'PRINTER_ERROR' | 'PRINTER_UNREACHABLE' | 'BAD_FIELD', message: string, listening = false): void {
    if (this.fatal !== undefined || !this.job) return;
    this.fatal = { ok: false, code, message };
    this.fatalListening = listening;
  }
}

/**
 * The lines an `ok` leaves room for: min(P, B + 1) of ADVANCED_OK's
 * `ok N<line> P<planner free> B<command slots free>` (B still counts the
 * answered command's slot, free once the `ok` is out); 1 when either field is
 * missing or is not a plain count (`B:24.1` of a temperature report is not).
 */
function okRoom(line: string): number {
  let p = -1;
  let b = -1;
  let i = 2;
  while (i < line.length) {
    while (i < line.length && line.charCodeAt(i) === 0x20) i++;
    const start = i;
    while (i < line.length && line.charCodeAt(i) !== 0x20) i++;
    if (i - start < 2 || i - start > 4) continue;
    const letter = line.charCodeAt(start);
    if (letter !== 0x50 && letter !== 0x42) continue;
    let v = 0;
    let j = start + 1;
    for (; j < i; j++) {
      const c = line.charCodeAt(j);
      if (c < 0x30 || c > 0x39) break;
      v = v * 10 + c - 0x30;
    }
    if (j < i) continue;
    if (letter === 0x50) p = p < 0 ? v : -2;
    else b = b < 0 ? v : -2;
  }
  return p < 0 || b < 0 ? 1 : Math.min(p, b + 1);
}

/** The line an ADVANCED_OK `ok N<line> …` names, if it names one. */
function okLine(line: string): number | undefined {
  const m = /\sN(\d+)(?=\s|$)/.exec(line);
  return m === null ? undefined : Number(m[1]);
}

/** A job line as it goes to the printer: no comment, no line number or checksum of its own, no outer spaces. */
function clean(line: string): string {
  const semi = line.indexOf(';');
  return (semi >= 0 ? line.slice(0, semi) : line).replace(/\*\d+\s*$/, '').replace(/^\s*N\d+\s+/i, '').trim();
}
