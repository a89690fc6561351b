// The printer emulator: one transport (TCP or PTY), one intake that reads at
// the line rate and can stall, one input buffer drained by the mechanism
// (with XON/XOFF if asked), one dialect that answers status queries, a
// recorder that appends every received byte to a file, and faults scheduled
// at byte counts. It reports what happens as small JSON-able events so tests
// and scripts can follow it (see EmulatorEvent).
//
//   wire ──intake(--baud, stall, marks)──┬─ record (--out)
//                                        ├─ dialect.receive  (real-time queries)
//                                        └─ input buffer ── mechanism ── dialect.print

import { closeSync, openSync, writeSync } from 'node:fs';
import { EMULATED_DIALECTS, type EmulatedPrinter, type EventFields, type FaultSpec, type PrinterContext, type PrinterSettings } from './dialects/index.js';
import { COMMON_FAULTS } from './faults.js';
import { InputBuffer } from './input-buffer.js';
import { Intake } from './intake.js';
import { QueryStripper } from './query-stripper.js';
import { openPty } from './transports/pty.js';
import { listenTcp } from './transports/tcp.js';
import type { HostConnection, Transport, TransportEvents } from './transports/transport.js';

/**
 * The events every dialect reports; dialects add their own (asb, resend,
 * fault, unanswered, gcode, quickstop). Times (`since`, `at`) are wall-clock
 * milliseconds with sub-millisecond precision (performance.timeOrigin + now).
 */
export type EmulatorEvent =
  | { event: 'listening'; host: string; port: number }
  | { event: 'pty'; path: string; device: string }
  | { event: 'connected' }
  | { event: 'disconnected' }
  | { event: 'stalled'; bytes: number }
  | { event: 'resumed'; bytes: number }
  /**
   * Total bytes received so far; throttled, and always sent on stall,
   * disconnect and close. `since`: when the first byte started on the line;
   * `at`: when the last one ended (with --baud, its stop bit).
   */
  | { event: 'received'; bytes: number; since: number; at: number }
  | { event: 'condition'; name: string }
  | { event: 'fault'; name: string; at?: number | undefined }
  /** A fault waiting for its byte count, or handed to the dialect. */
  | { event: 'armed'; name: string; at?: number | undefined; count?: number | undefined; off?: boolean | undefined }
  | { event: 'paused'; bytes: number }
  | { event: 'unpaused'; bytes: number }
  | { event: 'xoff'; buffered: number }
  | { event: 'xon'; buffered: number; afterXoff: number }
  | { event: 'disappeared' }
  | { event: 'reappeared'; host?: string; port?: number; path?: string; device?: string }
  | { event: 'error'; message: string }
  | EventFields;

export interface EmulatorOptions {
  dialect: string;
  tcp?: { host: string; port: number } | undefined;
  pty?: string | undefined;
  /** File to append the print data to: every received byte but the status queries the printer answered. */
  out?: string | undefined;
  /** File to append every received byte to, queries included. */
  rawOut?: string | undefined;
  stallAfter?: number | undefined;
  /** How long a --stall-after (or stall@N) stall lasts; without it the stall lasts until resume(). */
  stallFor?: number | undefined;
  baud?: number | undefined;
  /** Input buffer size in bytes (default 4096). */
  buffer?: number | undefined;
  /** Mechanism speed in bytes per second (default: as fast as bytes arrive). */
  printRate?: number | undefined;
  xonxoff?: boolean | undefined;
  /** Faults from the command line, applied in order. */
  faults?: readonly FaultSpec[] | undefined;
  settings?: PrinterSettings | undefined;
  emit(e: EmulatorEvent): void;
}

export interface Emulator {
  readonly received: number;
  readonly stalled: boolean;
  stall(): void;
  resume(): void;
  /** Stops or restarts the mechanism. */
  pause(): void;
  unpause(): void;
  setCondition(name: string): boolean;
  readonly conditions: readonly string[];
  /** Applies or schedules a fault; returns an error message if it cannot. */
  fault(spec: FaultSpec): string | undefined;
  /** Cuts the current host connection (TCP only). */
  dropHost(): void;
  vanish(): Promise<void>;
  reappear(): Promise<void>;
  /** Resolves with the reason when the transport fails on its own. */
  readonly failed: Promise<Error>;
  close(): Promise<void>;
}

const REPORT_MS = 100;
export const DEFAULT_BUFFER = 4096;

const wall = (monotonic: number): number => performance.timeOrigin + monotonic;

/** Emits the latest event of each name at most every REPORT_MS. */
class Throttle {
  private readonly pending = new Map<string, EventFields>();
  private timer: NodeJS.Timeout | undefined;
  private last = -Infinity;
  closed = false;
  constructor(private readonly emit: (e: EventFields) => void) {}
  push(e: EventFields): void {
    this.pending.set(e.event, e);
    if (this.timer || this.closed) return;
    this.timer = setTimeout(() => this.flush(), Math.max(0, this.last + REPORT_MS - performance.now()));
  }
  flush(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    this.last = performance.now();
    for (const e of this.pending.values()) this.emit(e);
    this.pending.clear();
  }
}

interface Scheduled {
  readonly at: number;
  readonly spec: FaultSpec;
}

export async function runEmulator(opts: EmulatorOptions): Promise<Emulator> {
  const dialect = EMULATED_DIALECTS[opts.dialect];
  if (!dialect) throw new Error(`unknown dialect ${opts.dialect}; known: ${Object.keys(EMULATED_DIALECTS).join(', ')}`);
  if ((opts.tcp === undefined) === (opts.pty === undefined)) throw new Error('give exactly one of tcp or pty');

  const outFd = opts.out === undefined ? undefined : openSync(opts.out, 'a');
  const rawOutFd = opts.rawOut === undefined ? undefined : openSync(opts.rawOut, 'a');
  const printed = new QueryStripper(dialect.queries ?? []);
  const throttle = new Throttle(opts.emit);
  let current: HostConnection | undefined;
  let stallTimer: NodeJS.Timeout | undefined;
  let closed = false;
  let vanished = false;
  let firstByteAt: number | undefined;
  let lastByteAt = 0;
  /** Faults waiting for a byte count, in order of `at`. */
  const scheduled: Scheduled[] = [];
  let transport: Transport | undefined;

  const reply = (bytes: Uint8Array | string): void => {
    current?.reply(typeof bytes === 'string' ? Buffer.from(bytes, 'latin1') : bytes);
  };
  const flush = (): void => throttle.flush();

  const ctx: PrinterContext = {
    reply,
    emit: opts.emit,
    emitThrottled: (e) => throttle.push(e),
    buffered: () => buffer.buffered,
    room: () => buffer.room,
    conditionChanged() {
      opts.emit({ event: 'condition', name: printer.condition });
      buffer.run();
    },
    now: () => performance.now(),
  };
  const printer: EmulatedPrinter = dialect.create(ctx, opts.settings ?? {});

  const buffer = new InputBuffer({
    capacity: opts.buffer ?? DEFAULT_BUFFER,
    rate: opts.printRate,
    xonxoff: opts.xonxoff ?? false,
    blocked: () => printer.blocked,
    print: (bytes) => printer.print?.(bytes),
    reply,
    xoff: (buffered) => opts.emit({ event: 'xoff', buffered }),
    xon: (buffered, afterXoff) => opts.emit({ event: 'xon', buffered, afterXoff }),
    drained: () => intake.kick(),
  });

  function resume(): void {
    if (stallTimer) clearTimeout(stallTimer);
    stallTimer = undefined;
    if (!intake.stalled) return;
    opts.emit({ event: 'resumed', bytes: intake.total });
    intake.resume();
  }

  function stall(timed: boolean): void {
    if (!intake.stall()) return;
    flush();
    opts.emit({ event: 'stalled', bytes: intake.total });
    if (timed && opts.stallFor !== undefined && !closed) stallTimer = setTimeout(resume, opts.stallFor);
  }

  function setCondition(name: string): boolean {
    if (!printer.setCondition(name)) return false;
    opts.emit({ event: 'condition', name });
    buffer.run();
    return true;
  }

  /**
   * Stops serving `conn` at once: nothing more is read from it, whatever its
   * socket still holds, and its later close is not reported twice.
   */
  function forget(conn: HostConnection | undefined): void {
    if (!conn || conn !== current) return;
    current = undefined;
    intake.detach();
    flush();
    if (opts.tcp) opts.emit({ event: 'disconnected' });
  }

  function dropHost(): void {
    const conn = current;
    forget(conn);
    conn?.drop();
  }

  async function vanish(): Promise<void> {
    if (vanished || !transport) return;
    vanished = true;
    forget(current);
    await transport.vanish();
    opts.emit({ event: 'disappeared' });
  }

  async function reappear(): Promise<void> {
    if (!vanished || !transport || closed) return;
    await transport.reappear();
    vanished = false;
    if (opts.tcp) {
      const t = transport as Awaited<ReturnType<typeof listenTcp>>;
      opts.emit({ event: 'reappeared', host: t.host, port: t.port });
    } else {
      const t = transport as Awaited<ReturnType<typeof openPty>>;
      opts.emit({ event: 'reappeared', path: t.path, device: t.device });
    }
  }

  /** Carries out a fault now; an error message if it is not one. */
  function apply(spec: FaultSpec): string | undefined {
    const note = (): void => opts.emit({ event: 'fault', name: spec.name, at: intake.total });
    switch (spec.name) {
      case 'stall':
        note();
        stall(true);
        return undefined;
      case 'pause':
        note();
        pause();
        return undefined;
      case 'drop':
        note();
        if (opts.tcp) dropHost();
        return undefined;
      case 'disappear':
        note();
        intake.stall();
        void vanish().then(() => intake.resume());
        return undefined;
    }
    if (dialect!.conditions.includes(spec.name)) {
      note();
      setCondition(spec.name);
      return undefined;
    }
    return `no fault or condition ${JSON.stringify(spec.name)}; known: ${[...Object.keys(COMMON_FAULTS), ...dialect!.conditions, ...Object.keys(dialect!.faults)].join(', ')}`;
  }

  /** Applies a fault now, or arms it for later (reported as `armed`). */
  function fault(spec: FaultSpec): string | undefined {
    const armed = (): undefined => {
      opts.emit({ event: 'armed', name: spec.name, at: spec.at, count: spec.count, off: spec.off });
      return undefined;
    };
    if (spec.name in dialect!.faults) return printer.fault?.(spec) ?? armed();
    if (!(spec.name in COMMON_FAULTS) && !dialect!.conditions.includes(spec.name)) return apply(spec);
    if (spec.at === undefined || spec.at <= intake.total) return apply(spec);
    scheduled.push({ at: spec.at, spec });
    scheduled.sort((a, b) => a.at - b.at);
    return armed();
  }

  function pause(): void {
    if (buffer.isPaused) return;
    buffer.setPaused(true);
    opts.emit({ event: 'paused', bytes: intake.total });
  }

  function unpause(): void {
    if (!buffer.isPaused) return;
    opts.emit({ event: 'unpaused', bytes: intake.total });
    buffer.setPaused(false);
  }

  const intake: Intake = new Intake({
    baud: opts.baud,
    room: () => buffer.room,
    consume(bytes, start, end) {
      if (outFd !== undefined) writeSync(outFd, printed.push(bytes));
      if (rawOutFd !== undefined) writeSync(rawOutFd, bytes);
      firstByteAt ??= start;
      lastByteAt = end;
      printer.receive(bytes);
      buffer.push(bytes);
      throttle.push({ event: 'received', bytes: intake.total, since: wall(firstByteAt), at: wall(lastByteAt) });
    },
    nextMark: () => scheduled[0]?.at,
    atMark(total) {
      while (scheduled.length > 0 && scheduled[0]!.at <= total) apply(scheduled.shift()!.spec);
    },
  });

  let fail: (e: Error) => void = () => {};
  const failed = new Promise<Error>((resolve) => (fail = resolve));

  const events: TransportEvents = {
    connected(conn) {
      current = conn;
      printer.reset();
      intake.attach(conn.source);
      if (opts.tcp) opts.emit({ event: 'connected' });
    },
    disconnected: forget,
    failed(e) {
      opts.emit({ event: 'error', message: e.message });
      fail(e);
    },
  };

  // Faults for byte 0 and the stall point exist before the first byte can arrive.
  if (opts.stallAfter !== undefined) scheduled.push({ at: opts.stallAfter, spec: { name: 'stall', at: opts.stallAfter } });
  for (const spec of opts.faults ?? []) {
    const error = fault(spec);
    if (error !== undefined) {
      printer.close?.();
      throw new Error(error);
    }
  }

  if (opts.tcp) {
    const tcp = await listenTcp(opts.tcp.host, opts.tcp.port, events);
    transport = tcp;
    opts.emit({ event: 'listening', host: tcp.host, port: tcp.port });
  } else {
    const pty = await openPty(opts.pty!, events);
    transport = pty;
    opts.emit({ event: 'pty', path: pty.path, device: pty.device });
  }

  return {
    get received() {
      return intake.total;
    },
    get stalled() {
      return intake.stalled;
    },
    stall: () => stall(false),
    resume,
    pause,
    unpause,
    setCondition,
    conditions: dialect.conditions,
    fault,
    dropHost: () => {
      if (opts.tcp) dropHost();
    },
    vanish,
    reappear,
    failed,
    async close() {
      if (closed) return;
      closed = true;
      if (stallTimer) clearTimeout(stallTimer);
      intake.close();
      buffer.close();
      printer.close?.();
      flush();
      throttle.closed = true;
      await transport?.close();
      if (outFd !== undefined) {
        writeSync(outFd, printed.flush());
        closeSync(outFd);
      }
      if (rawOutFd !== undefined) closeSync(rawOutFd);
    },
  };
}
