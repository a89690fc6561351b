// A CUPS queue as a printer port (`cups:QUEUE`, on the CUPS server that
// CUPS_SERVER names, as for lp; localhost:631 when unset). CUPS takes a
// document whole, so the port is a `spooler` port: the core names the job of
// every write and marks the last one (device/core/spooler.ts). The port
// keeps the job's bytes, hands them to CUPS as one raw IPP job
// (cups-queue.ts) on the last write, follows that job, and reports CUPS's
// outcome as the job's verdict: completed → done; aborted or canceled →
// failed, with CUPS's reasons.
//
// States: offline (CUPS unreachable, or no such queue) → online (the queue
// answered Get-Printer-Attributes), checked again every few seconds, with
// what holds the queue up mapped onto the status model (cups-status.ts). Bytes that arrive for
// a new job while an older job's bytes were never handed over belong to a
// job the server dropped (canceled): they are discarded. A job already
// handed over and then dropped is canceled in CUPS.

import { describeServer, IppStatusError, JOB_STATE, STATUS_NOT_FOUND, type IppServer } from '../ipp.js';
import { backoffCeiling } from '../../../core/backoff.js';
import { cancelJob, getQueue, jobState, printRaw } from './cups-queue.js';
import { queueStatus, type QueueStatus } from './cups-status.js';
import { PortReports } from './port-reports.js';
import { DEFAULT_HIGH_WATER_MARK, type JobPiece, type PortLinkState, type PortOptions, type PrinterPort } from './printer-port.js';

/** The most bytes one job may have: CUPS takes it whole, so the port holds it whole. */
export const MAX_CUPS_JOB_BYTES = 64 * 1024 * 1024;
const QUEUE_CHECK_MS = 3_000;
const JOB_POLL_MS = 250;

interface HeldJob {
  readonly id: string;
  readonly chunks: Uint8Array[];
  size: number;
  /** Set once CUPS took it. */
  cupsId: number | undefined;
  done: boolean;
}

export class CupsPort implements PrinterPort {
  readonly label: string;
  private online = false;
  private checking = false;
  private closed = false;
  private attempt = 0;
  private timer: NodeJS.Timeout | undefined;
  private job: HeldJob | undefined;
  /** The queue as the last check found it. */
  private queueState: QueueStatus = { state: 'online', detail: undefined };
  /** The followed job CUPS holds, and why, while it does: the printer is in error for that time. */
  private held: { readonly job: HeldJob; readonly why: string } | undefined;
  private readonly reports = new PortReports(this);
  private readonly hwm: number;
  private readonly base: number;
  private readonly cap: number;
  private verdictListener: (job: string, ok: boolean, detail?: string) => void = () => {};

  constructor(readonly queue: string, private readonly server: IppServer, opts: PortOptions = {}) {
    this.label = `cups:${queue} at ${describeServer(server)}`;
    this.hwm = opts.highWaterMark ?? DEFAULT_HIGH_WATER_MARK;
    this.base = opts.backoffBase ?? 250;
    this.cap = opts.backoffCap ?? 10_000;
  }

  get isOpen(): boolean {
    return this.online;
  }

  onWritable(listener: (room: number) => void): void {
    this.reports.writable = listener;
  }

  /** CUPS passes nothing back from the printer: no status answers. */
  onData(): void {}

  onState(listener: (state: PortLinkState, detail?: string) => void): void {
    this.reports.state = listener;
  }

  onVerdict(listener: (job: string, ok: boolean, detail?: string) => void): void {
    this.verdictListener = listener;
  }

  open(): void {
    if (this.closed) throw new Error(`${this.label}: open() after close()`);
    if (this.timer === undefined && !this.checking) void this.check();
  }

  room(): number {
    return this.online ? this.hwm : 0;
  }

  write(bytes: Uint8Array, piece?: JobPiece): boolean {
    if (!this.online) return false;
    if (piece === undefined) {
      // A printer.command's data between jobs: its own CUPS job, with no one waiting for the outcome.
      if (bytes.length > 0) this.submitLoose(bytes.slice());
      return true;
    }
    let job = this.job;
    if (job?.id !== piece.id) {
      if (job !== undefined && !job.done) this.drop(job);
      job = { id: piece.id, chunks: [], size: 0, cupsId: undefined, done: false };
      this.job = job;
    }
    if (job.cupsId === undefined && !job.done) {
      job.size += bytes.length;
      // Past the bound the bytes are not kept: the job fails at its hand-over.
      if (job.size <= MAX_CUPS_JOB_BYTES) job.chunks.push(bytes.slice());
      if (piece.last) void this.submit(job);
    }
    this.reports.room();
    return true;
  }

  async close(): Promise<void> {
    this.closed = true;
    this.online = false;
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
  }

  /** Asks CUPS how the queue is; online while it answers, offline (retrying with backoff) while not. */
  private async check(): Promise<void> {
    this.timer = undefined;
    this.checking = true;
    let next: number;
    try {
      const q = await getQueue(this.server, this.queue).finally(() => (this.checking = false));
      if (this.closed) return;
      this.attempt = 0;
      const was = this.online;
      this.online = true;
      this.queueState = queueStatus(q);
      this.showState();
      if (!was) this.reports.room();
      next = QUEUE_CHECK_MS;
    } catch (e) {
      if (this.closed) return;
      this.online = false;
      // The session ends, and with it a job not yet handed over: the core fails it, and its bytes here must not meet the next job's.
      // (A job of which no byte had come starts over on the next session, under the same id.)
      if (this.job !== undefined && this.job.cupsId === undefined) {
        this.drop(this.job);
        this.job = undefined;
      }
      this.reports.setState('offline', (e as Error).message);
      this.reports.writable(0);
      next = backoffCeiling(this.attempt++, this.base, this.cap);
    }
    this.timer = setTimeout(() => void this.check(), next);
  }

  private async submit(job: HeldJob): Promise<void> {
    if (job.size > MAX_CUPS_JOB_BYTES) return this.finish(job, false, `the job has ${job.size} bytes; a CUPS port takes at most ${MAX_CUPS_JOB_BYTES}`);
    const data = Buffer.concat(job.chunks, job.size);
    job.chunks.length = 0;
    try {
      job.cupsId = await printRaw(this.server, this.queue, data, `printbridge ${job.id}`);
    } catch (e) {
      return this.finish(job, false, (e as Error).message);
    }
    // Dropped while CUPS was taking it (the session ended, the core moved on): it must not print unasked.
    if (job.done) return this.drop(job);
    await this.follow(job);
  }

  /** Polls the CUPS job to its end. While CUPS is unreachable it keeps asking: the port's own check reports it offline. */
  private async follow(job: HeldJob): Promise<void> {
    const cupsId = job.cupsId!;
    while (!this.closed && !job.done) {
      try {
        const s = await jobState(this.server, this.queue, cupsId);
        if (s.state === JOB_STATE.completed) return this.finish(job, true);
        this.holds(job, s.state === JOB_STATE.held || s.state === JOB_STATE.stopped ? `CUPS holds job ${cupsId} on ${this.queue}${describeReasons(s.reasons)}` : undefined);
        if (s.state === JOB_STATE.aborted || s.state === JOB_STATE.canceled) {
          const how = s.state === JOB_STATE.aborted ? 'aborted' : 'canceled';
          return this.finish(job, false, `CUPS job ${cupsId} on ${this.queue} ${how}${describeReasons(s.reasons)}${s.message === undefined ? '' : `: ${s.message}`}`);
        }
      } catch (e) {
        // CUPS forgot the job (its history purged) before the bridge saw it end: the outcome is unknown.
        if (e instanceof IppStatusError && e.status === STATUS_NOT_FOUND) return this.finish(job, false, `CUPS no longer knows job ${cupsId} on ${this.queue}: whether it printed is unknown`);
        // Otherwise asked again next turn; the CUPS job is CUPS's to keep meanwhile.
      }
      await new Promise((r) => setTimeout(r, JOB_POLL_MS));
    }
  }

  private finish(job: HeldJob, ok: boolean, detail?: string): void {
    if (job.done || this.closed) return;
    job.done = true;
    if (this.job === job) this.job = undefined;
    this.holds(job, undefined);
    this.verdictListener(job.id, ok, detail);
  }

  /** A held CUPS job (held for authentication, job-hold-until, stopped) never ends by itself: it is told as the printer in error until it moves on. */
  private holds(job: HeldJob, why: string | undefined): void {
    const now = job.done ? undefined : why;
    // A dropped job's last answer must not clear the hold of the job after it.
    if (now === undefined && this.held?.job !== job) return;
    this.held = now === undefined ? undefined : { job, why: now };
    if (this.online) this.showState();
  }

  /** The queue's own trouble names the cause better than the job it holds up; a held job is trouble on an otherwise working queue. */
  private showState(): void {
    const q = this.queueState.state;
    if (this.held !== undefined && (q === 'online' || q === 'busy' || q === 'paper-low')) this.reports.setState('error', this.held.why);
    else this.reports.setState(this.queueState.state, this.queueState.detail);
  }

  /** A job the core moved on from: its bytes go, and a CUPS job made of them is canceled. */
  private drop(job: HeldJob): void {
    job.done = true;
    job.chunks.length = 0;
    this.holds(job, undefined);
    if (job.cupsId !== undefined) cancelJob(this.server, this.queue, job.cupsId).catch(() => {});
  }

  private submitLoose(bytes: Uint8Array): void {
    printRaw(this.server, this.queue, bytes, 'printbridge command').catch(() => {});
  }
}

function describeReasons(reasons: readonly string[]): string {
  const named = reasons.filter((r) => r !== 'none');
  return named.length > 0 ? ` (${named.join(', ')})` : '';
}
