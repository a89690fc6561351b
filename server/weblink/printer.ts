// One Link-OS printer connected over Weblink: its main connection, and the
// raw and config channels it opens on our request.
//
// To the rest of the server it is a device with one port (0, zpl) whose
// device protocol happens to be Weblink: it opens a DeviceSession with a
// Peer of its own (`peer` below) and translates both ways. What the core
// sends a device (job.start, data frames, job.cancel/pause/resume, control)
// becomes Weblink traffic; what the printer says (channels opening, bytes
// written, alerts, ~HS answers) becomes the device messages the core already
// understands (hello, job.accept/ack/done/fail/state, status). So
// registry, views, events, jobs and the heartbeat treat it like any bridge,
// and the job rules (one job per port, exactly once or failed) are kept by
// jobs.ts, not written again here.
//
// A job on the raw channel:
//   job.start ──raw open──▶ job.accept ──data──▶ bytes out, job.ack as written
//     ──all written, one PQ JOB COMPLETED alert per ^XZ seen──▶ ~HS
//     ──formats in buffer 0 and labels remaining 0──▶ job.done
//   raw channel lost after a byte went out, before job.done ─▶ job.fail JOB_INTERRUPTED
//   a stopping alert (head open, paper out…) ─▶ job.state paused; cleared ─▶ printing
//
// An alert can be lost (it is one WebSocket message, sent once), so the
// alerts are waited for only completedWaitMs after the last byte or the
// last PQ JOB COMPLETED; then ~HS is asked anyway. The ~HS goes on the raw
// channel behind the job's bytes, so its answer describes a printer that has
// all of them: nothing in its buffer and no label remaining is the printer's
// own word that it printed the job. A printer that leaves hostStatusTries
// ~HS in a row unanswered while no stopping condition is known has not
// confirmed the job: it fails JOB_INTERRUPTED (bytes went out, so it is not
// resent). One held by a known stopping condition is asked until it answers.
//
// Channels are opened by asking on main ({"open": name}); one that drops
// while main lives is asked for again when it is needed (a job, an SGD),
// and the ask is repeated every channelRetryMs, channelAsks times at most:
// then the job that waits for the raw channel fails PRINTER_UNREACHABLE (no
// byte of it went out), the SGD requests waiting for config fail likewise.
//
// SGD over the config channel pairs answers to requests by order, one
// request in flight; a request not answered in time fails TIMEOUT and the
// config channel is closed, so that a late answer cannot be taken for the
// answer to the next request.

import { decodeDeviceMessage, encodeDeviceMessage, decodeServerMessage, type DeviceMessage, type PrinterState, type ServerMessage } from '../../protocol/device-messages.js';
import { decodeDataFrame } from '../../protocol/frames.js';
import { CLOSE, ERRORS, type ErrorCode } from '../../protocol/errors.js';
import { PROTOCOL_VERSION } from '../../protocol/version.js';
import { PrintbridgeError } from '../errors.js';
import type { Cancel, Clock, Log } from '../core/context.js';
import type { DeviceSession } from '../core/device-session.js';
import type { Peer } from '../core/peer.js';
import { Conditions, CONFIGURE_ALERTS, JOB_COMPLETED } from './alerts.js';
import type { Discovery } from './discovery.js';
import { HOST_STATUS_QUERY, HostStatusReader, type HostStatus } from './host-status.js';
import { CONFIG_CHANNEL, jsonFrame, parseAlert, RAW_CHANNEL, type ChannelName } from './messages.js';

/** One WebSocket connection of the printer, as the printer logic sees it. */
export interface Link {
  send(bytes: Buffer, sent?: (err?: Error | null) => void): void;
  close(code: number, reason: string): void;
  terminate(): void;
  ping(): void;
  bufferedAmount(): number;
}

/** What a Weblink printer uses of the server: time, the log, and a device session of its own. */
export interface WeblinkPrinterDeps {
  readonly clock: Clock;
  readonly log: Log;
  /** Opens the printer's device session, with `peer` standing for its connections. */
  connectDevice(id: string, peer: Peer, address: string | undefined): DeviceSession;
}

export interface WeblinkTiming {
  /** How long to wait for a channel asked for before asking again. */
  channelRetryMs: number;
  /** How often ~HS is asked again while the printer still holds formats of a finished job. */
  hostStatusPollMs: number;
  /** How long an unanswered ~HS waits before it is asked again. */
  hostStatusRetryMs: number;
  /** ~HS asked this many times in a row without an answer, with no stopping condition known: the job is not confirmed. */
  hostStatusTries: number;
  /** How long after the last byte, or the last PQ JOB COMPLETED, the alerts still missing are waited for before ~HS is asked anyway. */
  completedWaitMs: number;
  /** How many times a channel is asked for before what waits for it fails. */
  channelAsks: number;
}

export const DEFAULT_WEBLINK_TIMING: WeblinkTiming = {
  channelRetryMs: 10_000, hostStatusPollMs: 500, hostStatusRetryMs: 3000, hostStatusTries: 10, completedWaitMs: 10_000, channelAsks: 6,
};

/** Credit window and chunk size the printer announces: the raw channel's own buffer does the pacing. */
const WINDOW = 64 * 1024;
const MAX_CHUNK = 16 * 1024;

export interface SgdRequest {
  get?: readonly string[] | undefined;
  set?: Readonly<Record<string, string>> | undefined;
}

interface PendingSgd {
  readonly body: Buffer;
  readonly resolve: (values: Record<string, unknown>) => void;
  readonly reject: (e: Error) => void;
  cancelTimer: Cancel;
  retried: boolean;
}

interface Job {
  readonly id: string;
  readonly stream: number;
  readonly size: number;
  accepted: boolean;
  /** Bytes handed to the raw channel. */
  sent: number;
  /** Bytes the raw channel's socket has written. */
  written: number;
  /** Data frames that came while the raw channel was down, before any byte went out. */
  pending: Buffer[];
  /** ^XZ seen so far, and the tail of the last chunk (a ^XZ can straddle two). */
  formats: number;
  tail: string;
  completed: number;
  /** The PQ JOB COMPLETED alerts still missing were waited for long enough: ~HS decides. */
  overdue: boolean;
  /** Running until the alerts still missing are overdue. */
  waitTimer: Cancel | undefined;
  asking: boolean;
  /** ~HS asked in a row without an answer. */
  unanswered: number;
  paused: string | undefined;
}

export class WeblinkPrinter {
  readonly session: DeviceSession;
  private readonly channels = new Map<ChannelName, Link>();
  private readonly asked = new Map<ChannelName, Cancel>();
  /** How many times each channel was asked for since it was last open or needed. */
  private readonly asks = new Map<ChannelName, number>();
  private readonly conditions = new Conditions();
  private readonly hostStatus = new HostStatusReader();
  private readonly sgdQueue: PendingSgd[] = [];
  private sgdInFlight: PendingSgd | undefined;
  private job: Job | undefined;
  private closed = false;
  private readonly since: number;
  /** Device messages wait here so that the core never hears an answer while it is still sending. */
  private readonly outbox: DeviceMessage[] = [];
  private flushing: Cancel | undefined;
  private pollTimer: Cancel | undefined;
  /** Channels that have not answered our last ping. */
  private readonly silent = new Set<Link>();

  constructor(
    private readonly deps: WeblinkPrinterDeps,
    readonly serial: string,
    readonly discovery: Discovery,
    private readonly main: Link,
    address: string | undefined,
    private readonly timing: WeblinkTiming = DEFAULT_WEBLINK_TIMING,
  ) {
    this.since = deps.clock.now();
    const peer: Peer = {
      sendText: (text) => this.fromCore(text),
      sendBinary: (bytes) => this.data(bytes),
      close: (code, reason) => this.shut(code, reason),
      terminate: () => this.terminate(),
      ping: () => this.ping(),
      bufferedAmount: () => Math.max(this.main.bufferedAmount(), this.channels.get(RAW_CHANNEL)?.bufferedAmount() ?? 0),
    };
    this.session = deps.connectDevice(serial, peer, address);
    this.main.send(jsonFrame({ configure_alert: CONFIGURE_ALERTS }));
    const hello: DeviceMessage = {
      t: 'hello', v: PROTOCOL_VERSION, id: serial, fw: discovery.firmware || 'unknown', caps: ['weblink'], window: WINDOW, maxChunk: MAX_CHUNK,
      ports: [{ port: 0, dialect: 'zpl', name: discovery.product || undefined, confirms: true }],
    };
    this.toCore(hello);
    this.reportStatus();
  }

  get online(): boolean {
    return !this.closed && this.session.phase !== 'closed';
  }

  // ---- from the printer ----------------------------------------------------

  /** A JSON message on main after discovery: alerts, and whatever else the printer chooses to say. */
  mainMessage(value: unknown): void {
    this.session.life();
    const alert = parseAlert(value);
    if (alert === undefined) return void this.deps.log('debug', 'weblink main message ignored', { printer: this.serial });
    this.deps.log('debug', 'weblink alert', { printer: this.serial, condition: alert.condition, set: alert.set });
    if (alert.condition === JOB_COMPLETED) {
      const job = this.job;
      if (alert.set && job !== undefined) {
        job.completed += 1;
        // The printer is getting through the formats: the wait for the rest starts again.
        job.waitTimer?.();
        job.waitTimer = undefined;
        this.maybeConfirm();
      }
      return;
    }
    if (!this.conditions.apply(alert.condition, alert.set)) return;
    this.reportStatus();
    this.reportJobHold();
  }

  /** A channel said who it is; a newer one of the same name replaces the older. */
  channelOpened(name: ChannelName, link: Link): void {
    if (this.closed) return link.close(CLOSE.GOING_AWAY.code, 'the printer main connection is gone');
    const older = this.channels.get(name);
    this.channels.set(name, link);
    this.asked.get(name)?.();
    this.asked.delete(name);
    this.asks.delete(name);
    this.deps.log('info', 'weblink channel open', { printer: this.serial, channel: name });
    if (older !== undefined) {
      older.close(CLOSE.REPLACED.code, 'a newer channel of the same name replaced this one');
      // The printer gave up on the older (half-open): what went out on it is as lost as on a close.
      this.lost(name, older);
    }
    if (name === RAW_CHANNEL) this.rawReady();
    else this.pumpSgd();
  }

  /** Bytes (or JSON) that arrived on a channel. */
  channelData(name: ChannelName, link: Link, bytes: Buffer, json: unknown): void {
    if (this.channels.get(name) !== link) return;
    this.session.life();
    this.silent.delete(link);
    if (name === RAW_CHANNEL) {
      for (const status of this.hostStatus.push(bytes)) this.hostStatusAnswer(status);
      return;
    }
    const pending = this.sgdInFlight;
    if (pending === undefined) return void this.deps.log('debug', 'weblink config answer nobody asked for', { printer: this.serial });
    this.sgdInFlight = undefined;
    pending.cancelTimer();
    if (json !== null && typeof json === 'object' && !Array.isArray(json)) pending.resolve(json as Record<string, unknown>);
    else pending.reject(new PrintbridgeError('PRINTER_ERROR', 'the printer answered the SGD request with something other than a JSON object'));
    this.pumpSgd();
  }

  /** A channel pong or any traffic proves it alive. */
  channelLife(link: Link): void {
    this.silent.delete(link);
  }

  channelClosed(name: ChannelName, link: Link): void {
    if (this.channels.get(name) !== link) return;
    this.channels.delete(name);
    this.deps.log('info', 'weblink channel closed', { printer: this.serial, channel: name });
    if (this.closed) return;
    this.lost(name, link);
  }

  /**
   * A channel closed or was replaced: a job with bytes on it fails, an SGD
   * request on it is asked once more. Whatever is needed again is asked for
   * (a no-op when a newer channel is already there).
   */
  private lost(name: ChannelName, link: Link): void {
    this.silent.delete(link);
    if (name === RAW_CHANNEL) return this.rawLost();
    const pending = this.sgdInFlight;
    if (pending !== undefined) {
      // The printer closes config after an answer; one that closed before
      // answering gets its request once more on the next config channel.
      this.sgdInFlight = undefined;
      if (pending.retried) pending.reject(new PrintbridgeError('PRINTER_ERROR', 'the config channel closed twice before the printer answered'));
      else {
        pending.retried = true;
        this.sgdQueue.unshift(pending);
      }
    }
    if (this.sgdQueue.length > 0) this.ask(CONFIG_CHANNEL);
  }

  /** The main connection is gone: the device goes offline, its channels close. */
  mainClosed(): void {
    this.teardown(CLOSE.GOING_AWAY.code, 'the printer main connection closed');
    this.session.gone();
  }

  // ---- SGD -------------------------------------------------------------------

  sgd(request: SgdRequest, timeoutMs: number): Promise<Record<string, unknown>> {
    if (!this.online) return Promise.reject(new PrintbridgeError('DEVICE_OFFLINE', this.serial));
    const query: Record<string, string | null> = {};
    for (const name of request.get ?? []) query[name] = null;
    for (const [name, value] of Object.entries(request.set ?? {})) query[name] = value;
    return new Promise((resolve, reject) => {
      const pending: PendingSgd = {
        body: Buffer.from(`{}${JSON.stringify(query)}`, 'utf8'), resolve, reject, retried: false, cancelTimer: () => {},
      };
      pending.cancelTimer = this.deps.clock.after(timeoutMs, () => {
        const at = this.sgdQueue.indexOf(pending);
        if (at >= 0) this.sgdQueue.splice(at, 1);
        if (this.sgdInFlight === pending) {
          this.sgdInFlight = undefined;
          this.channels.get(CONFIG_CHANNEL)?.close(CLOSE.NORMAL.code, 'SGD answer overdue');
        }
        reject(new PrintbridgeError('TIMEOUT', `printer ${this.serial} did not answer the SGD request within ${timeoutMs} ms`));
      });
      this.sgdQueue.push(pending);
      this.pumpSgd();
    });
  }

  get sgdWaiting(): number {
    return this.sgdQueue.length + (this.sgdInFlight === undefined ? 0 : 1);
  }

  private pumpSgd(): void {
    if (this.sgdInFlight !== undefined || this.sgdQueue.length === 0) return;
    const config = this.channels.get(CONFIG_CHANNEL);
    if (config === undefined) return this.ask(CONFIG_CHANNEL);
    const next = this.sgdQueue.shift() as PendingSgd;
    this.sgdInFlight = next;
    config.send(next.body);
  }

  // ---- from the core ---------------------------------------------------------

  private fromCore(text: string): void {
    const decoded = decodeServerMessage(text);
    if (!decoded.ok) return this.fail(`the core sent a message the device protocol refuses: ${decoded.error.message}`);
    const m: ServerMessage = decoded.value;
    switch (m.t) {
      case 'welcome':
      case 'pong':
        return;
      case 'ping':
        return this.toCore({ t: 'pong' });
      case 'job.start':
        return this.startJob(m);
      case 'job.cancel':
        return this.cancelJob(m.id);
      case 'job.pause':
        // ~PP stops printing after the current label; ~PS goes on.
        if (this.job?.id === m.id) this.channels.get(RAW_CHANNEL)?.send(Buffer.from('~PP', 'latin1'));
        return;
      case 'job.resume':
        if (this.job?.id === m.id) this.channels.get(RAW_CHANNEL)?.send(Buffer.from('~PS', 'latin1'));
        return;
      case 'control':
        return this.toCore({ t: 'control.result', ref: m.ref, ok: false, code: 'UNSUPPORTED', message: 'a Weblink printer takes no controls; use printer.sgd' });
      case 'error':
        return void this.deps.log('warn', 'core reported an error to a Weblink printer', { printer: this.serial, code: m.code, message: m.message });
    }
  }

  private startJob(m: Extract<ServerMessage, { t: 'job.start' }>): void {
    this.job = {
      id: m.id, stream: m.stream, size: m.size, accepted: false, sent: 0, written: 0, pending: [], formats: 0, tail: '', completed: 0, overdue: false,
      waitTimer: undefined, asking: false, unanswered: 0, paused: undefined,
    };
    this.reportStatus();
    if (this.channels.has(RAW_CHANNEL)) this.rawReady();
    else this.ask(RAW_CHANNEL);
  }

  private cancelJob(id: string): void {
    const job = this.job;
    if (job?.id !== id) return;
    this.endJob(job);
    // ~JA drops every format the printer still holds: the canceled job's, and nothing else is sent meanwhile.
    this.channels.get(RAW_CHANNEL)?.send(Buffer.from('~JA', 'latin1'));
    this.reportStatus();
  }

  private data(bytes: Uint8Array): void {
    const job = this.job;
    const frame = decodeDataFrame(bytes, MAX_CHUNK);
    if (!frame.ok || job === undefined || frame.frame.stream !== job.stream) return;
    const chunk = Buffer.from(frame.frame.payload);
    if (frame.frame.offset !== job.sent + job.pending.reduce((n, b) => n + b.length, 0)) {
      return this.fail(`job data for ${job.id} out of order at ${frame.frame.offset}`);
    }
    const text = job.tail + chunk.toString('latin1');
    job.formats += text.match(/\^XZ/gi)?.length ?? 0;
    job.tail = text.slice(-2);
    const raw = this.channels.get(RAW_CHANNEL);
    if (raw === undefined) job.pending.push(chunk);
    else this.write(job, raw, chunk);
  }

  private write(job: Job, raw: Link, chunk: Buffer): void {
    job.sent += chunk.length;
    raw.send(chunk, (err) => {
      if (err !== undefined && err !== null) return;
      if (this.job !== job) return;
      job.written += chunk.length;
      this.toCore({ t: 'job.ack', id: job.id, written: job.written });
      this.maybeConfirm();
    });
  }

  private rawReady(): void {
    const job = this.job;
    const raw = this.channels.get(RAW_CHANNEL);
    if (job === undefined || raw === undefined) return;
    if (!job.accepted) {
      job.accepted = true;
      this.toCore({ t: 'job.accept', id: job.id, received: 0, written: 0, fresh: true });
    }
    const pending = job.pending.splice(0);
    for (const chunk of pending) this.write(job, raw, chunk);
    // A fault that was already there when the job started holds it too.
    this.reportJobHold();
    this.maybeConfirm();
  }

  private rawLost(): void {
    const job = this.job;
    if (job === undefined) return;
    if (job.sent > 0) {
      return this.failJob(job, 'JOB_INTERRUPTED', `the raw channel closed after ${job.sent} of ${job.size} bytes went out, before the printer confirmed the job`);
    }
    this.ask(RAW_CHANNEL);
  }

  /** The job is over here, whatever its outcome: its timers stop. */
  private endJob(job: Job): void {
    if (this.job !== job) return;
    this.job = undefined;
    job.waitTimer?.();
    job.waitTimer = undefined;
    this.pollTimer?.();
    this.pollTimer = undefined;
  }

  private failJob(job: Job, code: 'JOB_INTERRUPTED' | 'PRINTER_UNREACHABLE', message: string): void {
    this.endJob(job);
    this.toCore({ t: 'job.fail', id: job.id, code, message });
    this.reportStatus();
  }

  /**
   * All bytes written and every format reported printed, or the reports
   * still missing overdue: ask ~HS whether the printer holds anything more.
   */
  private maybeConfirm(): void {
    const job = this.job;
    if (job === undefined || job.written < job.size || job.asking) return;
    if (job.completed < job.formats && !job.overdue) {
      job.waitTimer ??= this.deps.clock.after(this.timing.completedWaitMs, () => {
        job.waitTimer = undefined;
        if (this.job !== job) return;
        this.deps.log('warn', 'weblink job completion alerts overdue; asking the printer', { printer: this.serial, job: job.id, formats: job.formats, completed: job.completed });
        job.overdue = true;
        this.maybeConfirm();
      });
      return;
    }
    const raw = this.channels.get(RAW_CHANNEL);
    if (raw === undefined) return;
    job.asking = true;
    job.unanswered += 1;
    raw.send(Buffer.from(HOST_STATUS_QUERY, 'latin1'));
    // A printer in a fault (head open, paper out…) does not answer ~HS at all.
    this.askAgainIn(job, this.timing.hostStatusRetryMs);
  }

  /** Asks ~HS again after `ms`, unless the job is over by then; gives up on a printer silent for no known reason. */
  private askAgainIn(job: Job, ms: number): void {
    this.pollTimer?.();
    this.pollTimer = this.deps.clock.after(ms, () => {
      if (this.job !== job) return;
      job.asking = false;
      // A known stopping condition explains the silence: only silence without one counts.
      if (job.paused !== undefined) job.unanswered = 0;
      else if (job.unanswered >= this.timing.hostStatusTries) {
        return this.failJob(job, 'JOB_INTERRUPTED', `the printer did not answer ~HS ${job.unanswered} times after the job's last byte, so it never confirmed the job`);
      }
      this.maybeConfirm();
    });
  }

  private hostStatusAnswer(status: HostStatus): void {
    const job = this.job;
    if (job === undefined || !job.asking) return;
    job.unanswered = 0;
    if (status.formatsInBuffer === 0 && status.labelsRemaining === 0) {
      if (job.completed < job.formats) {
        this.deps.log('warn', 'weblink job confirmed by ~HS without all its completion alerts', { printer: this.serial, job: job.id, formats: job.formats, completed: job.completed });
      }
      this.endJob(job);
      this.toCore({ t: 'job.done', id: job.id });
      this.reportStatus();
      return;
    }
    // Still printing what it was sent: ask again shortly.
    this.askAgainIn(job, this.timing.hostStatusPollMs);
  }

  /** A stopping condition holds the job on the printer; its clearing lets it go on. */
  private reportJobHold(): void {
    const job = this.job;
    if (job === undefined || !job.accepted) return;
    const stop = this.conditions.stopping();
    if (stop === job.paused) return;
    job.paused = stop;
    const code: ErrorCode = 'PRINTER_ERROR';
    if (stop === undefined) this.toCore({ t: 'job.state', id: job.id, state: 'printing' });
    else this.toCore({ t: 'job.state', id: job.id, state: 'paused', code, message: `${ERRORS[code].text}: ${stop.toLowerCase()}` });
  }

  private reportStatus(): void {
    const state: PrinterState = this.conditions.state(this.job === undefined ? 'online' : 'busy');
    const led = state === 'online' ? 'online' : state === 'busy' ? 'printing' : 'printer-error';
    this.toCore({
      t: 'status', ports: [{ port: 0, state, detail: this.conditions.detail()?.slice(0, 256), job: this.job?.id }], led,
      uptime: Math.floor((this.deps.clock.now() - this.since) / 1000),
    });
  }

  // ---- links -----------------------------------------------------------------

  /** Asks the printer on main for a channel, and again every channelRetryMs until it comes, channelAsks times at most. */
  private ask(name: ChannelName): void {
    if (this.closed || this.asked.has(name) || this.channels.has(name)) return;
    const asks = (this.asks.get(name) ?? 0) + 1;
    if (asks > this.timing.channelAsks) return this.neverOpened(name, asks - 1);
    this.asks.set(name, asks);
    this.main.send(jsonFrame({ open: name }));
    this.asked.set(name, this.deps.clock.after(this.timing.channelRetryMs, () => {
      this.asked.delete(name);
      const stillNeeded = name === RAW_CHANNEL ? this.job !== undefined : this.sgdWaiting > 0;
      if (stillNeeded) this.ask(name);
      else this.asks.delete(name);
    }));
  }

  /** The printer did not open a channel asked for `asks` times: what waits for it fails, and the next need asks afresh. */
  private neverOpened(name: ChannelName, asks: number): void {
    this.asks.delete(name);
    const why = `the printer did not open its ${name} channel, asked ${asks} times`;
    this.deps.log('warn', 'weblink channel never opened', { printer: this.serial, channel: name, asks });
    if (name === RAW_CHANNEL) {
      const job = this.job;
      // Without a raw channel no byte of the job went out.
      if (job !== undefined) this.failJob(job, 'PRINTER_UNREACHABLE', why);
      return;
    }
    for (const p of this.sgdQueue.splice(0)) {
      p.cancelTimer();
      p.reject(new PrintbridgeError('PRINTER_UNREACHABLE', why));
    }
  }

  private ping(): void {
    this.main.ping();
    for (const link of this.channels.values()) {
      // A channel silent for a whole round is dead (half-open): drop it, it is reopened when needed.
      if (this.silent.has(link)) {
        link.terminate();
        continue;
      }
      this.silent.add(link);
      link.ping();
    }
  }

  private shut(code: number, reason: string): void {
    this.teardown(code, reason);
    this.main.close(code, reason);
  }

  private terminate(): void {
    this.teardown(CLOSE.HEARTBEAT.code, CLOSE.HEARTBEAT.text);
    this.main.terminate();
  }

  private teardown(code: number, reason: string): void {
    if (this.closed) return;
    this.closed = true;
    for (const cancel of this.asked.values()) cancel();
    this.asked.clear();
    this.job?.waitTimer?.();
    this.pollTimer?.();
    this.flushing?.();
    this.outbox.length = 0;
    for (const link of this.channels.values()) link.close(code, reason);
    this.channels.clear();
    const waiting = this.sgdInFlight === undefined ? this.sgdQueue.splice(0) : [this.sgdInFlight, ...this.sgdQueue.splice(0)];
    this.sgdInFlight = undefined;
    for (const p of waiting) {
      p.cancelTimer();
      p.reject(new PrintbridgeError('DEVICE_OFFLINE', `${this.serial} went away before answering`));
    }
  }

  // ---- to the core -----------------------------------------------------------

  private toCore(m: DeviceMessage): void {
    if (this.closed) return;
    this.outbox.push(m);
    this.flushing ??= this.deps.clock.after(0, () => {
      this.flushing = undefined;
      for (const next of this.outbox.splice(0)) {
        if (this.closed || this.session.phase === 'closed') return;
        // Through the same decoder as a bridge's messages, so that a message
        // built wrong here fails loudly instead of being half understood.
        const decoded = decodeDeviceMessage(encodeDeviceMessage(next));
        if (!decoded.ok) return this.fail(`built a device message the protocol refuses: ${decoded.error.message}`);
        try {
          this.session.text(decoded);
        } catch (e) {
          return this.fail(e instanceof Error ? e.stack ?? e.message : String(e));
        }
      }
    });
  }

  /** Our own mistake: logged, and this printer's connections closed, so that the server goes on serving everyone else. */
  private fail(what: string): void {
    this.deps.log('error', 'weblink printer failed', { printer: this.serial, error: what });
    this.session.close(CLOSE.INTERNAL);
  }
}
