// Per-printer FIFO queues and the streaming of one job at a time per printer.
// This is where "printed exactly once or reported failed" is kept.
//
// A job's state (job-states.ts has the table of moves) is derived from facts
// kept apart, in `targetState`:
//   - on a device or not (`Active`, in memory only), and bytes written;
//   - `started`: some byte was ever sent (stored before the first one leaves);
//   - `held`: a client paused the job (stored);
//   - the printer's queue paused by a client (stored, `pausedQueues`);
//   - the device said its printer holds the job (job.state paused; memory
//     only: after a reconnect the device says it again).
// Every event changes a fact and then calls `settle`, which moves the job to
// the state the facts give, through the transition table, stores it and
// tells subscribers.
//
// Offering: a job is offered with job.start; data flows after job.accept.
// A device that goes away leaves its job resumable; when it is back the job
// is offered again and the device says how much of it it still holds:
//
//   job.accept {received, written, fresh}
//     fresh && started  → some bytes may have reached paper and the device
//                         forgot which: fail JOB_INTERRUPTED, never resend.
//     otherwise         → stream from `received`.
//
// A started job always goes first and, while paused, blocks its printer:
// anything else printed meanwhile would land in the middle of it.
//
// Pausing: a paused job gets no data. A client's hold and a paused queue are
// also sent to the device (job.pause / job.resume), which holds the bytes it
// already has; the printer's own pause is the device's to report.
//
// Durable now, or soon: a job's stored facts (submitted, `started`, a
// client's hold, a paused queue, the end) are written before anyone hears
// of them, one synchronous commit each, except that jobs about to send
// their first bytes at the same moment (the accepts that arrived together)
// share one commit of `started` before any of those bytes leave. The rest is
// news that a restart rebuilds (store/jobs.ts says why): the derived state
// of an offered job and the bytes each ack confirms. Clients hear of a state
// change at once and of progress at most every PROGRESS_ANNOUNCE_MS; the
// news is written for every job at once at most every PROGRESS_WRITE_MS,
// and when the job leaves its device (a server closing detaches every job
// first). While a job is on its device only this process reads its row.
//
// Credit: the device grants `window` bytes beyond its last job.ack. The pump
// never has more than that in flight, never sends a frame over `maxChunk`,
// and also stops while the socket's own buffer is above SEND_BUFFER_BOUND so
// that a job never piles up in memory on a slow link. It runs again on every
// ack and whenever the transport says the socket drained.

import { randomUUID } from 'node:crypto';
import type { JobState } from '../../protocol/client-messages.js';
import type { DeviceMessage } from '../../protocol/device-messages.js';
import { ERRORS, protocolError, type ProtocolError } from '../../protocol/errors.js';
import { encodeDataFrame } from '../../protocol/frames.js';
import { PrintbridgeError } from '../errors.js';
import { DEFAULT_RETENTION, type JobRetention } from '../retention.js';
import type { Limits } from '../limits.js';
import { compactStore, type Store } from '../store/db.js';
import { getDevice, isValidDeviceId } from '../store/devices.js';
import {
  countUnfinished, deviceRemovedError, findJobByKey, finishedAmong, flushJobs, hasJobData, forgetDeviceQueues, getJob, insertJob, jobData, listJobs, nextPendingJob, pausedPrinters,
  printerId, pruneFinishedJobs, queuedBefore, saveJob, saveJobLater, setPrinterPaused, unfinishedJobs, type JobRecord,
} from '../store/jobs.js';
import type { Cancel, Clock, Log } from './context.js';
import type { DeviceSession } from './device-session.js';
import type { EventBus } from './events.js';
import { GcodeProgress } from './gcode-progress.js';
import { checkTransition, isFinal } from './job-states.js';
import { KeptData } from './kept-data.js';
import { Quotas, type QuotaLimits } from './quotas.js';
import type { Registry } from './registry.js';
import { jobView } from './views.js';

export { isFinal } from './job-states.js';

/** The pump waits while more than this is queued in the socket towards the device. */
export const SEND_BUFFER_BOUND = 64 * 1024;

/** Clients hear of a job's progress at most this often: a progress bar moves four times a second. */
export const PROGRESS_ANNOUNCE_MS = 250;

/**
 * News of jobs on devices is written at most this often, one commit for
 * every job printing instead of one per ack. Rarely, too: while the job's
 * data is in its row, SQLite rewrites all of it whenever the row changes
 * size (another state's name; the count of bytes written takes another
 * byte at 128 and at 32 KiB). A job that prints in less time than this is
 * written when submitted, started and ended only.
 */
export const PROGRESS_WRITE_MS = 5000;

/** How soon jobs whose `started` could not be written are tried again. */
const START_RETRY_MS = 1000;

/** A sweep expires at most this many jobs at once; the next sweep takes the rest. */
const EXPIRE_BATCH = 1000;

type Msg<T extends DeviceMessage['t']> = Extract<DeviceMessage, { t: T }>;

/**
 * How `settle` stores what it changed. `changed`: a fact besides the state
 * changed (bytes written, started) and is written even if the state stays.
 * `soon`: what changed is news only (store/jobs.ts), written at the next flush.
 */
interface Settling {
  readonly changed?: boolean;
  readonly soon?: boolean;
}

interface Active {
  job: JobRecord;
  session: DeviceSession;
  stream: number;
  /** Held in memory only while the job is active; read from the store when offered. */
  data: Uint8Array;
  /** The device holds bytes [0, sent) or they are on their way to it. */
  sent: number;
  accepted: boolean;
  /** The device reported that its printer holds the job, and why. */
  printerPause: ProtocolError | undefined;
  /** A job for a G-code printer: the line and layer reached, read as `written` grows. */
  gcode: GcodeProgress | undefined;
}

/** What the job queues use, and nothing more; the composition root (hub.ts) builds it. */
export interface JobsDeps {
  readonly store: Store;
  readonly clock: Clock;
  readonly log: Log;
  readonly limits: QuotaLimits & Pick<Limits, 'maxJobBytes' | 'maxQueue'>;
  /** Subscribers hear of every job's change (job.updated). */
  readonly events: Pick<EventBus, 'emitHeard'>;
  /** The online session of a device, to offer its printers their next job. */
  readonly registry: Pick<Registry<DeviceSession>, 'get'>;
}

export function parsePrinterId(printer: string): { device: string; port: number } {
  const slash = printer.lastIndexOf('/');
  const device = printer.slice(0, slash);
  const port = printer.slice(slash + 1);
  if (slash < 0 || !isValidDeviceId(device) || !/^\d{1,3}$/.test(port) || Number(port) > 255) {
    throw new PrintbridgeError('BAD_FIELD', 'printer must be "<device id>/<port 0-255>"');
  }
  return { device, port: Number(port) };
}

export interface SweepResult {
  expired: number;
  pruned: number;
  /** Bytes the database file gave back to the file system. */
  compacted: number;
}

export class Jobs {
  private readonly byPrinter = new Map<string, Active>();
  private readonly byId = new Map<string, Active>();
  private readonly bySession = new Map<DeviceSession, Set<Active>>();
  private readonly pausedQueues: Set<string>;
  /** Jobs a device may hold paused because we sent job.pause (or did before a restart). */
  private readonly heldOnDevice = new Set<string>();
  private readonly quotas: Quotas;
  /** The bytes of finished jobs, within retention's finishedDataMaxBytes. */
  private readonly kept: KeptData;
  /** Jobs whose confirmed bytes moved since clients last heard of them. */
  private readonly unannounced = new Map<string, JobRecord>();
  private cancelAnnounce: Cancel | undefined;
  private cancelWrite: Cancel | undefined;
  /** Accepted jobs waiting for `started` to be on disk before their first byte. */
  private readonly starting = new Set<Active>();
  private cancelStart: Cancel | undefined;
  /** `beforeSending` ran in this turn of the event loop. */
  private storeChecked = false;
  /**
   * Jobs subscribers last heard of as unfinished. Another process may end
   * them in the file; `storeChanged` looks up these alone to tell of those ends.
   */
  private readonly unfinishedHere = new Set<string>();

  constructor(
    private readonly deps: JobsDeps,
    /** Called when a printer's queue was paused or resumed, to tell subscribers. */
    private readonly printerChanged: (printer: string) => void = () => {},
    /**
     * Called before job data is sent, so that a device another process removed
     * from the store meanwhile is removed here (its jobs released) first.
     */
    private readonly beforeSending: () => void = () => {},
    retention: Pick<JobRetention, 'finishedDataMaxBytes'> = DEFAULT_RETENTION,
  ) {
    this.pausedQueues = pausedPrinters(deps.store);
    this.quotas = new Quotas(deps.store, deps.limits);
    this.kept = new KeptData(deps.store, retention.finishedDataMaxBytes);
  }

  activeJobId(printer: string): string | undefined {
    return this.byPrinter.get(printer)?.job.id;
  }

  isQueuePaused(printer: string): boolean {
    return this.pausedQueues.has(printer);
  }

  mayHaveJobs(printer: string): boolean {
    return this.quotas.hasJobs(printer);
  }

  get(id: string): JobRecord {
    const job = this.byId.get(id)?.job ?? getJob(this.deps.store, id);
    if (job === undefined) throw new PrintbridgeError('UNKNOWN_JOB', id);
    return job;
  }

  /** The record of a job as it stands here: the one on its device (with its G-code line and layer) rather than a stored copy. */
  live(job: JobRecord): JobRecord {
    return this.byId.get(job.id)?.job ?? job;
  }

  /** The bytes of a job as submitted, or undefined once retention dropped them. */
  data(id: string): Uint8Array | undefined {
    return this.byId.get(id)?.data ?? jobData(this.deps.store, id);
  }

  /** Whether data(id) would find the bytes, without reading megabytes to know. */
  hasData(id: string): boolean {
    return this.byId.has(id) || hasJobData(this.deps.store, id);
  }

  /**
   * At start-up no job is on a device of this node. Every unfinished job
   * (but those of devices another node holds, `heldElsewhere`) settles to what
   * its stored facts give (printing → sending; a job the printer had paused
   * → sending, the device will say again). Returns how many moved.
   */
  recover(heldElsewhere: (device: string) => boolean = () => false): number {
    let moved = 0;
    for (const job of unfinishedJobs(this.deps.store)) {
      this.unfinishedHere.add(job.id);
      // Another node of the cluster is printing it: its facts are that node's to move.
      if (heldElsewhere(job.device)) continue;
      // Every byte of a printing job was written, so bytes were sent, whatever an old row says.
      if (job.state === 'printing') job.started = true;
      // A device may still hold this one paused on our word from before the restart.
      if (job.state === 'paused' && job.started) this.heldOnDevice.add(job.id);
      const before = job.state;
      this.settle(job);
      if (job.state !== before) moved += 1;
    }
    return moved;
  }

  /**
   * Queues a job, or returns the job already submitted with the same key for
   * the same printer, so a client that retries after a lost reply does not
   * print twice.
   */
  submit(
    printer: string, data: Uint8Array, key?: string, opts: { resume?: boolean | undefined; owner?: string | undefined; name?: string | undefined } = {},
  ): JobRecord {
    const { store, limits, clock } = this.deps;
    const { device, port, id, session } = this.knownPrinter(printer, { reported: true });
    if (key !== undefined) {
      const existing = findJobByKey(store, id, key);
      if (existing !== undefined) return this.byId.get(existing.id)?.job ?? existing;
    }
    if (data.length === 0) throw new PrintbridgeError('BAD_FIELD', 'data is empty');
    if (data.length > limits.maxJobBytes) throw new PrintbridgeError('JOB_TOO_LARGE', `${data.length} > ${limits.maxJobBytes} bytes`);
    if (countUnfinished(store, id) >= limits.maxQueue) throw new PrintbridgeError('QUEUE_FULL', `${limits.maxQueue} jobs are waiting for ${id}`);
    this.quotas.check(id, opts.owner, data.length);

    const job = insertJob(store, { id: randomUUID(), device, port, key, data, resume: opts.resume, owner: opts.owner, name: opts.name }, clock.now());
    this.quotas.added(job);
    this.deps.log('info', 'job queued', { job: job.id, printer: id, size: job.size });
    this.updated(job);
    if (session !== undefined) this.offerNext(session, port);
    return this.byId.get(job.id)?.job ?? job;
  }

  cancel(id: string): JobRecord {
    const job = this.get(id);
    checkTransition(id, job.state, 'canceled');
    const active = this.byId.get(id);
    if (active !== undefined) {
      this.release(active);
      active.session.send({ t: 'job.cancel', id });
    }
    this.finish(job, 'canceled', protocolError('JOB_CANCELED'));
    this.offerNextFor(job.printer);
    return job;
  }

  /** A client holds the job: it gets no more data, and the device holds it too if it has it. */
  pause(id: string): JobRecord {
    const job = this.get(id);
    checkTransition(id, job.state, 'paused');
    if (job.held) return job;
    job.held = true;
    this.settle(job);
    const active = this.byId.get(id);
    if (active !== undefined) this.syncDevice(active);
    return job;
  }

  /**
   * Releases a client's hold. A job the printer itself holds stays paused
   * (the device is nudged with job.resume); a job held only by its paused
   * queue is released with printer.resume, not here.
   */
  resume(id: string): JobRecord {
    const job = this.get(id);
    if (isFinal(job.state)) throw new PrintbridgeError('JOB_FINISHED', `${id} is ${job.state}`);
    if (job.state !== 'paused') throw new PrintbridgeError('ILLEGAL_TRANSITION', `${id} is ${job.state}, not paused`);
    const active = this.byId.get(id);
    if (!job.held) {
      if (active?.printerPause !== undefined) {
        active.session.send({ t: 'job.resume', id });
        return job;
      }
      throw new PrintbridgeError('ILLEGAL_TRANSITION', `${id} is paused with the queue of ${job.printer}; resume the printer`);
    }
    job.held = false;
    this.settle(job);
    if (active !== undefined) {
      this.syncDevice(active);
      this.pump(active);
    } else {
      this.offerNextFor(job.printer);
    }
    return job;
  }

  /** Holds a printer's queue: nothing new is offered and the job on the printer pauses. Idempotent. */
  pausePrinter(printer: string): JobRecord[] {
    const { id } = this.knownPrinter(printer);
    if (!this.pausedQueues.has(id)) {
      setPrinterPaused(this.deps.store, id, true, this.deps.clock.now());
      this.pausedQueues.add(id);
      this.deps.log('info', 'printer queue paused', { printer: id });
    }
    const jobs = this.unfinishedOf(id);
    for (const job of jobs) this.settle(job);
    const active = this.byPrinter.get(id);
    if (active !== undefined) this.syncDevice(active);
    this.printerChanged(id);
    return jobs;
  }

  /** Releases a printer's queue. Idempotent. */
  resumePrinter(printer: string): JobRecord[] {
    const { id } = this.knownPrinter(printer);
    if (this.pausedQueues.has(id)) {
      setPrinterPaused(this.deps.store, id, false, this.deps.clock.now());
      this.pausedQueues.delete(id);
      this.deps.log('info', 'printer queue resumed', { printer: id });
    }
    const jobs = this.unfinishedOf(id);
    for (const job of jobs) this.settle(job);
    const active = this.byPrinter.get(id);
    if (active !== undefined) {
      this.syncDevice(active);
      this.pump(active);
    }
    this.offerNextFor(id);
    this.printerChanged(id);
    return jobs;
  }

  /** Cancels every unfinished job of a printer, the one on the printer first. Returns them, canceled. */
  cancelPrinter(printer: string): JobRecord[] {
    const { id } = this.knownPrinter(printer);
    const active = this.byPrinter.get(id);
    const rest = this.unfinishedOf(id).filter((j) => j.id !== active?.job.id);
    const canceled: JobRecord[] = [];
    // The active job first, so that nothing else is offered in its place while the rest are ended.
    for (const job of active === undefined ? rest : [active.job, ...rest]) {
      const a = this.byId.get(job.id);
      if (a !== undefined) {
        this.release(a);
        a.session.send({ t: 'job.cancel', id: job.id });
      }
      this.finish(job, 'canceled', protocolError('JOB_CANCELED', `printer ${id} canceled`));
      canceled.push(job);
    }
    this.offerNextFor(id);
    return canceled;
  }

  /**
   * A device was removed: every unfinished job of it fails (DEVICE_REMOVED)
   * so that nothing waits for a device that will not come back, and a job on
   * the device is canceled there first. Its printers' queue pauses are
   * forgotten. Nothing is offered to the device any more: the caller closes
   * its connections next. Returns the jobs, failed.
   */
  deviceRemoved(device: string): JobRecord[] {
    const onDevice = new Map<string, JobRecord>();
    for (const active of [...this.byId.values()]) {
      if (active.job.device !== device) continue;
      this.release(active);
      active.session.send({ t: 'job.cancel', id: active.job.id });
      onDevice.set(active.job.id, active.job);
    }
    const error = deviceRemovedError(device);
    const jobs = listJobs(this.deps.store, { device, unfinishedOnly: true, limit: -1 })
      .reverse()
      .map((job) => onDevice.get(job.id) ?? job);
    for (const job of jobs) this.finish(job, 'failed', error);
    forgetDeviceQueues(this.deps.store, device);
    for (const printer of [...this.pausedQueues]) {
      if (printer.slice(0, printer.lastIndexOf('/')) === device) this.pausedQueues.delete(printer);
    }
    if (jobs.length > 0) this.deps.log('info', 'jobs of a removed device failed', { device, jobs: jobs.length });
    return jobs;
  }

  /**
   * Another process changed the store (the CLI failed jobs there): count the
   * quotas and the kept bytes again, and tell subscribers of every job they
   * know as unfinished that the file now has ended. Ending it here found
   * nothing left to end, so without this they would never hear of it.
   */
  storeChanged(): void {
    this.quotas.recount();
    this.kept.recount();
    if (this.unfinishedHere.size === 0) return;
    const printers = new Set<string>();
    for (const job of finishedAmong(this.deps.store, this.unfinishedHere)) {
      const active = this.byId.get(job.id);
      if (active !== undefined) {
        // Its end is on disk: no byte more goes, and the device drops what it holds.
        this.release(active);
        active.session.send({ t: 'job.cancel', id: job.id });
        printers.add(job.printer);
      }
      this.heldOnDevice.delete(job.id);
      this.deps.log('info', 'job ended by another process', { job: job.id, printer: job.printer, state: job.state, code: job.error?.code });
      this.updated(job);
    }
    for (const printer of printers) this.offerNextFor(printer);
  }

  /**
   * Rows changed elsewhere (another node stored a job): offer the head of
   * every queue with a job to its device, if online here. Only printers
   * with unfinished jobs are visited, not every device connected.
   */
  offerQueued(): void {
    for (const printer of [...this.quotas.printersWithJobs()]) this.offerNextFor(printer);
  }

  /** A device said hello: offer the head of every one of its queues. */
  offerAll(session: DeviceSession): void {
    for (const info of session.info?.ports ?? []) this.offerNext(session, info.port);
  }

  /** A device session ended or was replaced: its jobs stay resumable and wait for the device. */
  detach(session: DeviceSession): void {
    const detached = [...(this.bySession.get(session) ?? [])];
    for (const active of detached) {
      this.release(active);
      this.settle(active.job);
      this.deps.log('info', 'job detached', { job: active.job.id, printer: active.job.printer, written: active.job.written });
    }
    // A job off its device has its progress on disk: after a cut link the
    // stored count is the device's last ack (the floor its next job.accept is
    // held to), and a server closing detaches every job before its store
    // closes, so a clean restart keeps it too. One commit for the session's jobs.
    if (detached.length > 0) {
      flushJobs(this.deps.store, detached.map((a) => a.job.id));
      for (const active of detached) this.announce(active.job);
    }
  }

  accept(session: DeviceSession, m: Msg<'job.accept'>): void {
    const active = this.own(session, m.id);
    if (active === undefined) return;
    const { job } = active;
    if (active.accepted) return session.reject(protocolError('BAD_FIELD', `job ${m.id} was already accepted`));
    if (m.received > job.size || m.written > m.received) {
      return session.reject(protocolError('BAD_FIELD', `job.accept needs written <= received <= size (${job.size})`));
    }
    // Nothing of a job that never started left the server (started is stored
    // before the first byte goes): a device that claims bytes of it is wrong,
    // and believing it would count a job as printed that never was sent.
    if (!job.started && m.received > 0) {
      return session.reject(protocolError('BAD_FIELD', `job ${m.id} was never sent: received and written must be 0`));
    }
    if (m.fresh && job.started) {
      this.release(active);
      session.send({ t: 'job.cancel', id: job.id });
      this.finish(job, 'failed', protocolError('JOB_INTERRUPTED'));
      this.offerNext(session, job.port);
      return;
    }
    active.accepted = true;
    const written = Math.max(job.written, m.written);
    // Never resend a byte the device says reached the printer.
    active.sent = Math.max(m.received, written);
    const moved = written !== job.written;
    job.written = written;
    this.progressed(active);
    this.settle(job, { changed: moved, soon: true });
    this.pump(active);
  }

  ack(session: DeviceSession, m: Msg<'job.ack'>): void {
    const active = this.own(session, m.id);
    // Before job.accept an ack is stale news from an earlier connection; the accept will carry it.
    if (active === undefined || !active.accepted) return;
    if (m.written < active.job.written || m.written > active.sent) {
      return session.reject(protocolError('BAD_FIELD', `written must stay within ${active.job.written}..${active.sent}`));
    }
    if (m.written !== active.job.written) {
      active.job.written = m.written;
      this.progressed(active);
      this.settle(active.job, { changed: true, soon: true });
    }
    this.pump(active);
  }

  /** The device says its printer holds the job (paper out, cover open) or goes on with it. */
  printerState(session: DeviceSession, m: Msg<'job.state'>): void {
    const active = this.own(session, m.id);
    if (active === undefined) return;
    if (m.state === 'paused') {
      const code = m.code ?? 'PRINTER_ERROR';
      active.printerPause = { code, message: m.message ?? ERRORS[code].text };
    } else {
      active.printerPause = undefined;
    }
    this.settle(active.job);
    this.pump(active);
  }

  done(session: DeviceSession, m: Msg<'job.done'>): void {
    this.end(session, m.id, 'done', undefined);
  }

  fail(session: DeviceSession, m: Msg<'job.fail'>): void {
    this.end(session, m.id, 'failed', { code: m.code, message: m.message });
  }

  /** Sends what the credit window and the socket buffer allow, for every active job of the session. */
  pumpSession(session: DeviceSession): void {
    for (const active of this.bySession.get(session) ?? []) this.pump(active);
  }

  /**
   * Retention and expiry: queued jobs older than the time-to-live fail with
   * JOB_EXPIRED, finished jobs past their age or beyond the count are deleted
   * (their bytes with them), and the bytes of the oldest finished jobs go
   * beyond finishedDataMaxBytes. Then the file gives back what that and the
   * bytes dropped since the last sweep freed.
   */
  sweep(retention: JobRetention): SweepResult {
    const now = this.deps.clock.now();
    let expired = 0;
    if (retention.queuedTtlMs > 0) {
      for (const job of queuedBefore(this.deps.store, now - retention.queuedTtlMs, EXPIRE_BATCH)) {
        if (this.byId.has(job.id)) continue;
        this.finish(job, 'failed', protocolError('JOB_EXPIRED', `queued for more than ${retention.queuedTtlMs} ms`));
        expired += 1;
      }
    }
    const pruned = pruneFinishedJobs(
      this.deps.store,
      retention.finishedMaxAgeMs > 0 ? now - retention.finishedMaxAgeMs : undefined,
      retention.finishedMaxCount > 0 ? retention.finishedMaxCount : undefined,
    );
    if (pruned > 0) this.kept.recount();
    this.kept.setBudget(retention.finishedDataMaxBytes);
    const compacted = compactStore(this.deps.store);
    if (expired > 0 || pruned > 0 || compacted > 0) this.deps.log('info', 'job sweep', { expired, pruned, compacted });
    return { expired, pruned, compacted };
  }

  private pump(active: Active): void {
    const { job, session } = active;
    const info = session.info;
    // The transport asks again after every frame it hands to the OS; most
    // of those find the window full, and then there is nothing to check.
    if (info === undefined || !this.maySend(active)) return;
    this.checkStore();
    if (this.byId.get(job.id) !== active) return;
    if (!job.started) {
      this.starting.add(active);
      this.cancelStart ??= this.deps.clock.after(0, () => this.startAll());
      return;
    }
    const frames = (): void => {
      while (this.canSend(active, info.window)) {
        const credit = info.window - (active.sent - job.written);
        const n = Math.min(info.maxChunk, job.size - active.sent, credit);
        session.peer.sendBinary(encodeDataFrame(active.stream, active.sent, active.data.subarray(active.sent, active.sent + n)));
        active.sent += n;
        // Sending can fail the session (slow consumer); then the job was detached.
        if (this.byId.get(job.id) !== active) return;
      }
    };
    // An ack opens room for several frames: one write to the OS for all of them.
    if (session.peer.batch !== undefined) session.peer.batch(frames);
    else frames();
  }

  /**
   * `started` on disk before the first byte of a job leaves: after a crash we
   * still know that bytes of it may have been printed. Every job that came
   * this far since the last time shares the commit; then each is pumped.
   */
  private startAll(): void {
    this.cancelStart = undefined;
    const waiting = [...this.starting].filter((a) => this.byId.get(a.job.id) === a);
    this.starting.clear();
    // A server closing detached every job before its store closed.
    if (waiting.length === 0 || !this.deps.store.db.isOpen) return;
    this.checkStore();
    // Only jobs that would send now: one paused, detached or removed meanwhile has not started.
    const ready = waiting.filter((a) => this.byId.get(a.job.id) === a && !a.job.started && this.maySend(a));
    if (ready.length === 0) return;
    const now = this.deps.clock.now();
    try {
      // Written from copies: a commit that fails leaves the jobs as they were, not started.
      this.deps.store.db.transaction(() => {
        for (const { job } of ready) saveJob(this.deps.store, { ...job, started: true, startedAt: now, updated: now });
      })();
    } catch (e) {
      // No byte has left: the jobs wait and are tried again (a CLI holding the file past the busy timeout).
      this.deps.log('error', 'jobs could not be marked started; trying again', { jobs: ready.length, error: e instanceof Error ? e.message : String(e) });
      for (const active of ready) this.starting.add(active);
      this.cancelStart ??= this.deps.clock.after(START_RETRY_MS, () => this.startAll());
      return;
    }
    for (const { job } of ready) {
      job.started = true;
      job.startedAt = now;
      job.updated = now;
    }
    // Starting moves no state (an offered job is sending already): clients hear the start time.
    for (const { job } of ready) this.updated(job);
    for (const active of ready) this.pump(active);
  }

  /**
   * `beforeSending`, once per turn of the event loop: one read of the socket
   * can carry acks of many jobs, each of which pumps, and a device another
   * process removes while that turn runs is as if removed just after it.
   */
  private checkStore(): void {
    if (this.storeChecked) return;
    this.storeChecked = true;
    queueMicrotask(() => {
      this.storeChecked = false;
    });
    this.beforeSending();
  }

  /** Accepted, not paused, its device online, and a byte would go now. */
  private maySend(active: Active): boolean {
    const info = active.session.info;
    return active.accepted && active.job.state !== 'paused' && info !== undefined && active.session.phase === 'online' && this.canSend(active, info.window);
  }

  /** Bytes are left, the credit window has room and the socket's buffer is below its bound. */
  private canSend(active: Active, window: number): boolean {
    return active.sent < active.job.size && active.sent - active.job.written < window && active.session.peer.bufferedAmount() < SEND_BUFFER_BOUND;
  }

  private end(session: DeviceSession, id: string, state: 'done' | 'failed', error: ProtocolError | undefined): void {
    const active = this.byId.get(id);
    if (active !== undefined && active.session === session) {
      this.release(active);
      if (state === 'done' && active.gcode !== undefined) {
        active.job.written = active.job.size;
        this.progressed(active);
      }
      this.finish(active.job, state, error);
      this.offerNext(session, active.job.port);
      return;
    }
    // A device may finish a job it held across a reconnect before the job is
    // offered again; that is still its job to finish.
    const job = getJob(this.deps.store, id);
    if (job === undefined) return session.reject(protocolError('UNKNOWN_JOB', id));
    if (job.device !== session.id || isFinal(job.state) || active !== undefined) return;
    if (state === 'done' && !job.started) {
      // No byte of it ever left here: the device cannot have printed it.
      return session.reject(protocolError('BAD_FIELD', `job ${id} was never sent; it cannot be done`));
    }
    this.finish(job, state, error);
    this.offerNext(session, job.port);
  }

  private offerNextFor(printer: string): void {
    const { device, port } = parsePrinterId(printer);
    const session = this.deps.registry.get(device);
    if (session !== undefined) this.offerNext(session, port);
  }

  private offerNext(session: DeviceSession, port: number): void {
    if (session.phase !== 'online' || !session.servesPort(port)) return;
    const printer = printerId(session.id, port);
    if (this.byPrinter.has(printer) || this.pausedQueues.has(printer)) return;
    // Most printers of a reconnecting fleet have nothing queued: no query for them.
    if (!this.quotas.hasJobs(printer)) return;
    for (;;) {
      const job = nextPendingJob(this.deps.store, printer);
      if (job === undefined) return;
      const data = jobData(this.deps.store, job.id);
      if (data === undefined || data.length !== job.size) {
        this.finish(job, 'failed', protocolError('INTERNAL', 'job data is missing from the store'), false);
        continue;
      }
      const gcode = session.info?.ports.find((p) => p.port === port)?.dialect === 'gcode' ? new GcodeProgress() : undefined;
      const active: Active = { job, session, stream: session.nextStream(), data, sent: 0, accepted: false, printerPause: undefined, gcode };
      this.byPrinter.set(printer, active);
      this.byId.set(job.id, active);
      let set = this.bySession.get(session);
      if (set === undefined) this.bySession.set(session, (set = new Set()));
      set.add(active);
      // Being offered is news: a restart finds the job queued (or sending, if started) either way.
      this.settle(job, { soon: true });
      this.deps.log('debug', 'job offered', { job: job.id, printer, stream: active.stream });
      session.send({ t: 'job.start', id: job.id, stream: active.stream, port, size: job.size, resume: job.resume ? true : undefined });
      this.syncDevice(active);
      return;
    }
  }

  /** Tells the device to hold or release the job so that it matches the client's hold and the queue's pause. */
  private syncDevice(active: Active): void {
    const { id, printer } = active.job;
    const hold = active.job.held || this.pausedQueues.has(printer);
    if (hold && !this.heldOnDevice.has(id)) {
      this.heldOnDevice.add(id);
      active.session.send({ t: 'job.pause', id });
    } else if (!hold && this.heldOnDevice.has(id)) {
      this.heldOnDevice.delete(id);
      active.session.send({ t: 'job.resume', id });
    }
  }

  /** Forget the in-memory stream of a job; its stored state is left to the caller. */
  private release(active: Active): void {
    this.byPrinter.delete(active.job.printer);
    this.byId.delete(active.job.id);
    const set = this.bySession.get(active.session);
    set?.delete(active);
    if (set?.size === 0) this.bySession.delete(active.session);
  }

  private own(session: DeviceSession, id: string): Active | undefined {
    const active = this.byId.get(id);
    if (active !== undefined && active.session === session) return active;
    // Messages about a job that ended or moved on are late, not wrong.
    if (active === undefined && getJob(this.deps.store, id) === undefined) session.reject(protocolError('UNKNOWN_JOB', id));
    return undefined;
  }

  /**
   * The printer's device, port and live session; UNKNOWN_PRINTER when no
   * such device or port. A device is known while it is registered in the
   * store, whatever connection it still has. Its ports are the ones it
   * reported in its last hello, online or not, so that jobs queue for an
   * offline printer. A device that never said hello has no ports yet:
   * `reported` (new jobs) refuses every port of it, since its bytes would
   * wait in the store for a printer that may not exist; managing a queue
   * (pause, cancel) is allowed on any port of it.
   */
  knownPrinter(printer: string, opts: { reported?: boolean } = {}): { device: string; port: number; id: string; session: DeviceSession | undefined } {
    const { device, port } = parsePrinterId(printer);
    const record = getDevice(this.deps.store, device);
    if (record === undefined) throw new PrintbridgeError('UNKNOWN_PRINTER', `${printer}: no such device`);
    const session = this.deps.registry.get(device);
    const ports = session?.info?.ports ?? record.ports;
    if (ports.length === 0 && opts.reported === true) throw new PrintbridgeError('UNKNOWN_PRINTER', `${printer}: the device has not reported its ports yet`);
    if (ports.length > 0 && !ports.some((p) => p.port === port)) throw new PrintbridgeError('UNKNOWN_PRINTER', `${printer}: the device has no port ${port}`);
    return { device, port, id: printerId(device, port), session };
  }

  private unfinishedOf(printer: string): JobRecord[] {
    return listJobs(this.deps.store, { printer, unfinishedOnly: true, limit: -1 })
      .reverse()
      .map((job) => this.byId.get(job.id)?.job ?? job);
  }

  /** The state the facts give; see the top of this file. */
  private targetState(job: JobRecord, active: Active | undefined): JobState {
    const queuePaused = this.pausedQueues.has(job.printer);
    if (active !== undefined) {
      if (job.held || queuePaused || active.printerPause !== undefined) return 'paused';
      return job.written >= job.size ? 'printing' : 'sending';
    }
    if (job.held || (queuePaused && job.started)) return 'paused';
    return job.started ? 'sending' : 'queued';
  }

  /**
   * Moves an unfinished job to the state its facts give, stores it (now, or
   * soon: see Settling) and tells subscribers; of a change of the bytes
   * written alone they hear within PROGRESS_ANNOUNCE_MS.
   */
  private settle(job: JobRecord, how: Settling = {}): void {
    const active = this.byId.get(job.id);
    const state = this.targetState(job, active);
    // While unfinished, a job's error is only ever the printer's reason for holding it.
    const error = state === 'paused' ? active?.printerPause : undefined;
    const moved = state !== job.state || !sameError(error, job.error);
    if (!moved && how.changed !== true) return;
    checkTransition(job.id, job.state, state);
    job.state = state;
    job.error = error;
    job.updated = this.deps.clock.now();
    if (how.soon !== true) {
      saveJob(this.deps.store, job);
    } else {
      saveJobLater(this.deps.store, job);
      this.cancelWrite ??= this.deps.clock.after(PROGRESS_WRITE_MS, () => this.writeNews());
      if (!moved) {
        this.unannounced.set(job.id, job);
        this.cancelAnnounce ??= this.deps.clock.after(PROGRESS_ANNOUNCE_MS, () => this.announceAll());
        return;
      }
    }
    this.updated(job);
  }

  /** A G-code job's line and layer, from the bytes confirmed so far. */
  private progressed(active: Active): void {
    const { gcode, job } = active;
    if (gcode === undefined) return;
    gcode.advance(active.data, job.written);
    job.line = gcode.line;
    job.layer = gcode.layer;
  }

  /** Writes the news of every job in one commit. */
  private writeNews(): void {
    this.cancelWrite = undefined;
    flushJobs(this.deps.store);
  }

  /** Tells clients the progress they have not heard. */
  private announceAll(): void {
    this.cancelAnnounce = undefined;
    for (const job of [...this.unannounced.values()]) this.announce(job);
  }

  /** Tells clients of a job whose progress they have not heard yet, if it is still unfinished. */
  private announce(job: JobRecord): void {
    if (!this.unannounced.delete(job.id) || isFinal(job.state)) return;
    this.updated(job);
  }

  /** Ends a job; `kept`: its bytes are in the store, and now count against finishedDataMaxBytes. */
  private finish(job: JobRecord, state: 'done' | 'failed' | 'canceled', error: ProtocolError | undefined, kept = true): void {
    checkTransition(job.id, job.state, state);
    const now = this.deps.clock.now();
    job.state = state;
    job.error = error;
    if (state === 'done') job.written = job.size;
    job.finishedAt = now;
    job.updated = now;
    this.heldOnDevice.delete(job.id);
    const { store } = this.deps;
    try {
      // One commit for the end and the bytes it pushes over the budget.
      store.db.transaction(() => {
        saveJob(store, job);
        if (kept) this.kept.finished(job.id, job.size, now);
      })();
    } catch (e) {
      this.kept.recount();
      throw e;
    }
    this.quotas.freed(job);
    this.deps.log(state === 'done' ? 'info' : 'warn', `job ${state}`, { job: job.id, printer: job.printer, code: error?.code });
    this.updated(job);
  }

  private updated(job: JobRecord): void {
    this.unannounced.delete(job.id);
    if (isFinal(job.state)) this.unfinishedHere.delete(job.id);
    else this.unfinishedHere.add(job.id);
    this.deps.events.emitHeard('job.updated', () => ({ event: 'job.updated', job: jobView(job) }));
  }
}

function sameError(a: ProtocolError | undefined, b: ProtocolError | undefined): boolean {
  return a?.code === b?.code && a?.message === b?.message;
}
