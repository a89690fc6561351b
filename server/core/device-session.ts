// One device connection, from the authenticated upgrade to the close.
//
//   hello ──valid hello──▶ online ──socket gone / we close / replaced──▶ closed
//     │
//     └─ anything else, or nothing within helloTimeoutMs ─▶ closed (HELLO_TIMEOUT,
//        VERSION for another major, POLICY for a hello naming another id)
//
// Online, bad input is answered with an error message and the connection
// stays up; the (maxProtocolErrors + 1)th error closes it with PROTOCOL.
// Every message first takes a token from the connection's bucket
// (deviceMessageRate, deviceMessageBurst): over it, messages are refused
// unread, the first of a run with one RATE_LIMITED error, and a run as long
// as the burst closes the connection with 4008 RATE_LIMITED, so a flood
// costs the server a counter per message. Each job data frame sent to the
// device gives a token back (up to the burst): a device acks every quarter
// window, several frames, so however fast a printer takes a job, its
// device's acks are never refused. The transport decodes and
// reports; everything decided about a device connection is decided here.

import { encodeServerMessage, type DeviceMessage, type PortInfo, type PortStatus, type LedPattern, type ServerMessage } from '../../protocol/device-messages.js';
import { CLOSE, ERRORS, protocolError, type ProtocolError } from '../../protocol/errors.js';
import type { Decoded } from '../../protocol/fields.js';
import { PROTOCOL_MAJOR, PROTOCOL_VERSION, compatible } from '../../protocol/version.js';
import type { DeviceView, PrinterView } from '../../protocol/client-messages.js';
import type { Limits } from '../limits.js';
import type { Store } from '../store/db.js';
import { recordHelloLater, touchDeviceLater } from '../store/devices.js';
import type { Cancel, Clock, Log } from './context.js';
import type { EventBus } from './events.js';
import type { Heartbeat } from './heartbeat.js';
import type { LogBurst } from './log-burst.js';
import type { Peer, SharedText } from './peer.js';
import type { Registry } from './registry.js';
import { Interned } from '../interned.js';
import { TokenBucket } from './token-bucket.js';

type CloseEntry = (typeof CLOSE)[keyof typeof CLOSE];
type Msg<T extends DeviceMessage['t']> = Extract<DeviceMessage, { t: T }>;

/** The job queues a session feeds with what its device says of jobs (jobs.ts). */
export interface JobFeed {
  /** The device said hello: offer it the head of each of its queues. */
  offerAll(session: DeviceSession): void;
  /** The socket drained: job data may flow again. */
  pumpSession(session: DeviceSession): void;
  /** The session ended or was replaced: its jobs wait for the device. */
  detach(session: DeviceSession): void;
  accept(session: DeviceSession, m: Msg<'job.accept'>): void;
  ack(session: DeviceSession, m: Msg<'job.ack'>): void;
  done(session: DeviceSession, m: Msg<'job.done'>): void;
  fail(session: DeviceSession, m: Msg<'job.fail'>): void;
  printerState(session: DeviceSession, m: Msg<'job.state'>): void;
}

/** Where a device's answers to control messages go (router.ts). */
export interface ControlResults {
  result(device: string, m: Msg<'control.result'>): void;
  /** The device really went offline (not replaced): what waits for its answer is reported offline. */
  deviceOffline(device: string): void;
}

/**
 * Which node holds a device, when several share the store (cluster/cluster.ts):
 * claimed at welcome, before any job is offered, and released when the
 * connection ends, after its jobs were detached.
 */
export interface DeviceOwnership {
  /**
   * Makes this node the device's holder, then calls `then` (at once, or
   * once stored together with other claims), which answers false when the
   * connection closed meanwhile: what was claimed for it is released.
   */
  claim(session: DeviceSession, then: () => boolean): void;
  /** Returns true when another node holds the device now: it moved on, and is not offline. */
  release(session: DeviceSession): boolean;
}

/** One node alone: nothing to claim. */
export const SOLE_NODE: DeviceOwnership = { claim: (_session, then) => void then(), release: () => false };

/** How subscribers see a device and its printers (views.ts), built only when one listens. */
export interface DeviceViews {
  deviceOf(session: DeviceSession): DeviceView;
  printer(session: DeviceSession, port: PortInfo): PrinterView;
}

/**
 * Everything a device session uses, and nothing more. The composition root
 * (hub.ts) builds one for all sessions: a server holds 20,000 of them, and
 * each keeps one reference to it.
 */
export interface DeviceSessionDeps {
  readonly store: Store;
  readonly clock: Clock;
  readonly log: Log;
  readonly limits: Pick<Limits, 'deviceMessageRate' | 'deviceMessageBurst' | 'maxClientBuffer' | 'maxProtocolErrors'>;
  readonly helloTimeoutMs: number;
  /** The heartbeat interval, told to the device in its welcome. */
  readonly heartbeatMs: number;
  readonly heartbeat: Pick<Heartbeat, 'add' | 'life' | 'remove'>;
  /** Online sessions by device id; the newest connection of an id wins. */
  readonly registry: Pick<Registry<DeviceSession>, 'register' | 'unregister'>;
  readonly ownership: DeviceOwnership;
  /** Every open device connection, hello said or not; a session leaves it when it closes or is replaced. */
  readonly connections: { delete(session: DeviceSession): unknown };
  readonly jobs: JobFeed;
  readonly controls: ControlResults;
  readonly events: Pick<EventBus, 'emitHeard'>;
  readonly views: DeviceViews;
  /** Comings and goings, one line each until a fleet comes and goes at once (log-burst.ts). */
  readonly lines: { readonly online: Pick<LogBurst, 'line'>; readonly offline: Pick<LogBurst, 'line'>; readonly replaced: Pick<LogBurst, 'line'> };
}

const NO_STATUS: ReadonlyMap<number, PortStatus> = new Map();
/** Port lists as devices report them, one copy of each (most devices of a kind report the same). */
const SAME_PORTS = new Interned<readonly PortInfo[]>(1000);
/** Shared by every session whose device names no capability (most): a server holds 20,000 of them. */
const NO_CAPS: readonly string[] = Object.freeze([]);

export interface HelloInfo {
  readonly fw: string;
  readonly caps: readonly string[];
  readonly window: number;
  readonly maxChunk: number;
  readonly ports: readonly PortInfo[];
}

/** What a message that failed to decode still said about itself. */
export interface Claim {
  /** It called itself a hello, of this major version if it named one. */
  readonly hello?: { readonly major: number | undefined } | undefined;
  /** It called itself a control.result for this ref: that control is answered as failed, not left to time out. */
  readonly controlRef?: string | undefined;
}

export class DeviceSession {
  phase: 'hello' | 'claiming' | 'online' | 'closed' = 'hello';
  info: HelloInfo | undefined;
  /** Made at the first status: most of a large fleet's sessions never need more than the empty one. */
  private statuses: Map<number, PortStatus> | undefined;
  led: LedPattern | undefined;
  uptime: number | undefined;
  heap: number | undefined;
  rssi: number | undefined;
  lastSeen: number;
  private streamSeq = 0;
  private errors = 0;
  private readonly bucket: TokenBucket;
  /** Messages refused in a row for want of tokens. */
  private refused = 0;
  private cancelHelloTimer: Cancel | undefined;

  get portStatus(): ReadonlyMap<number, PortStatus> {
    return this.statuses ?? NO_STATUS;
  }

  constructor(
    private readonly deps: DeviceSessionDeps,
    readonly id: string,
    readonly peer: Peer,
    readonly address: string | undefined,
  ) {
    this.lastSeen = deps.clock.now();
    this.bucket = new TokenBucket(deps.limits.deviceMessageRate, deps.limits.deviceMessageBurst, this.lastSeen);
    deps.heartbeat.add(peer);
    this.cancelHelloTimer = deps.clock.after(deps.helloTimeoutMs, () => {
      if (this.phase !== 'hello') return;
      deps.log('info', 'device sent no hello in time', { device: id });
      this.close(CLOSE.HELLO_TIMEOUT);
    });
  }

  /**
   * Whether the next message may be read at all; the transport asks before
   * it decodes one. A refused message is dropped unread.
   */
  admit(): boolean {
    if (this.phase === 'closed') return false;
    if (this.bucket.take(this.deps.clock.now())) {
      this.refused = 0;
      return true;
    }
    this.refused += 1;
    if (this.refused === 1) {
      this.deps.log('warn', 'device sends faster than its rate limit', { device: this.id, rate: this.deps.limits.deviceMessageRate });
      this.send({ t: 'error', code: 'RATE_LIMITED', message: `${ERRORS.RATE_LIMITED.text}: more than ${this.deps.limits.deviceMessageRate} messages a second` });
    } else if (this.refused > this.deps.limits.deviceMessageBurst) {
      this.deps.log('warn', 'device closed for flooding', { device: this.id, refused: this.refused });
      this.close(CLOSE.RATE_LIMITED);
      this.peer.stopReading?.();
    }
    return false;
  }

  /** A text message arrived. `claim` is what it said about itself when it failed to decode. */
  text(decoded: Decoded<DeviceMessage>, claim?: Claim): void {
    if (this.phase === 'closed') return;
    this.life();
    if (this.phase === 'hello') return this.expectHello(decoded, claim?.hello);
    if (this.phase === 'claiming') return;
    if (decoded.ok) return this.dispatch(decoded.value);
    if (claim?.controlRef !== undefined) {
      this.deps.controls.result(this.id, { t: 'control.result', ref: claim.controlRef, ok: false, code: decoded.error.code, message: decoded.error.message });
    }
    this.reject(decoded.error);
  }

  binary(): void {
    if (this.phase === 'closed') return;
    this.life();
    if (this.phase === 'hello') return this.refuse(protocolError('HELLO_REQUIRED'), CLOSE.HELLO_TIMEOUT);
    if (this.phase === 'claiming') return;
    this.reject(protocolError('BINARY_NOT_EXPECTED'));
  }

  /** Any sign of the peer (a message, a pong) proves the connection alive. */
  life(): void {
    this.lastSeen = this.deps.clock.now();
    this.deps.heartbeat.life(this.peer);
  }

  /** A job data frame went to the device: the ack it may cause is paid for. */
  dataSent(): void {
    this.bucket.give();
  }

  /** The transport's send buffer drained: job data may flow again. */
  writable(): void {
    if (this.phase === 'online') this.deps.jobs.pumpSession(this);
  }

  /** The socket is gone, whoever closed it. */
  gone(): void {
    this.teardown();
  }

  servesPort(port: number): boolean {
    return this.info?.ports.some((p) => p.port === port) ?? false;
  }

  /** Stream numbers name a job's data frames on this connection; they wrap at 16 bits. */
  nextStream(): number {
    const s = this.streamSeq;
    this.streamSeq = (this.streamSeq + 1) & 0xffff;
    return s;
  }

  send(m: ServerMessage): void {
    this.sendText(encodeServerMessage(m));
  }

  sendText(text: string | SharedText): void {
    if (this.phase === 'closed') return;
    const buffered = this.peer.bufferedAmount();
    if (buffered > this.deps.limits.maxClientBuffer) {
      this.deps.log('warn', 'device does not read fast enough', { device: this.id, buffered });
      return this.close(CLOSE.SLOW_CONSUMER);
    }
    if (typeof text === 'string') this.peer.sendText(text);
    else if (this.peer.sendShared !== undefined) this.peer.sendShared(text);
    else this.peer.sendText(text.text);
  }

  /**
   * Answers bad input and closes the connection once it has caused too many
   * errors. Every error counts, whatever its blame: each answers something
   * this device sent (a job it names that never existed is its mistake too),
   * and a device that keeps making them only costs the server work.
   */
  reject(error: ProtocolError): void {
    this.send({ t: 'error', code: error.code, message: error.message });
    this.errors += 1;
    if (this.errors > this.deps.limits.maxProtocolErrors) {
      this.deps.log('warn', 'device closed after too many protocol errors', { device: this.id, last: error.code });
      this.close(CLOSE.PROTOCOL);
    }
  }

  /** A newer connection of the same device said hello: step aside without marking the device offline. */
  replaced(): void {
    if (this.phase === 'closed') return;
    this.phase = 'closed';
    this.cancelHelloTimer?.();
    this.deps.connections.delete(this);
    this.deps.heartbeat.remove(this.peer);
    this.deps.jobs.detach(this);
    this.deps.lines.replaced.line({ device: this.id });
    this.peer.close(CLOSE.REPLACED.code, CLOSE.REPLACED.text);
  }

  close(entry: CloseEntry): void {
    this.teardown();
    this.peer.close(entry.code, entry.text);
  }

  private refuse(error: ProtocolError, entry: CloseEntry): void {
    this.send({ t: 'error', code: error.code, message: error.message });
    this.close(entry);
  }

  private expectHello(decoded: Decoded<DeviceMessage>, claim: Claim['hello']): void {
    // A newer major may shape its hello differently; it still gets the VERSION close.
    if (claim?.major !== undefined && claim.major !== PROTOCOL_MAJOR) {
      return this.refuse(protocolError('VERSION_UNSUPPORTED', `device speaks ${claim.major}, server ${PROTOCOL_MAJOR}`), CLOSE.VERSION);
    }
    if (!decoded.ok) {
      // A hello with a bad field is answered with what was wrong with it.
      const error = claim !== undefined ? decoded.error : protocolError('HELLO_REQUIRED');
      return this.refuse(error, CLOSE.HELLO_TIMEOUT);
    }
    const m = decoded.value;
    if (m.t !== 'hello') return this.refuse(protocolError('HELLO_REQUIRED', `got ${m.t}`), CLOSE.HELLO_TIMEOUT);
    if (!compatible(m.v)) {
      return this.refuse(protocolError('VERSION_UNSUPPORTED', `device speaks ${m.v[0]}, server ${PROTOCOL_MAJOR}`), CLOSE.VERSION);
    }
    if (m.id !== this.id) return this.refuse(protocolError('BAD_FIELD', 'hello id differs from the id the connection authenticated as'), CLOSE.POLICY);
    this.online(m);
  }

  private online(m: Extract<DeviceMessage, { t: 'hello' }>): void {
    const { deps } = this;
    this.cancelHelloTimer?.();
    this.cancelHelloTimer = undefined;
    const unique: PortInfo[] = [];
    for (const p of m.ports) {
      if (!unique.some((q) => q.port === p.port)) unique.push(p);
    }
    // Read-only from here on, and the same as many other devices' (HelloInfo.ports).
    const portsJson = JSON.stringify(unique);
    const ports = SAME_PORTS.of(portsJson, unique);
    this.info = { fw: m.fw, caps: m.caps.length === 0 ? NO_CAPS : m.caps, window: m.window, maxChunk: m.maxChunk, ports };
    // Written behind; new ports are on disk before any job for them is (insertJob).
    recordHelloLater(deps.store, this.id, { fw: m.fw, ports, address: this.address }, deps.clock.now(), portsJson);
    this.welcome(this.info);
  }

  private welcome(info: HelloInfo): void {
    // First: no job of the device is offered, and no other node's older
    // connection is trusted, until this node holds it. Meanwhile the
    // session takes no message (a device sends none before its welcome).
    this.phase = 'claiming';
    this.deps.ownership.claim(this, () => {
      if (this.phase !== 'claiming') return false;
      this.welcomed(info);
      return true;
    });
  }

  private welcomed(info: HelloInfo): void {
    const { deps } = this;
    this.phase = 'online';
    deps.registry.register(this)?.replaced();
    this.send({ t: 'welcome', v: PROTOCOL_VERSION, hb: deps.heartbeatMs, time: deps.clock.now() });
    deps.lines.online.line({ device: this.id, fw: info.fw, ports: info.ports.length, address: this.address });
    deps.events.emitHeard('device.online', () => ({ event: 'device.online', device: deps.views.deviceOf(this) }));
    for (const port of info.ports) deps.events.emitHeard('printer.status', () => ({ event: 'printer.status', printer: deps.views.printer(this, port) }));
    deps.jobs.offerAll(this);
  }

  private dispatch(m: DeviceMessage): void {
    const { deps } = this;
    switch (m.t) {
      case 'hello':
        return this.reject(protocolError('BAD_MESSAGE', 'hello was already received on this connection'));
      case 'ping':
        return this.send({ t: 'pong' });
      case 'pong':
        return;
      case 'job.accept':
        return deps.jobs.accept(this, m);
      case 'job.ack':
        return deps.jobs.ack(this, m);
      case 'job.done':
        return deps.jobs.done(this, m);
      case 'job.fail':
        return deps.jobs.fail(this, m);
      case 'job.state':
        return deps.jobs.printerState(this, m);
      case 'status':
        return this.status(m);
      case 'control.result':
        return deps.controls.result(this.id, m);
      case 'error':
        deps.log('warn', 'device reported an error', { device: this.id, code: m.code, message: m.message });
        return;
    }
  }

  private status(m: Extract<DeviceMessage, { t: 'status' }>): void {
    const { deps } = this;
    this.led = m.led;
    this.uptime = m.uptime;
    this.heap = m.heap;
    this.rssi = m.rssi;
    const changed: number[] = [];
    for (const s of m.ports) {
      if (!this.servesPort(s.port)) continue;
      this.statuses ??= new Map();
      const before = this.statuses.get(s.port);
      if (before?.state !== s.state || before.detail !== s.detail || before.job !== s.job || !sameTemps(before.temps, s.temps)) changed.push(s.port);
      this.statuses.set(s.port, s);
    }
    deps.events.emitHeard('device.status', () => ({ event: 'device.status', device: deps.views.deviceOf(this) }));
    for (const info of this.info?.ports ?? []) {
      if (changed.includes(info.port)) deps.events.emitHeard('printer.status', () => ({ event: 'printer.status', printer: deps.views.printer(this, info) }));
    }
  }

  private teardown(): void {
    if (this.phase === 'closed') return;
    const { deps } = this;
    const wasOnline = this.phase === 'online';
    this.phase = 'closed';
    this.cancelHelloTimer?.();
    deps.connections.delete(this);
    deps.heartbeat.remove(this.peer);
    if (!wasOnline || !deps.registry.unregister(this)) return;
    deps.jobs.detach(this);
    const movedOn = deps.ownership.release(this);
    deps.controls.deviceOffline(this.id);
    touchDeviceLater(deps.store, this.id, this.lastSeen);
    // Online at another node now, which said so: not offline to anyone.
    if (movedOn) return;
    deps.lines.offline.line({ device: this.id });
    deps.events.emitHeard('device.offline', () => ({ event: 'device.offline', device: deps.views.deviceOf(this) }));
    for (const info of this.info?.ports ?? []) deps.events.emitHeard('printer.status', () => ({ event: 'printer.status', printer: deps.views.printer(this, info) }));
  }
}

function sameTemps(a: PortStatus['temps'], b: PortStatus['temps']): boolean {
  if (a === undefined || b === undefined) return a === b;
  return a.length === b.length && a.every((t, i) => t.name === b[i]?.name && t.current === b[i]?.current && t.target === b[i]?.target);
}
