// The device core: link + one spool per printer port + LED model + control
// messages, as one `handle(event, now) → effects` machine (see types.ts for
// the host contract). Everything the server says is decoded here; anything
// malformed becomes an error message back to the server, never an exception,
// so a bad frame cannot stop the host's main loop.

import {
  decodeServerMessage, encodeDeviceMessage, LED_PATTERNS, PORTS_MAX,
  type DeviceMessage, type LedPattern, type ServerMessage,
} from '../../protocol/device-messages.js';
import { protocolError, type ErrorCode } from '../../protocol/errors.js';
import { decodeDataFrame } from '../../protocol/frames.js';
import { compatible, DEFAULT_MAX_CHUNK, DEFAULT_WINDOW, PROTOCOL_VERSION } from '../../protocol/version.js';
import type { Obj } from '../../protocol/fields.js';
import { TROUBLE, type DialectSet } from './dialects/dialect.js';
import { createDialect, missingReason } from './dialects/registry.js';
import { ledPattern } from './leds.js';
import { DEFAULT_TIMINGS, Link, parseServers, serversProblem } from './link.js';
import { PortSpool, type Send } from './spooler.js';
import type { DeviceConfig, DeviceCore, DeviceEffect, DeviceEvent, DeviceSnapshot, LinkState } from './types.js';

const DEFAULT_STATUS_INTERVAL = 60_000;
const IDENTIFY_DEFAULT_S = 10;
const IDENTIFY_MAX_S = 300;
const SETTING_MAX = 256;
const BAD_SECONDS = `seconds must be 1..${IDENTIFY_MAX_S}`;
/** The host's control messages (hostControls) one session may have unanswered at once; more are RATE_LIMITED. */
export const HOST_CONTROLS_MAX = 4;

export interface DeviceOptions {
  /** [0, 1) like Math.random; drives backoff jitter. */
  readonly random: () => number;
  /**
   * The dialect drivers this build carries. A port whose dialect is not
   * among them is reported at boot and stays in error (see dialects/registry.ts).
   */
  readonly dialects: DialectSet;
}

export function createDevice(config: DeviceConfig, opts: DeviceOptions): DeviceCore {
  return new Device(config, opts);
}

class Device implements DeviceCore {
  private readonly link: Link;
  private readonly spools: PortSpool[];
  private readonly ackStep: number;
  /** Refs of this session's control messages the host has yet to answer. */
  private readonly hostAsked = new Set<string>();
  private readonly window: number;
  private readonly maxChunk: number;
  private readonly statusInterval: number;
  /** The servers the link tries in turn (the server setting, parsed). */
  private servers: readonly string[];
  private token: string;
  private network = false;
  private led: LedPattern = 'off';
  private identifyUntil: number | undefined;
  private override: { pattern: LedPattern; until: number | undefined } | undefined;
  private nextStatus: number | undefined;
  private statusDirty = false;
  private bootAt: number | undefined;
  private heap: number | undefined;
  private rssi: number | undefined;
  private readonly reported: string[] = [];
  /** Boot complaints: ports whose dialect this build does not carry, server entries that are no URL. */
  private readonly missing: string[] = [];

  constructor(private readonly config: DeviceConfig, private readonly opts: DeviceOptions) {
    this.servers = this.serverSetting(config.server);
    this.token = config.token;
    this.window = config.window ?? DEFAULT_WINDOW;
    this.maxChunk = config.maxChunk ?? DEFAULT_MAX_CHUNK;
    this.statusInterval = config.statusInterval ?? DEFAULT_STATUS_INTERVAL;
    this.ackStep = Math.max(1, Math.floor(this.window / 4));
    // Told at boot, with the other complaints.
    this.spools = config.ports.map((p) => this.newSpool(p, (m) => this.missing.push(m)));
    this.link = new Link({ ...DEFAULT_TIMINGS, ...config.timings }, opts.random, {
      servers: () => this.servers,
      url: (server) => `${server}/v1/device?id=${encodeURIComponent(this.config.id)}`,
      token: () => this.token,
      id: () => this.config.id,
    });
  }

  handle(event: DeviceEvent, now: number): DeviceEffect[] {
    const out: DeviceEffect[] = [];
    if (this.bootAt === undefined) this.bootAt = now;
    const send: Send = (m) => this.send(m, out);
    switch (event.type) {
      case 'boot':
        out.push({ type: 'log', level: 'info', message: `device ${this.config.id} (${this.config.fw}) starting` });
        for (const message of this.missing) out.push({ type: 'log', level: 'error', message });
        break;
      case 'network':
        this.network = event.up;
        this.link.networkChanged(event.up, now, out);
        break;
      case 'ws.open':
        if (this.link.opened(now)) this.sendHello(out);
        break;
      case 'ws.text':
        this.link.received(now);
        this.onText(event.text, now, out, send);
        break;
      case 'ws.binary':
        this.link.received(now);
        this.onBinary(event.bytes, send);
        break;
      case 'ws.closed':
        // The link diagnoses why, logs it (rate-limited) and decides whether to come back.
        this.link.closed(event, now, out);
        break;
      case 'port.writable':
        this.spool(event.port)?.writable(event.room);
        break;
      case 'port.data':
        this.spool(event.port)?.input(event.bytes, now);
        break;
      case 'port.state':
        this.spool(event.port)?.hostState(event.state, event.detail, now);
        break;
      case 'port.verdict':
        this.spool(event.port)?.hostVerdict(event.job, event.ok, event.detail);
        break;
      case 'control.answer':
        // An answer for a session that has since ended has no one to go to.
        if (!this.hostAsked.delete(event.ref)) break;
        send(event.ok
          ? { t: 'control.result', ref: event.ref, ok: true, data: event.data }
          : { t: 'control.result', ref: event.ref, ok: false, code: event.code, message: event.message });
        break;
      case 'port.added':
        this.addPort(event.port, now, out);
        break;
      case 'host.stats':
        // The first figures go out at once; later ones ride on the periodic
        // report, since heap and RSSI wobble all the time.
        if ((this.heap === undefined && event.heap !== undefined) || (this.rssi === undefined && event.rssi !== undefined)) this.statusDirty = true;
        this.heap = event.heap;
        this.rssi = event.rssi;
        break;
      case 'tick':
        this.link.tick(now, out, () => send({ t: 'ping' }));
        break;
      default:
        event satisfies never;
    }
    const linkUp = this.link.state === 'online';
    this.spools.forEach((spool, i) => {
      spool.pump(out, send, now, linkUp);
      // Status goes out when state or detail change, or a heater target; temperatures otherwise ride the periodic report.
      const s = spool.status;
      const key = `${s.state}|${s.detail ?? ''}|${(s.temps ?? []).map((t) => `${t.name}${t.target ?? ''}`).join()}`;
      if (key !== this.reported[i]) {
        this.reported[i] = key;
        this.statusDirty = true;
      }
    });
    this.expire(now);
    this.updateLed(out);
    this.maybeSendStatus(now, send);
    return out;
  }

  nextDeadline(): number | undefined {
    let next = this.link.nextDeadline();
    const consider = (t: number | undefined): void => {
      if (t !== undefined && (next === undefined || t < next)) next = t;
    };
    consider(this.identifyUntil);
    consider(this.override?.until);
    for (const spool of this.spools) consider(spool.deadline());
    if (this.link.state === 'online') consider(this.nextStatus);
    return next;
  }

  linkState(): LinkState {
    return this.link.state;
  }

  snapshot(): DeviceSnapshot {
    return { link: this.link.state, server: this.link.server, attempt: this.link.attempt, problem: this.link.problem, led: this.led, ports: this.spools.map((s) => s.snapshot()) };
  }

  private spool(port: number): PortSpool | undefined {
    return this.spools.find((s) => s.port === port);
  }

  /** A port's spool; a dialect this build does not carry is told to `complain` (the port then stays in error). */
  private newSpool(p: DeviceConfig['ports'][number], complain: (message: string) => void): PortSpool {
    if (this.opts.dialects[p.dialect] === undefined) complain(`port ${p.port}: ${missingReason(this.opts.dialects, p.dialect)}`);
    return new PortSpool(p, createDialect(this.opts.dialects, p.dialect, p.poll, p), this.window, this.ackStep);
  }

  private addPort(p: DeviceConfig['ports'][number], now: number, out: DeviceEffect[]): void {
    if (this.spool(p.port) !== undefined || this.spools.length >= PORTS_MAX) {
      out.push({ type: 'log', level: 'error', message: `port ${p.port} not added: ${this.spools.length >= PORTS_MAX ? `a device has at most ${PORTS_MAX}` : 'that number is taken'}` });
      return;
    }
    this.spools.push(this.newSpool(p, (message) => out.push({ type: 'log', level: 'error', message })));
    this.reported.push('');
    // Only a hello tells the server of a new printer.
    this.link.restart(now, `printer ${p.port} added`, out);
  }

  private send(m: DeviceMessage, out: DeviceEffect[]): void {
    // Only hello may go out before the welcome; everything else waits for the
    // next session, where job state is re-established by job.start/accept.
    if (this.link.state !== 'online') return;
    out.push({ type: 'ws.send', data: encodeDeviceMessage(m) });
  }

  /**
   * What the message encoders get must be built here, never a module-level
   * constant: on XS, objects of preloaded modules live in flash and
   * JSON.stringify throws "read only value" on them. Hence the copies below.
   */
  private sendHello(out: DeviceEffect[]): void {
    const hello: DeviceMessage = {
      t: 'hello', v: [...PROTOCOL_VERSION], id: this.config.id, fw: this.config.fw, caps: [...(this.config.caps ?? []), ...(this.config.hostControls ?? [])],
      window: this.window, maxChunk: this.maxChunk,
      ports: this.spools.map((s) => ({ port: s.port, dialect: s.config.dialect, name: s.config.name, confirms: s.dialect.confirms || s.config.transport === 'spooler' })),
    };
    // A new session: what the host still works on for the last one is answered to nobody.
    this.hostAsked.clear();
    out.push({ type: 'ws.send', data: encodeDeviceMessage(hello) });
  }

  private onText(text: string, now: number, out: DeviceEffect[], send: Send): void {
    const decoded = decodeServerMessage(text);
    if (!decoded.ok) {
      out.push({ type: 'log', level: 'warn', message: `bad message from server: ${decoded.error.message}` });
      send({ t: 'error', code: decoded.error.code, message: decoded.error.message });
      return;
    }
    this.onMessage(decoded.value, now, out, send);
  }

  private onMessage(m: ServerMessage, now: number, out: DeviceEffect[], send: Send): void {
    switch (m.t) {
      case 'welcome':
        if (!compatible(m.v)) {
          this.link.wrongVersion(`the server speaks ${m.v[0]}.${m.v[1]}, this device ${PROTOCOL_VERSION[0]}.${PROTOCOL_VERSION[1]}`, now, out);
          return;
        }
        if (this.link.welcomed(now)) {
          out.push({ type: 'log', level: 'info', message: 'online' });
          this.statusDirty = true;
        }
        return;
      case 'ping':
        send({ t: 'pong' });
        return;
      case 'pong':
        return;
      case 'job.start': {
        const spool = this.spool(m.port);
        if (spool === undefined) {
          const e = protocolError('UNKNOWN_PRINTER', `port ${m.port}`);
          send({ t: 'job.fail', id: m.id, code: e.code, message: e.message });
          return;
        }
        spool.start(m.id, m.stream, m.size, m.resume === true, now, send, (message) => out.push({ type: 'log', level: 'warn', message }));
        this.statusDirty = true;
        return;
      }
      case 'job.pause':
      case 'job.resume':
        for (const spool of this.spools) spool.hold(m.id, m.t === 'job.pause');
        return;
      case 'job.cancel':
        for (const spool of this.spools) if (spool.cancel(m.id)) this.statusDirty = true;
        return;
      case 'control':
        this.onControl(m.ref, m.name, m.args, now, out, send);
        return;
      case 'error':
        out.push({ type: 'log', level: 'warn', message: `server reports ${m.code}: ${m.message}` });
        return;
      default:
        return m satisfies never;
    }
  }

  private onBinary(bytes: Uint8Array, send: Send): void {
    const decoded = decodeDataFrame(bytes, this.maxChunk);
    if (!decoded.ok) {
      send({ t: 'error', code: decoded.error.code, message: decoded.error.message });
      return;
    }
    // Frames of a job we no longer hold (canceled, or from before a resume)
    // are dropped quietly: the offsets in job.accept already told the server.
    for (const spool of this.spools) if (spool.data(decoded.frame, send)) return;
  }

  private onControl(ref: string, name: string, args: Obj, now: number, out: DeviceEffect[], send: Send): void {
    const fail = (code: ErrorCode, detail: string): void => {
      const e = protocolError(code, detail);
      send({ t: 'control.result', ref, ok: false, code: e.code, message: e.message });
    };
    const ok = (data?: Obj): void => send({ t: 'control.result', ref, ok: true, data });
    switch (name) {
      case 'identify': {
        const s = seconds(args['seconds'], IDENTIFY_DEFAULT_S);
        if (s === undefined) return fail('BAD_FIELD', BAD_SECONDS);
        this.identifyUntil = now + s * 1000;
        return ok();
      }
      case 'led': {
        const pattern = args['pattern'];
        if (pattern === 'auto') {
          this.override = undefined;
          return ok();
        }
        if (typeof pattern !== 'string' || !(LED_PATTERNS as readonly string[]).includes(pattern)) {
          return fail('BAD_FIELD', `pattern must be auto or one of ${LED_PATTERNS.join(', ')}`);
        }
        const s = args['seconds'] === undefined ? undefined : seconds(args['seconds'], 0);
        if (args['seconds'] !== undefined && s === undefined) return fail('BAD_FIELD', BAD_SECONDS);
        this.override = { pattern: pattern as LedPattern, until: s === undefined ? undefined : now + s * 1000 };
        return ok();
      }
      case 'status':
        return ok({ ...this.snapshot(), uptime: this.uptime(now) });
      case 'printer.command': {
        // {port, data, emergency?}: one line of G-code (emergency ones jump the queue), or raw bytes between jobs.
        const spool = typeof args['port'] === 'number' ? this.spool(args['port']) : undefined;
        const data = args['data'];
        if (spool === undefined) return fail('UNKNOWN_PRINTER', `port ${String(args['port']).slice(0, 16)}`);
        if (typeof data !== 'string' || data.length === 0 || data.length > 256) return fail('BAD_FIELD', 'data must be a string of 1..256 characters');
        spool.command(ref, data, args['emergency'] === true, now);
        return;
      }
      case 'restart':
        ok();
        out.push({ type: 'restart', reason: 'requested by server' });
        return;
      case 'config': {
        const settings: Record<string, string> = {};
        for (const [key, value] of Object.entries(args)) {
          // Settings keys must fit ESP32 NVS names (15 characters).
          if (!/^[a-z][a-zA-Z0-9_]{0,14}$/.test(key) || typeof value !== 'string' || value.length > SETTING_MAX) {
            return fail('BAD_FIELD', `${key.slice(0, 32)}: settings are short names with string values`);
          }
          settings[key] = value;
        }
        const server = settings['server'];
        const wrong = server === undefined ? undefined : serversProblem(server);
        if (wrong !== undefined) return fail('BAD_FIELD', `server: ${wrong}`);
        ok();
        out.push({ type: 'persist', settings });
        const token = settings['token'];
        if (server !== undefined || token !== undefined) {
          if (server !== undefined) this.servers = parseServers(server).urls;
          if (token !== undefined) this.token = token;
          this.link.restart(now, 'settings changed', out);
        }
        return;
      }
      default:
        if (!(this.config.hostControls ?? []).includes(name)) return fail('UNSUPPORTED', `control ${name.slice(0, 64)}`);
        if (this.hostAsked.size >= HOST_CONTROLS_MAX) return fail('RATE_LIMITED', `${HOST_CONTROLS_MAX} of this device's own control messages are still unanswered`);
        this.hostAsked.add(ref);
        out.push({ type: 'control', ref, name, args });
        return;
    }
  }

  /**
   * The servers of a setting given at start. Entries that are not a URL are
   * skipped with a boot complaint; a setting with no URL at all is tried as
   * it is, so each attempt fails with the host's own diagnosis.
   */
  private serverSetting(setting: string): readonly string[] {
    const { urls, bad } = parseServers(setting);
    for (const entry of bad) this.missing.push(`server setting: ${JSON.stringify(entry.slice(0, 64))} is not a ws:// or wss:// URL: skipped`);
    // parseServers strips a trailing slash from the URLs it takes; the fallback is stripped here alike.
    return urls.length > 0 ? urls : [setting.trim().replace(/\/+$/, '')];
  }

  private expire(now: number): void {
    if (this.identifyUntil !== undefined && now >= this.identifyUntil) this.identifyUntil = undefined;
    if (this.override?.until !== undefined && now >= this.override.until) this.override = undefined;
  }

  private updateLed(out: DeviceEffect[]): void {
    const pattern = ledPattern({
      identify: this.identifyUntil !== undefined,
      override: this.override?.pattern,
      network: this.network,
      server: this.link.state === 'online',
      refused: this.link.refused(),
      printerError: this.spools.some((s) => TROUBLE.includes(s.state)),
      printing: this.spools.some((s) => s.busy),
    });
    if (pattern === this.led) return;
    this.led = pattern;
    this.statusDirty = true;
    out.push({ type: 'led', pattern });
  }

  private maybeSendStatus(now: number, send: Send): void {
    if (this.link.state !== 'online') return;
    if (!this.statusDirty && this.nextStatus !== undefined && now < this.nextStatus) return;
    this.statusDirty = false;
    this.nextStatus = now + this.statusInterval;
    send({
      t: 'status',
      ports: this.spools.map((s) => {
        const st = s.status;
        return { port: s.port, state: st.state, detail: st.detail, job: s.activeJobId, temps: st.temps };
      }),
      led: this.led, uptime: this.uptime(now), heap: this.heap, rssi: this.rssi,
    });
  }

  private uptime(now: number): number {
    return Math.floor((now - (this.bootAt ?? now)) / 1000);
  }
}

function seconds(v: unknown, fallback: number): number | undefined {
  if (v === undefined) return fallback > 0 ? fallback : undefined;
  if (typeof v !== 'number' || !Number.isFinite(v) || v < 1 || v > IDENTIFY_MAX_S) return undefined;
  return v;
}
