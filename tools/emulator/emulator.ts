// The printer emulator: one transport (TCP or PTY), one intake that can stall
// and pace, one dialect that answers status queries, and a recorder that
// appends every consumed byte to a file. It reports what happens as small
// JSON-able events so tests and scripts can follow it (see EmulatorEvent).

import { closeSync, openSync, writeSync } from 'node:fs';
import { EMULATED_DIALECTS, type EmulatedPrinter } from './dialects/index.js';
import { Intake } from './intake.js';
import { openPty } from './transports/pty.js';
import { listenTcp } from './transports/tcp.js';
import type { HostConnection, Transport, TransportEvents } from './transports/transport.js';

export type EmulatorEvent =
  | { event: 'listening'; host: string; port: number }
  | { event: 'pty'; path: string; device: string }
  | { event: 'connected' }
  | { event: 'disconnected' }
  | { event: 'stalled'; bytes: number }
  | { event: 'resumed'; bytes: number }
  /** Total bytes consumed so far; throttled, and always sent on stall, disconnect and close. */
  | { event: 'received'; bytes: number }
  | { event: 'condition'; name: string }
  | { event: 'error'; message: string };

export interface EmulatorOptions {
  dialect: string;
  tcp?: { host: string; port: number } | undefined;
  pty?: string | undefined;
  /** File to append every received byte to. */
  out?: string | undefined;
  stallAfter?: number | undefined;
  /** How long a --stall-after stall lasts; without it the stall lasts until resume(). */
  stallFor?: number | undefined;
  baud?: number | undefined;
  emit(e: EmulatorEvent): void;
}

export interface Emulator {
  readonly received: number;
  readonly stalled: boolean;
  stall(): void;
  resume(): void;
  setCondition(name: string): boolean;
  readonly conditions: readonly string[];
  /** Cuts the current host connection (TCP only). */
  dropHost(): void;
  /** Resolves with the reason when the transport fails on its own. */
  readonly failed: Promise<Error>;
  close(): Promise<void>;
}

const REPORT_MS = 100;

export async function runEmulator(opts: EmulatorOptions): Promise<Emulator> {
  const dialect = EMULATED_DIALECTS[opts.dialect];
  if (!dialect) throw new Error(`unknown dialect ${opts.dialect}; known: ${Object.keys(EMULATED_DIALECTS).join(', ')}`);
  if ((opts.tcp === undefined) === (opts.pty === undefined)) throw new Error('give exactly one of tcp or pty');

  const printer: EmulatedPrinter = dialect.create();
  const outFd = opts.out === undefined ? undefined : openSync(opts.out, 'a');
  let current: HostConnection | undefined;
  let reportTimer: NodeJS.Timeout | undefined;
  let lastReport = -Infinity;
  let reportedBytes = -1;
  let stallTimer: NodeJS.Timeout | undefined;
  let closed = false;

  const report = (): void => {
    if (reportTimer) clearTimeout(reportTimer);
    reportTimer = undefined;
    lastReport = performance.now();
    if (intake.total === reportedBytes) return;
    reportedBytes = intake.total;
    opts.emit({ event: 'received', bytes: intake.total });
  };
  const reportSoon = (): void => {
    if (reportTimer || closed) return;
    reportTimer = setTimeout(report, Math.max(0, lastReport + REPORT_MS - performance.now()));
  };

  function resume(): void {
    if (stallTimer) clearTimeout(stallTimer);
    stallTimer = undefined;
    if (!intake.stalled) return;
    opts.emit({ event: 'resumed', bytes: intake.total });
    intake.resume();
  }

  const intake: Intake = new Intake({
    stallAfter: opts.stallAfter,
    baud: opts.baud,
    consume(bytes) {
      if (outFd !== undefined) writeSync(outFd, bytes);
      for (const reply of printer.receive(bytes)) current?.reply(reply);
      reportSoon();
    },
    stalled(total, byCount) {
      report();
      opts.emit({ event: 'stalled', bytes: total });
      if (byCount && opts.stallFor !== undefined && !closed) stallTimer = setTimeout(resume, opts.stallFor);
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
    disconnected(conn) {
      if (current !== conn) return;
      current = undefined;
      intake.detach();
      report();
      opts.emit({ event: 'disconnected' });
    },
    failed(e) {
      opts.emit({ event: 'error', message: e.message });
      fail(e);
    },
  };

  let transport: Transport;
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
    stall: () => intake.stall(),
    resume,
    setCondition(name) {
      if (!printer.setCondition(name)) return false;
      opts.emit({ event: 'condition', name });
      return true;
    },
    conditions: dialect.conditions,
    dropHost: () => current?.drop(),
    failed,
    async close() {
      if (closed) return;
      closed = true;
      if (stallTimer) clearTimeout(stallTimer);
      intake.close();
      report();
      await transport.close();
      if (outFd !== undefined) closeSync(outFd);
    },
  };
}
