// Per-printer FIFO queues and the streaming of one job at a time per printer.
// This is where "printed exactly once or reported failed" is kept.
//
// A job moves: queued → sending (offered with job.start; data flows after
// job.accept) → printing (every byte confirmed written, waiting for
// job.done) → done | failed | canceled. A device that goes away leaves its
// job in 'sending'; when the device is back the job is offered again and the
// device says how much of it it still holds:
//
//   job.accept {received, written, fresh}
//     fresh && started  → some bytes may have reached paper and the device
//                         forgot which: fail JOB_INTERRUPTED, never resend.
//     otherwise         → stream from `received`.
//
// Credit: the device grants `window` bytes beyond its last job.ack. The pump
// never has more than that in flight, never sends a frame over `maxChunk`,
// and also stops while the socket's own buffer is above SEND_BUFFER_BOUND so
// that a job never piles up in memory on a slow link. It runs again on every
// ack and whenever the transport says the socket drained.
//
// `started` is committed before the first data frame leaves, so after a
// crash we still know whether any byte could have been printed.

import { randomUUID } from 'node:crypto';
import { FINAL_JOB_STATES, type JobState } from '../../protocol/client-messages.js';
import type { DeviceMessage } from '../../protocol/device-messages.js';
import { protocolError, type ProtocolError } from '../../protocol/errors.js';
import { encodeDataFrame } from '../../protocol/frames.js';
import { PrintbridgeError } from '../errors.js';
import { getDevice, isValidDeviceId } from '../store/devices.js';
import {
  countUnfinished, findJobByKey, finishJob, getJob, insertJob, jobData, markJobStarted, nextPendingJob, printerId,
  setJobProgress, setJobState, type JobRecord,
} from '../store/jobs.js';
import type { CoreContext } from './context.js';
import type { DeviceSession } from './device-session.js';
import { jobView } from './views.js';

/** The pump waits while more than this is queued in the socket towards the device. */
export const SEND_BUFFER_BOUND = 64 * 1024;

type Msg<T extends DeviceMessage['t']> = Extract<DeviceMessage, { t: T }>;

interface Active {
  job: JobRecord;
  session: DeviceSession;
  stream: number;
  /** Held in memory only while the job is active; read from the store when offered. */
  data: Uint8Array;
  /** The device holds bytes [0, sent) or they are on their way to it. */
  sent: number;
  accepted: boolean;
}

export function isFinal(state: JobState): boolean {
  return FINAL_JOB_STATES.includes(state);
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

export class Jobs {
  private readonly byPrinter = new Map<string, Active>();
  private readonly byId = new Map<string, Active>();
  private readonly bySession = new Map<DeviceSession, Set<Active>>();

  constructor(private readonly ctx: CoreContext) {}

  activeJobId(printer: string): string | undefined {
    return this.byPrinter.get(printer)?.job.id;
  }

  get(id: string): JobRecord {
    const job = this.byId.get(id)?.job ?? getJob(this.ctx.store, id);
    if (job === undefined) throw new PrintbridgeError('UNKNOWN_JOB', id);
    return job;
  }

  /**
   * Queues a job, or returns the job already submitted with the same key for
   * the same printer, so a client that retries after a lost reply does not
   * print twice.
   */
  submit(printer: string, data: Uint8Array, key?: string): JobRecord {
    const { store, limits, clock } = this.ctx;
    const { device, port } = parsePrinterId(printer);
    const record = getDevice(store, device);
    const session = this.ctx.registry.get(device);
    if (record === undefined && session === undefined) throw new PrintbridgeError('UNKNOWN_PRINTER', `${printer}: no such device`);
    // A device that never said hello has not told us its ports yet; accept any then.
    const ports = session?.info?.ports ?? record?.ports ?? [];
    if (ports.length > 0 && !ports.some((p) => p.port === port)) throw new PrintbridgeError('UNKNOWN_PRINTER', `${printer}: the device has no port ${port}`);

    const id = printerId(device, port);
    if (key !== undefined) {
      const existing = findJobByKey(store, id, key);
      if (existing !== undefined) return this.byId.get(existing.id)?.job ?? existing;
    }
    if (data.length === 0) throw new PrintbridgeError('BAD_FIELD', 'data is empty');
    if (data.length > limits.maxJobBytes) throw new PrintbridgeError('JOB_TOO_LARGE', `${data.length} > ${limits.maxJobBytes} bytes`);
    if (countUnfinished(store, id) >= limits.maxQueue) throw new PrintbridgeError('QUEUE_FULL', `${limits.maxQueue} jobs are waiting for ${id}`);

    const job = insertJob(store, { id: randomUUID(), device, port, key, data }, clock.now());
    this.ctx.log('info', 'job queued', { job: job.id, printer: id, size: job.size });
    this.updated(job);
    if (session !== undefined && session.servesPort(port)) this.offerNext(session, port);
    return this.byId.get(job.id)?.job ?? job;
  }

  cancel(id: string): JobRecord {
    const job = this.get(id);
    if (isFinal(job.state)) throw new PrintbridgeError('JOB_FINISHED', `${id} is ${job.state}`);
    const active = this.byId.get(id);
    if (active !== undefined) {
      this.release(active);
      active.session.send({ t: 'job.cancel', id });
    }
    this.finish(job, 'canceled', protocolError('JOB_CANCELED'));
    if (active !== undefined) this.offerNext(active.session, job.port);
    return job;
  }

  /** A device said hello: offer the head of every one of its queues. */
  offerAll(session: DeviceSession): void {
    for (const info of session.info?.ports ?? []) this.offerNext(session, info.port);
  }

  /** A device session ended or was replaced: its jobs stay resumable and wait for the device. */
  detach(session: DeviceSession): void {
    for (const active of [...(this.bySession.get(session) ?? [])]) {
      this.release(active);
      if (active.job.state === 'printing') this.setState(active.job, 'sending');
      this.ctx.log('info', 'job detached', { job: active.job.id, printer: active.job.printer, written: active.job.written });
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
    this.progress(job, written);
    this.pump(active);
  }

  ack(session: DeviceSession, m: Msg<'job.ack'>): void {
    const active = this.own(session, m.id);
    // Before job.accept an ack is stale news from an earlier connection; the accept will carry it.
    if (active === undefined || !active.accepted) return;
    if (m.written < active.job.written || m.written > active.sent) {
      return session.reject(protocolError('BAD_FIELD', `written must stay within ${active.job.written}..${active.sent}`));
    }
    this.progress(active.job, m.written);
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

  private pump(active: Active): void {
    const { job, session } = active;
    const info = session.info;
    if (!active.accepted || info === undefined || session.phase !== 'online') return;
    while (active.sent < job.size) {
      const credit = info.window - (active.sent - job.written);
      if (credit <= 0 || session.peer.bufferedAmount() >= SEND_BUFFER_BOUND) return;
      if (!job.started) {
        markJobStarted(this.ctx.store, job.id, this.ctx.clock.now());
        job.started = true;
      }
      const n = Math.min(info.maxChunk, job.size - active.sent, credit);
      session.peer.sendBinary(encodeDataFrame(active.stream, active.sent, active.data.subarray(active.sent, active.sent + n)));
      active.sent += n;
      // Sending can fail the session (slow consumer); then the job was detached.
      if (this.byId.get(job.id) !== active) return;
    }
  }

  private end(session: DeviceSession, id: string, state: 'done' | 'failed', error: ProtocolError | undefined): void {
    const active = this.byId.get(id);
    if (active !== undefined && active.session === session) {
      this.release(active);
      this.finish(active.job, state, error);
      this.offerNext(session, active.job.port);
      return;
    }
    // A device may finish a job it held across a reconnect before the job is
    // offered again; that is still its job to finish.
    const job = getJob(this.ctx.store, id);
    if (job === undefined) return session.reject(protocolError('UNKNOWN_JOB', id));
    if (job.device !== session.id || isFinal(job.state) || active !== undefined) return;
    this.finish(job, state, error);
    this.offerNext(session, job.port);
  }

  private offerNext(session: DeviceSession, port: number): void {
    if (session.phase !== 'online' || !session.servesPort(port)) return;
    const printer = printerId(session.id, port);
    if (this.byPrinter.has(printer)) return;
    for (;;) {
      const job = nextPendingJob(this.ctx.store, printer);
      if (job === undefined) return;
      const data = jobData(this.ctx.store, job.id);
      if (data === undefined || data.length !== job.size) {
        this.finish(job, 'failed', protocolError('INTERNAL', 'job data is missing from the store'));
        continue;
      }
      const active: Active = { job, session, stream: session.nextStream(), data, sent: 0, accepted: false };
      this.byPrinter.set(printer, active);
      this.byId.set(job.id, active);
      let set = this.bySession.get(session);
      if (set === undefined) this.bySession.set(session, (set = new Set()));
      set.add(active);
      if (job.state !== 'sending') this.setState(job, 'sending');
      this.ctx.log('debug', 'job offered', { job: job.id, printer, stream: active.stream });
      session.send({ t: 'job.start', id: job.id, stream: active.stream, port, size: job.size });
      return;
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
    if (active === undefined && getJob(this.ctx.store, id) === undefined) session.reject(protocolError('UNKNOWN_JOB', id));
    return undefined;
  }

  private progress(job: JobRecord, written: number): void {
    const state: JobState = written >= job.size ? 'printing' : 'sending';
    if (written === job.written && state === job.state) return;
    job.written = written;
    job.state = state;
    job.updated = this.ctx.clock.now();
    setJobProgress(this.ctx.store, job.id, state, written, job.updated);
    this.updated(job);
  }

  private setState(job: JobRecord, state: JobState): void {
    job.state = state;
    job.updated = this.ctx.clock.now();
    setJobState(this.ctx.store, job.id, state, job.updated);
    this.updated(job);
  }

  private finish(job: JobRecord, state: 'done' | 'failed' | 'canceled', error: ProtocolError | undefined): void {
    job.state = state;
    job.error = error;
    if (state === 'done') job.written = job.size;
    job.updated = this.ctx.clock.now();
    finishJob(this.ctx.store, job.id, state, job.written, error, job.updated);
    this.ctx.log(state === 'done' ? 'info' : 'warn', `job ${state}`, { job: job.id, printer: job.printer, code: error?.code });
    this.updated(job);
  }

  private updated(job: JobRecord): void {
    this.ctx.events.emit({ event: 'job.updated', job: jobView(job) });
  }
}
