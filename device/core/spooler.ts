// One printer port: its job spool, its dialect driver and its flow control.
// The spool takes job data from the server under a credit window and hands it
// to the dialect (dialects/), which writes it to the port no faster than the
// port, the printer's flow control and the dialect's own pacing allow.
//
// Per job the spool keeps two offsets:
//   received  bytes of the job that arrived from the server (contiguous)
//   written   bytes the dialect took for the port (byte dialects: handed to
//             the port; G-code: lines handed to the printer or skipped as
//             comments, plus at most one line being assembled)
// and holds exactly the bytes between them, so memory is bounded by the
// window the device announced: the server never sends past written + window.
//
// Exactly once across a lost link: the spool (and the dialect's in-flight
// state) outlives the socket. While offline it keeps writing what it holds.
// When the server offers the same job again (job.start), the spool answers
// job.accept with its received and written offsets, and the server continues
// at `received`: no byte twice, none missing. A job the spool has never seen
// is answered `fresh`, so the server can tell "start from zero" from "the
// device forgot" (a restart) and fail the job rather than print part of it
// twice. One exception: a G-code job whose stream ran dry while the link was
// down (the printer sat mid-print) is not continued unless job.start says
// `resume: true`; it fails JOB_INTERRUPTED instead.
//
// Data frames carry their offset: a frame that repeats bytes we already have
// is trimmed, a frame that leaves a gap or exceeds the window fails the job.
//
// A job ends when all its bytes were written and the dialect's verdict says
// so: at once for raw, after the printer confirmed it for the others (see
// each dialect). On a `spooler` port (a CUPS queue) the print system is the
// judge instead: every write names its job, the one that completes it says
// `last` (an empty one when the bytes went earlier), and the job ends with
// the host's `port.verdict` for it, which counts only once it was handed
// over whole. Job data stops moving while the server holds the job
// (job.pause), while the printer sent XOFF, and while the printer reports
// trouble (offline, paper out, cover open, error), which is also told to the
// server as job.state paused / printing. Status queries go on regardless.
//
// Printer sessions: a job is done only when the dialect proves it on the
// same printer session that took all of its bytes. A session starts when
// the host reports the port online and ends when it reports it offline (a
// TCP connection lost, a serial device gone); on a serial line (any port not
// configured `transport: 'network'`) also when the printer went silent past
// the dialect's status timeout and answers again (Dialect.revivals), since
// it may have been switched off and on with the job in its buffer. When a
// session ends:
//   no job, or a job with no byte written   nothing; the job starts (again)
//                                           on the next session
//   bytes written, no verdict yet           the job fails JOB_INTERRUPTED,
//                                           after a job.ack with `written`;
//                                           nothing is resent
// A job already done stays done: raw's done means every byte was handed to
// the port during one session, not that the printer read it. An answer on
// the new session never confirms a job of the old one: that job is gone.

import type { DeviceMessage, PrinterState } from '../../protocol/device-messages.js';
import type { ErrorCode } from '../../protocol/errors.js';
import { protocolError, type ProtocolError } from '../../protocol/errors.js';
import type { DataFrame } from '../../protocol/frames.js';
import { ByteQueue } from './byte-queue.js';
import { TROUBLE, type Dialect, type JobFeed, type PrinterStatus, type Verdict } from './dialects/dialect.js';
import type { DeviceEffect, PortConfig, PortSnapshot } from './types.js';

interface ActiveJob {
  readonly id: string;
  stream: number;
  readonly size: number;
  received: number;
  written: number;
  acked: number;
  readonly data: ByteQueue;
  /** Held by the server (job.pause). */
  held: boolean;
  /** The printer holds it (told as job.state paused). */
  troubled: boolean;
  /** It was ever held by the printer, so a re-offer tells the server how it stands now. */
  everTroubled: boolean;
  /** The stream ran dry while the server link was down. */
  starved: boolean;
  /** The printer session that took some of its bytes ended before the verdict: why. Fails the job at the next pump. */
  cut: string | undefined;
  /** Spooler ports: the write marked `last` went out. */
  handedOver: boolean;
  /** Spooler ports: the host's verdict, once it came. */
  outcome: { readonly ok: boolean; readonly detail: string | undefined } | undefined;
}

/** Recently finished jobs, so an outcome lost with the link can be told again. */
const FINISHED_MEMORY = 8;
const XON = 0x11;
const XOFF = 0x13;

interface Finished {
  readonly id: string;
  readonly failure?: ProtocolError;
}

export type Send = (m: DeviceMessage) => void;

export class PortSpool implements JobFeed {
  private host: PrinterStatus = { state: 'unknown' };
  private room = 0;
  private xoff = false;
  private job: ActiveJob | undefined;
  private readonly finished: Finished[] = [];
  /** Dialect.revivals already seen. */
  private revived = 0;

  constructor(
    readonly config: PortConfig,
    readonly dialect: Dialect,
    private readonly window: number,
    private readonly ackStep: number,
  ) {}

  get port(): number {
    return this.config.port;
  }

  get busy(): boolean {
    return this.job !== undefined;
  }

  get activeJobId(): string | undefined {
    return this.job?.id;
  }

  /** What the port reports: the host's view (port open, busy line) merged with the dialect's answers and XOFF. */
  get status(): PrinterStatus {
    const d = this.dialect.status;
    let s = this.host.state === 'offline' || d === undefined || (d.state === 'online' && this.host.state === 'busy') ? this.host : d;
    if (s.state === 'online' && this.xoff) s = { state: 'busy', detail: 'XOFF from the printer' };
    return d?.temps === undefined ? s : { state: s.state, detail: s.detail, temps: d.temps };
  }

  get state(): PrinterState {
    return this.status.state;
  }

  // --- JobFeed: the dialect takes job bytes through these -------------------

  get length(): number {
    return this.job?.data.length ?? 0;
  }

  get last(): boolean {
    const job = this.job;
    return job === undefined || job.received === job.size;
  }

  peek(max: number): Uint8Array {
    return this.job?.data.peek(max) ?? new Uint8Array(0);
  }

  take(n: number): Uint8Array {
    const job = this.job;
    if (job === undefined) return new Uint8Array(0);
    const bytes = job.data.take(n);
    job.written += bytes.length;
    return bytes;
  }

  // --- events ----------------------------------------------------------------

  start(id: string, stream: number, size: number, resume: boolean, now: number, send: Send, log: (m: string) => void): void {
    const past = this.finished.find((f) => f.id === id);
    if (past !== undefined) {
      this.tell(past, send);
      return;
    }
    const job = this.job;
    if (job !== undefined && job.id === id) {
      job.stream = stream;
      job.acked = job.written;
      if (job.starved && !resume) {
        send({ t: 'job.accept', id, received: job.received, written: job.written, fresh: false });
        this.fail('JOB_INTERRUPTED', 'the print stalled mid-job while the server link was down; it is not resumed without resume:true', send);
        return;
      }
      job.starved = false;
      send({ t: 'job.accept', id, received: job.received, written: job.written, fresh: false });
      if (job.everTroubled) this.tellTrouble(job, send);
      return;
    }
    if (job !== undefined) {
      // The server only offers another job once it has ended ours (canceled
      // or failed while we were away), so the old bytes must not print.
      log(`job ${job.id} dropped: server moved on to ${id}`);
      this.dialect.end();
    }
    this.job = { id, stream, size, received: 0, written: 0, acked: 0, data: new ByteQueue(), held: false, troubled: false, everTroubled: false, starved: false, cut: undefined, handedOver: false, outcome: undefined };
    this.dialect.begin(now);
    send({ t: 'job.accept', id, received: 0, written: 0, fresh: true });
  }

  cancel(id: string): boolean {
    if (this.job === undefined || this.job.id !== id) return false;
    this.job.data.clear();
    this.job = undefined;
    this.dialect.end();
    return true;
  }

  /** job.pause / job.resume from the server: job data stops or goes on; polls continue. */
  hold(id: string, held: boolean): boolean {
    if (this.job === undefined || this.job.id !== id) return false;
    this.job.held = held;
    return true;
  }

  /** Returns false when the frame belongs to no job of this port (the caller may try other ports). */
  data(frame: DataFrame, send: Send): boolean {
    const job = this.job;
    if (job === undefined || job.stream !== frame.stream) return false;
    let payload = frame.payload;
    let offset = frame.offset;
    if (offset < job.received) {
      const skip = Math.min(job.received - offset, payload.length);
      payload = payload.subarray(skip);
      offset += skip;
    }
    if (payload.length === 0) return true;
    if (offset > job.received) return this.fail('OUT_OF_ORDER', `offset ${offset}, expected ${job.received}`, send), true;
    if (job.received + payload.length > job.size) return this.fail('BAD_FRAME', 'data beyond the job size', send), true;
    if (job.received + payload.length - job.written > this.window) {
      return this.fail('CREDIT_EXCEEDED', `${job.received + payload.length - job.written} > ${this.window}`, send), true;
    }
    // The frame buffer belongs to the host and may be reused; keep a copy.
    job.data.push(payload.slice());
    job.received += payload.length;
    return true;
  }

  writable(room: number): void {
    // A closed port takes nothing: whatever went to it would be dropped yet counted written.
    this.room = this.host.state === 'offline' ? 0 : Math.max(0, room);
  }

  /** The host's view of the port changed (opened, closed, busy line). Offline ends the printer session. */
  hostState(state: PrinterState, detail: string | undefined, now: number): void {
    const wasUp = this.host.state !== 'offline';
    this.host = { state, detail };
    const up = state !== 'offline';
    if (up === wasUp) return;
    this.xoff = false;
    if (!up) this.room = 0;
    this.dialect.link(up, now);
    if (!up) this.sessionEnded(detail === undefined ? 'the printer port went offline' : `the printer port went offline (${detail})`, now);
  }

  /** A spooler port's outcome for a job it was handed whole; one for another job (or too early) is ignored. */
  hostVerdict(id: string, ok: boolean, detail: string | undefined): void {
    const job = this.job;
    if (job === undefined || job.id !== id || !job.handedOver) return;
    job.outcome ??= { ok, detail };
  }

  /** Bytes from the printer: XON/XOFF (when configured and no binary status answer is due), the rest to the dialect. */
  input(bytes: Uint8Array, now: number): void {
    let rest = bytes;
    if (this.config.flow === 'xonxoff' && !this.dialect.answering && (bytes.includes(XON) || bytes.includes(XOFF))) {
      rest = bytes.filter((b) => {
        if (b === XON || b === XOFF) this.xoff = b === XOFF;
        return b !== XON && b !== XOFF;
      });
    }
    if (rest.length === 0) return;
    this.dialect.input(rest, now);
    const revivals = this.dialect.revivals ?? 0;
    if (revivals === this.revived) return;
    this.revived = revivals;
    if (this.config.transport !== 'network') {
      this.sessionEnded('the printer went silent past the status timeout and answered again (it may have been switched off and on)', now);
    }
  }

  /** A `printer.command` control: `text` to the printer now (emergency) or at the next safe point. */
  command(ref: string, text: string, emergency: boolean, now: number): void {
    this.dialect.command(ref, text, emergency, this.job !== undefined, now);
  }

  /** Writes what the port takes now; acks, reports and finishes as offsets and the dialect allow. */
  pump(out: DeviceEffect[], send: Send, now: number, linkUp: boolean): void {
    if (this.job?.cut !== undefined) this.interrupt(this.job, this.job.cut, send);
    const job = this.job;
    const status = this.status;
    const trouble = TROUBLE.includes(status.state);
    const feed = job !== undefined && !job.held && !this.xoff && !trouble ? this : undefined;
    const whole = this.config.transport === 'spooler';
    for (let i = 0; i < 64; i++) {
      const bytes = this.dialect.write(this.room, feed, now);
      if (bytes === undefined || bytes.length === 0) break;
      this.room -= bytes.length;
      out.push({ type: 'port.write', port: this.port, bytes, ...(whole && job !== undefined ? { job: this.piece(job) } : {}) });
    }
    // A job with nothing left to write (an empty one) is handed over by an empty write.
    if (whole && job !== undefined && this.job === job && !job.handedOver && job.written === job.size && this.host.state !== 'offline') {
      out.push({ type: 'port.write', port: this.port, bytes: new Uint8Array(0), job: this.piece(job) });
    }
    for (const r of this.dialect.results.splice(0)) send({ t: 'control.result', ...r });
    if (job === undefined || this.job !== job) return;
    if (job.written - job.acked >= this.ackStep || (job.written === job.size && job.acked < job.size)) {
      job.acked = job.written;
      send({ t: 'job.ack', id: job.id, written: job.written });
    }
    if (!linkUp && this.dialect.stalls === true && job.data.length === 0 && job.received < job.size) job.starved = true;
    if (trouble !== job.troubled) {
      job.troubled = trouble;
      job.everTroubled = true;
      this.tellTrouble(job, send);
    }
    const verdict = whole ? this.hostOutcome(job) : this.dialect.verdict(job.written === job.size, now);
    if (verdict === undefined) return;
    if (verdict.ok) this.end({ id: job.id }, send);
    else this.end({ id: job.id, failure: protocolError(verdict.code, verdict.message) }, send);
  }

  deadline(): number | undefined {
    return this.dialect.deadline();
  }

  snapshot(): PortSnapshot {
    const job = this.job;
    const s = this.status;
    return {
      port: this.port,
      dialect: this.config.dialect,
      state: s.state,
      detail: s.detail,
      temps: s.temps,
      job: job === undefined ? undefined : { id: job.id, size: job.size, received: job.received, written: job.written, held: job.held, troubled: job.troubled },
    };
  }

  /** Which job a spooler port's write belongs to; the one that completes it is the hand-over. */
  private piece(job: ActiveJob): { id: string; last: boolean } {
    const last = job.written === job.size;
    if (last) job.handedOver = true;
    return { id: job.id, last };
  }

  private hostOutcome(job: ActiveJob): Verdict | undefined {
    const o = job.outcome;
    if (o === undefined) return undefined;
    return o.ok ? { ok: true } : { ok: false, code: 'PRINTER_ERROR', message: o.detail ?? 'the print system failed the job' };
  }

  private tellTrouble(job: ActiveJob, send: Send): void {
    if (!job.troubled) return send({ t: 'job.state', id: job.id, state: 'printing' });
    const s = this.status;
    send({ t: 'job.state', id: job.id, state: 'paused', code: 'PRINTER_ERROR', message: s.detail === undefined ? s.state : `${s.state}: ${s.detail}` });
  }

  /**
   * The printer session ended. A job with bytes on the port loses its proof:
   * it is failed at the next pump, before any verdict. One with none starts
   * over in the dialect, so nothing of the old session counts for it.
   */
  private sessionEnded(why: string, now: number): void {
    const job = this.job;
    if (job === undefined) return;
    if (job.written > 0) {
      job.cut ??= why;
      return;
    }
    this.dialect.end();
    this.dialect.begin(now);
  }

  /** Fails a job whose printer session ended, telling the server first how many bytes reached the port. */
  private interrupt(job: ActiveJob, why: string, send: Send): void {
    if (job.acked < job.written) {
      job.acked = job.written;
      send({ t: 'job.ack', id: job.id, written: job.written });
    }
    const what = job.written < job.size ? `${job.written} of ${job.size} bytes` : `all ${job.size} bytes`;
    this.fail('JOB_INTERRUPTED', `${why} after ${what} had gone to the port, before the job was proven done`, send);
  }

  private fail(code: ErrorCode, detail: string, send: Send): void {
    const job = this.job;
    if (job === undefined) return;
    this.end({ id: job.id, failure: protocolError(code, detail) }, send);
  }

  private end(f: Finished, send: Send): void {
    this.job = undefined;
    this.dialect.end();
    this.finished.push(f);
    if (this.finished.length > FINISHED_MEMORY) this.finished.shift();
    this.tell(f, send);
  }

  private tell(f: Finished, send: Send): void {
    if (f.failure === undefined) send({ t: 'job.done', id: f.id });
    else send({ t: 'job.fail', id: f.id, code: f.failure.code, message: f.failure.message });
  }
}
