// One printer port's job spool: takes job data from the server under a credit
// window and hands it to the port no faster than the port takes it.
//
// Per job the spool keeps two offsets:
//   received  bytes of the job that arrived from the server (contiguous)
//   written   bytes handed to the port (the host reported room for them)
// and holds exactly the bytes between them, so memory is bounded by the
// window the device announced: the server never sends past written + window.
//
// Exactly once across a lost link: the spool outlives the socket. While
// offline it keeps writing what it holds. When the server offers the same job
// again (job.start), the spool answers job.accept with its received and
// written offsets, and the server continues at `received`: no byte twice,
// none missing. A job the spool has never seen is answered `fresh`, so the
// server can tell "start from zero" from "the device forgot" (a restart) and
// fail the job rather than print part of it twice.
//
// Data frames carry their offset: a frame that repeats bytes we already have
// is trimmed, a frame that leaves a gap or exceeds the window fails the job.

import type { DeviceMessage } from '../../protocol/device-messages.js';
import type { ErrorCode } from '../../protocol/errors.js';
import { protocolError, type ProtocolError } from '../../protocol/errors.js';
import type { DataFrame } from '../../protocol/frames.js';
import type { PrinterState } from '../../protocol/device-messages.js';
import { ByteQueue } from './byte-queue.js';
import type { DeviceEffect, PortConfig, PortSnapshot } from './types.js';

interface ActiveJob {
  readonly id: string;
  stream: number;
  readonly size: number;
  received: number;
  written: number;
  acked: number;
  readonly data: ByteQueue;
}

/** Recently finished jobs, so an outcome lost with the link can be told again. */
const FINISHED_MEMORY = 8;

interface Finished {
  readonly id: string;
  readonly failure?: ProtocolError;
}

export type Send = (m: DeviceMessage) => void;

export class PortSpool {
  state: PrinterState = 'unknown';
  detail: string | undefined;
  private room = 0;
  private job: ActiveJob | undefined;
  private readonly finished: Finished[] = [];

  constructor(
    readonly config: PortConfig,
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

  start(id: string, stream: number, size: number, send: Send, log: (m: string) => void): void {
    const past = this.finished.find((f) => f.id === id);
    if (past !== undefined) {
      this.tell(past, send);
      return;
    }
    const job = this.job;
    if (job !== undefined && job.id === id) {
      job.stream = stream;
      job.acked = job.written;
      send({ t: 'job.accept', id, received: job.received, written: job.written, fresh: false });
      return;
    }
    if (job !== undefined) {
      // The server only offers another job once it has ended ours (canceled
      // or failed while we were away), so the old bytes must not print.
      log(`job ${job.id} dropped: server moved on to ${id}`);
    }
    this.job = { id, stream, size, received: 0, written: 0, acked: 0, data: new ByteQueue() };
    send({ t: 'job.accept', id, received: 0, written: 0, fresh: true });
    if (size === 0) this.finishIfComplete(send);
  }

  cancel(id: string): boolean {
    if (this.job === undefined || this.job.id !== id) return false;
    this.job.data.clear();
    this.job = undefined;
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
    this.room = Math.max(0, room);
  }

  /** Writes what the port takes now; acks and finishes as offsets allow. */
  pump(out: DeviceEffect[], send: Send): void {
    const job = this.job;
    if (job === undefined) return;
    while (this.room > 0 && job.data.length > 0) {
      const bytes = job.data.take(this.room);
      this.room -= bytes.length;
      job.written += bytes.length;
      out.push({ type: 'port.write', port: this.port, bytes });
    }
    if (job.written - job.acked >= this.ackStep || (job.written === job.size && job.acked < job.size)) {
      job.acked = job.written;
      send({ t: 'job.ack', id: job.id, written: job.written });
    }
    this.finishIfComplete(send);
  }

  snapshot(): PortSnapshot {
    const job = this.job;
    return {
      port: this.port,
      dialect: this.config.dialect,
      state: this.state,
      detail: this.detail,
      job: job === undefined ? undefined : { id: job.id, size: job.size, received: job.received, written: job.written },
    };
  }

  private finishIfComplete(send: Send): void {
    const job = this.job;
    if (job === undefined || job.written < job.size) return;
    this.end({ id: job.id }, send);
  }

  private fail(code: ErrorCode, detail: string, send: Send): void {
    const job = this.job;
    if (job === undefined) return;
    this.end({ id: job.id, failure: protocolError(code, detail) }, send);
  }

  private end(f: Finished, send: Send): void {
    this.job = undefined;
    this.finished.push(f);
    if (this.finished.length > FINISHED_MEMORY) this.finished.shift();
    this.tell(f, send);
  }

  private tell(f: Finished, send: Send): void {
    if (f.failure === undefined) send({ t: 'job.done', id: f.id });
    else send({ t: 'job.fail', id: f.id, code: f.failure.code, message: f.failure.message });
  }
}
