// The printer emulator: one transport (TCP or PTY), one intake that reads at
// the line rate and can stall, one input buffer drained by the mechanism
// (with XON/XOFF if asked), one dialect that answers status queries, a
// recorder that appends what the mechanism printed to a file (and every
// received byte to another), faults scheduled at byte counts, and a power
// switch. It reports what happens as small JSON-able events so tests and
// scripts can follow it (see EmulatorEvent).
//
//   wire ──intake(--baud, stall, marks)──┬─ raw record (--raw-out)
//                                        ├─ dialect.receive  (real-time queries)
//                                        └─ input buffer ── mechanism ──┬─ dialect.print
//                                                                       └─ record (--out, queries left out)
//
// Power: switched off, the printer loses what its input buffer held (it was
// never printed, so it never reaches --out), stops every timer and answers
// nothing; over TCP the connection is reset and the port refuses new ones,
// over a PTY the line stays but whatever arrives is dropped. Switched on, it
// starts with a reset state (see EmulatedPrinter.powerOn).

import { closeSync, openSync, writeSync } from 'node:fs';
import { EMULATED_DIALECTS, type EmulatedPrinter, type EventFields, type FaultSpec, type PrinterContext, type PrinterSettings } from './dialects/index.js';
import { COMMON_FAULTS, DEFAULT_POWER_OFF_MS, formatFault, LASTING_FAULTS } from './faults.js';
import { InputBuffer, XON } from './input-buffer.js';
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
  /** Raw bytes (status queries included) the mechanism took from the input buffer so far; throttled like `received`. */
  | { event: 'printed'; bytes: number }
  /** Switched off: `lost` bytes of the input buffer were never printed; `bytes` received so far. */
  | { event: 'power-off'; lost: number; bytes: number }
  /** Switched on; `dropped`: bytes that arrived while it was off (PTY) and were thrown away. */
  | { event: 'power-on'; dropped: number }
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
  readonly powered: boolean;
  /** Switches the printer off (see the top of this file). */
  powerOff(): Promise<void>;
  /** Switches it on again, with a reset state. */
  powerOn(): Promise<void>;
  /** Off, and on again after `ms` (default DEFAULT_POWER_OFF_MS). */
  powerCycle(ms?: number): Promise<void>;
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
  const record = (bytes: Uint8Array): void => {
    if (outFd !== undefined && bytes.length > 0) writeSync(outFd, bytes);
  };
  const rawOutFd = opts.rawOut === undefined ? undefined : openSync(opts.rawOut, 'a');
  const printed = new QueryStripper(dialect.queries ?? []);
  const throttle = new Throttle(opts.emit);
  let current: HostConnection | undefined;
  let stallTimer: NodeJS.Timeout | undefined;
  let closed = false;
  let vanished = false;
  let powered = true;
  /** Bytes dropped since the last power-off (PTY). */
  let dropped = 0;
  let powerTimer: NodeJS.Timeout | undefined;
  /** Timers of delayed (+MS) and lasting (~MS) faults. */
  const timers = new Set<NodeJS.Timeout>();
  let mechanismTotal = 0;
  let firstByteAt: number | undefined;
  let lastByteAt = 0;
  /** Faults waiting for a byte count, in order of `at`. */
  const scheduled: Scheduled[] = [];
  let transport: Transport | undefined;

  const reply = (bytes: Uint8Array | string): void => {
    if (!powered) return;
    current?.reply(typeof bytes === 'string' ? Buffer.from(bytes, 'latin1') : bytes);
  };
  const later = (ms: number, fn: () => void): void => {
    const t = setTimeout(() => {
      timers.delete(t);
      if (!closed) fn();
    }, ms);
    timers.add(t);
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
    print: (bytes) => {
      mechanismTotal += bytes.length;
      record(printed.push(bytes));
      printer.print?.(bytes);
      throttle.push({ event: 'printed', bytes: mechanismTotal });
    },
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

  /** `forMs`: resume by itself after that long. */
  function stall(forMs?: number): void {
    if (!intake.stall()) return;
    flush();
    opts.emit({ event: 'stalled', bytes: intake.total });
    if (forMs !== undefined && !closed) stallTimer = setTimeout(resume, forMs);
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
    // A switched-off TCP printer listens again only when it is switched on.
    if (powered || !opts.tcp) await transport.reappear();
    vanished = false;
    if (opts.tcp) {
      const t = transport as Awaited<ReturnType<typeof listenTcp>>;
      opts.emit({ event: 'reappeared', host: t.host, port: t.port });
    } else {
      const t = transport as Awaited<ReturnType<typeof openPty>>;
      opts.emit({ event: 'reappeared', path: t.path, device: t.device });
    }
  }

  async function powerOff(): Promise<void> {
    if (!powered || closed) return;
    powered = false;
    if (stallTimer) clearTimeout(stallTimer);
    stallTimer = undefined;
    dropped = 0;
    if (opts.tcp) forget(current);
    const lost = buffer.clear();
    // A slice still on the line never arrives; a PTY's line is now read and dropped.
    intake.interrupt();
    printer.powerOff?.();
    // Bytes the stripper held back went through the mechanism: they were printed.
    record(printed.flush());
    flush();
    // Reported once it is true: the connection reset and the port closed.
    if (opts.tcp && !vanished) await transport?.vanish(true);
    opts.emit({ event: 'power-off', lost, bytes: intake.total });
  }

  async function powerOn(): Promise<void> {
    if (powered || closed) return;
    if (powerTimer) clearTimeout(powerTimer);
    powerTimer = undefined;
    if (opts.tcp && !vanished) await transport?.reappear();
    if (closed) return;
    powered = true;
    intake.interrupt();
    printer.powerOn();
    // A printer with software flow control is ready to receive when it starts.
    if (opts.xonxoff) reply(Uint8Array.of(XON));
    opts.emit({ event: 'power-on', dropped });
  }

  async function powerCycle(ms = DEFAULT_POWER_OFF_MS): Promise<void> {
    if (!powered) return;
    await powerOff();
    if (closed) return;
    if (powerTimer) clearTimeout(powerTimer);
    powerTimer = setTimeout(() => {
      powerTimer = undefined;
      void powerOn().catch((e: Error) => opts.emit({ event: 'error', message: e.message }));
    }, ms);
  }

  const problem = (e: Error): void => opts.emit({ event: 'error', message: e.message });

  /** Carries out a fault now (or after its +MS); an error message if it is not one. */
  function apply(spec: FaultSpec): string | undefined {
    if (spec.delay !== undefined && spec.delay > 0) {
      later(spec.delay, () => apply({ ...spec, delay: undefined }));
      return undefined;
    }
    const note = (): void => opts.emit({ event: 'fault', name: spec.name, at: intake.total });
    const lasting = spec.lasting;
    switch (spec.name) {
      case 'stall':
        note();
        stall(lasting ?? opts.stallFor);
        return undefined;
      case 'pause':
        note();
        pause();
        if (lasting !== undefined) later(lasting, unpause);
        return undefined;
      case 'drop':
        note();
        dropHost();
        return undefined;
      case 'disappear':
        note();
        intake.stall();
        void vanish().then(() => {
          intake.resume();
          if (lasting !== undefined) later(lasting, () => void reappear().catch(problem));
        }, problem);
        return undefined;
      case 'power-cycle':
        note();
        void powerCycle(lasting).catch(problem);
        return undefined;
    }
    if (dialect!.conditions.includes(spec.name)) {
      note();
      setCondition(spec.name);
      if (lasting !== undefined) later(lasting, () => void setCondition(dialect!.conditions[0]!));
      return undefined;
    }
    return `no fault or condition ${JSON.stringify(spec.name)}; known: ${[...Object.keys(COMMON_FAULTS), ...dialect!.conditions, ...Object.keys(dialect!.faults)].join(', ')}`;
  }

  /** Why this emulator cannot take `spec`, if it cannot. */
  function refuse(spec: FaultSpec): string | undefined {
    const timed = spec.delay !== undefined || spec.lasting !== undefined;
    if (spec.name in dialect!.faults) return timed ? `${formatFault(spec)}: a ${dialect!.name} fault takes no +MS or ~MS` : undefined;
    if (spec.lasting !== undefined && !LASTING_FAULTS.includes(spec.name) && !dialect!.conditions.includes(spec.name)) {
      return `${formatFault(spec)}: ${spec.name} cannot last (~MS)`;
    }
    if (spec.name === 'drop' && !opts.tcp) return `${formatFault(spec)}: a PTY has no connection to drop (disappear or power-cycle are the serial faults)`;
    return undefined;
  }

  /** Applies a fault now, or arms it for later (reported as `armed`). */
  function fault(spec: FaultSpec): string | undefined {
    const armed = (): undefined => {
      opts.emit({ event: 'armed', name: spec.name, at: spec.at, count: spec.count, off: spec.off });
      return undefined;
    };
    const refused = refuse(spec);
    if (refused !== undefined) return refused;
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
    off: () => !powered,
    dropped: (n) => (dropped += n),
    consume(bytes, start, end) {
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
      // A TCP connection accepted just as the power went.
      if (!powered && opts.tcp) return conn.drop();
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
    stall: () => stall(),
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
    get powered() {
      return powered;
    },
    powerOff,
    powerOn,
    powerCycle,
    failed,
    async close() {
      if (closed) return;
      closed = true;
      if (stallTimer) clearTimeout(stallTimer);
      if (powerTimer) clearTimeout(powerTimer);
      for (const t of timers) clearTimeout(t);
      timers.clear();
      intake.close();
      buffer.close();
      printer.close?.();
      flush();
      throttle.closed = true;
      await transport?.close();
      if (outFd !== undefined) {
        // What is still in the input buffer was never printed.
        record(printed.flush());
        closeSync(outFd);
      }
      if (rawOutFd !== undefined) closeSync(rawOutFd);
    },
  };
}
