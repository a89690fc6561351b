// A Zebra ZD420 that dials in over Weblink (WEBLINK.md A.4–A.13).
//
// Connections: one main channel, dialled at power-on and again
// `retry_interval` + random(`retry_interval_random_max`) seconds after it is
// lost or fails; on the main channel the server asks for raw and config
// channels (`open`), each a new connection to the same URL whose first
// message names it. Losing main takes its channels down (an assumption: the
// printer restarts conn1 as a whole). `new-main` opens another main
// connection and leaves the old one open, as printers were seen to do.
//
// Every frame the printer sends is binary. JSON goes out printer-style
// (printer-json.ts), split over several messages when longer than
// `splitAbove` or when the operator asked (`split`). Config answers close
// the config channel with 1000 unless told otherwise (A.7).
//
// Power: off loses what the raw intake had not printed and cuts every socket
// without a close frame; on again, counters, conditions and alert
// subscriptions are back to their defaults, and main is dialled at once.

import type { WebSocket } from 'ws';
import type { EventFields } from '../dialects/dialect.js';
import { AlertConfig, alertMessage, FACTORY_ALERTS, type AlertState } from './alerts.js';
import { dial, DialError } from './dial.js';
import { discoveryValue } from './discovery.js';
import { Glue, printerJson, printerJsonPretty } from './printer-json.js';
import { RawIntake } from './raw-intake.js';
import { alertTimestamp, SgdStore } from './sgd-store.js';

export const RAW_CHANNEL = 'v1.raw.zebra.com';
export const CONFIG_CHANNEL = 'v1.config.zebra.com';
export const DEFAULT_PING_MS = 60_000;
export const MISSED_PONGS = 3;
export const DEFAULT_POWER_OFF_MS = 2000;
export const DEFAULT_SPLIT_ABOVE = 4096;
export const DEFAULT_SPLIT_PARTS = 3;
/** device.reset: time for the answer to leave before the printer goes down. */
const RESET_AFTER_MS = 100;

export type ChannelKind = 'main' | 'raw' | 'config';

export interface WeblinkPrinterOptions {
  url: string;
  serial: string;
  password: string;
  ca?: Buffer | undefined;
  cert?: Buffer | undefined;
  key?: Buffer | undefined;
  record?: string | undefined;
  model?: string | undefined;
  firmware?: string | undefined;
  /** Seconds (may be fractional for tests); the SGD default is 10. */
  retryInterval?: number | undefined;
  /** Seconds; a real printer's default is 120. */
  retryRandomMax?: number | undefined;
  maxConnections?: number | undefined;
  pingMs?: number | undefined;
  /** ms per label. */
  labelMs?: number | undefined;
  /** JSON longer than this goes out in several messages. */
  splitAbove?: number | undefined;
  /** Raw receive buffer in bytes. */
  buffer?: number | undefined;
  emit(e: EventFields): void;
}

interface Channel {
  readonly id: number;
  readonly kind: ChannelKind;
  readonly ws: WebSocket;
  readonly glue: Glue;
  missedPongs: number;
  pingTimer?: NodeJS.Timeout | undefined;
}

const CONDITION_ALERTS = {
  'head-open': 'HEAD OPEN',
  'paper-out': 'PAPER OUT',
  'ribbon-out': 'RIBBON OUT',
  pause: 'PRINTER PAUSED',
} as const;
export type Fault = keyof typeof CONDITION_ALERTS;
/** Which of several faults the zpl engine shows, first wins. */
const FAULT_ORDER: readonly Fault[] = ['head-open', 'paper-out', 'ribbon-out', 'pause'];

export class WeblinkPrinter {
  private readonly sgd: SgdStore;
  private readonly raw: RawIntake;
  private alerts = new AlertConfig();
  private readonly channels = new Set<Channel>();
  private dialling = 0;
  private nextId = 1;
  private main: Channel | undefined;
  private activeRaw: Channel | undefined;
  private reconnectTimer: NodeJS.Timeout | undefined;
  private powerTimer: NodeJS.Timeout | undefined;
  private readonly faults = new Set<Fault>();
  private powered = true;
  /** Counts power-ons, so a dial started before a power cycle is not taken after it. */
  private boot = 0;
  private closed = false;
  private stalled = false;
  private bufferFull = false;
  private splitNext = 0;
  private splitParts = DEFAULT_SPLIT_PARTS;
  configCloses = true;
  private formats = 0;
  /** Alerts still to be lost on the way (`lose-alerts`). */
  private alertsToLose = 0;
  private readonly emit: (e: EventFields) => void;
  private readonly product: string;

  constructor(private readonly opts: WeblinkPrinterOptions) {
    this.emit = opts.emit;
    const model = opts.model ?? 'ZD420';
    this.product = `ZTC ${model}-203dpi ZPL`;
    this.sgd = new SgdStore(
      {
        serial: opts.serial,
        product: this.product,
        firmware: opts.firmware ?? 'V84.20.23Z',
        retryInterval: String(opts.retryInterval ?? 10),
        retryRandomMax: String(opts.retryRandomMax ?? 0),
        maxConnections: String(opts.maxConnections ?? 10),
        location: opts.url,
      },
      (name, value) => this.sgdHook(name, value),
    );
    this.raw = new RawIntake({
      sgd: this.sgd,
      record: opts.record,
      labelMs: opts.labelMs,
      capacity: opts.buffer,
      fullChanged: (full) => {
        this.bufferFull = full;
        this.emit({ event: full ? 'buffer-full' : 'buffer-free', received: this.raw.received });
        this.updateReading();
      },
      reply: (bytes) => this.send(this.activeRaw, bytes),
      emit: this.emit,
      formatPrinted: (labels) => this.formatPrinted(labels),
    });
  }

  start(): void {
    void this.connectMain();
  }

  // ---- operator faults ----

  setFault(fault: Fault, on: boolean): void {
    if (this.faults.has(fault) === on) return;
    if (on) this.faults.add(fault);
    else this.faults.delete(fault);
    const shown = FAULT_ORDER.find((f) => this.faults.has(f)) ?? 'ok';
    if (this.raw.condition !== shown) this.raw.setCondition(shown);
    this.emit({ event: 'condition', name: shown, faults: [...this.faults] });
    this.raise(CONDITION_ALERTS[fault], on ? 'SET' : 'CLEAR');
  }

  /** Cuts connections of a kind (all when undefined) without a close frame, as a lost network does. */
  drop(kind?: ChannelKind): number {
    let n = 0;
    for (const ch of this.channels) {
      if (kind !== undefined && ch.kind !== kind) continue;
      ch.ws.terminate();
      n++;
    }
    return n;
  }

  /** Closes channels of a kind with a close frame. */
  closeChannels(kind: ChannelKind, code = 1000): number {
    let n = 0;
    for (const ch of this.channels) {
      if (ch.kind !== kind) continue;
      ch.ws.close(code);
      n++;
    }
    return n;
  }

  split(messages: number, parts = DEFAULT_SPLIT_PARTS): void {
    this.splitNext = messages;
    this.splitParts = Math.max(2, parts);
  }

  /** The raw channels stop being read (their senders see backpressure), or start again. */
  stall(on: boolean): void {
    if (this.stalled === on) return;
    this.stalled = on;
    this.updateReading();
    this.emit({ event: on ? 'stalled' : 'resumed', received: this.raw.received });
  }

  /** Raw channels are read unless stalled or the receive buffer is full; their senders then see backpressure. */
  private updateReading(): void {
    const paused = this.stalled || this.bufferFull;
    for (const ch of this.channels) if (ch.kind === 'raw') (paused ? ch.ws.pause() : ch.ws.resume());
  }

  /** Another main connection; the old ones stay open. */
  newMain(): void {
    void this.connectMain();
  }

  /** An alert for any condition, as if it happened. */
  raiseNamed(condition: string, state: AlertState): void {
    this.raise(condition, state);
  }

  /** The next `n` alerts the printer sends never reach the server. */
  loseAlerts(n: number): void {
    this.alertsToLose = n;
  }

  /** A scanner on the capture port read `data`: an SGD SET alert for capture.channel1.data.raw (A.10). */
  scan(data: string): void {
    this.raise('SGD SET', 'SET', { name: 'capture.channel1.data.raw', value: data });
  }

  powerOff(): void {
    if (!this.powered) return;
    this.powered = false;
    if (this.reconnectTimer) clearTimeout(this.reconnectTimer);
    this.reconnectTimer = undefined;
    const lost = this.raw.powerOff();
    this.emit({ event: 'power-off', lost, received: this.raw.received });
    // Forget the connections now: their close events come later, maybe after power-on.
    for (const ch of [...this.channels]) {
      this.forget(ch, 1006, 'power off');
      ch.ws.terminate();
    }
  }

  powerOn(): void {
    if (this.powered || this.closed) return;
    if (this.powerTimer) clearTimeout(this.powerTimer);
    this.powerTimer = undefined;
    this.powered = true;
    this.boot++;
    this.raw.powerOn();
    this.faults.clear();
    this.alerts = new AlertConfig();
    this.sgd.update('alerts.configured', FACTORY_ALERTS);
    this.splitNext = 0;
    this.stalled = false;
    this.bufferFull = false;
    this.sgd.update('weblink.printer_reset_required', 'no');
    this.emit({ event: 'power-on' });
    void this.connectMain();
  }

  powerCycle(ms = DEFAULT_POWER_OFF_MS): void {
    this.powerOff();
    if (this.powerTimer) clearTimeout(this.powerTimer);
    this.powerTimer = setTimeout(() => this.powerOn(), ms);
  }

  close(): void {
    this.closed = true;
    this.powered = false;
    if (this.reconnectTimer) clearTimeout(this.reconnectTimer);
    if (this.powerTimer) clearTimeout(this.powerTimer);
    this.drop();
    this.raw.close();
  }

  // ---- connections ----

  private async connectMain(): Promise<void> {
    if (!this.powered || this.closed) return;
    const boot = this.boot;
    const ch = await this.openConnection('main');
    if (!ch) {
      // After a power cycle during the dial, the new boot dials by itself.
      if (!this.main && boot === this.boot) this.scheduleReconnect();
      return;
    }
    this.main = ch;
    const value = discoveryValue({
      serial: this.opts.serial,
      product: this.product,
      firmware: this.sgd.get('appl.name') ?? '',
      friendlyName: this.sgd.get('device.friendly_name') ?? this.opts.serial,
      odometer: Number(this.sgd.get('odometer.total_label_count') ?? 0),
      labelsRemaining: 0,
      labelsQueued: 0,
    });
    this.sendJson(ch, printerJsonPretty({ discovery_b64: value }));
    this.emit({ event: 'discovery', channel: 'main', id: ch.id, serial: this.opts.serial, value });
  }

  private async openConnection(kind: ChannelKind): Promise<Channel | undefined> {
    const cap = Number(this.sgd.get('weblink.ip.conn1.maximum_simultaneous_connections') ?? 10);
    if (this.channels.size + this.dialling >= cap) {
      this.emit({ event: 'open-refused', channel: kind, reason: 'maximum_simultaneous_connections', cap });
      return undefined;
    }
    this.emit({ event: 'connecting', channel: kind });
    const boot = this.boot;
    this.dialling++;
    let ws: WebSocket;
    try {
      ws = await dial({
        url: this.opts.url,
        ca: this.opts.ca,
        cert: this.opts.cert,
        key: this.opts.key,
        user: this.opts.serial,
        password: this.opts.password,
        onChallenge: () => this.emit({ event: 'auth', channel: kind, user: this.opts.serial }),
      });
    } catch (e) {
      const err = e as DialError;
      this.emit({ event: 'connect-failed', channel: kind, message: err.message, status: err.status, flags: err.flags });
      return undefined;
    } finally {
      this.dialling--;
    }
    if (!this.powered || this.closed || boot !== this.boot || (kind !== 'main' && !this.main)) {
      // Switched off (or cycled), or main went away while this channel was being dialled.
      ws.terminate();
      return undefined;
    }
    const ch: Channel = { id: this.nextId++, kind, ws, glue: new Glue(undefined, kind === 'config' ? '{}' : ''), missedPongs: 0 };
    this.channels.add(ch);
    this.sgd.update('weblink.ip.conn1.num_connections', String(this.channels.size));
    this.emit({ event: 'connected', channel: kind, id: ch.id, protocol: ws.protocol });
    ws.on('message', (data, isBinary) => this.onMessage(ch, data as Buffer, isBinary));
    ws.on('pong', () => (ch.missedPongs = 0));
    ws.on('error', (e) => this.emit({ event: 'socket-error', channel: kind, id: ch.id, message: e.message }));
    ws.on('close', (code, reason) => this.onClose(ch, code, reason.toString()));
    this.startPings(ch);
    if (kind === 'raw' && (this.stalled || this.bufferFull)) ws.pause();
    return ch;
  }

  private startPings(ch: Channel): void {
    const ms = this.opts.pingMs ?? DEFAULT_PING_MS;
    ch.pingTimer = setInterval(() => {
      if (ch.missedPongs >= MISSED_PONGS) {
        this.emit({ event: 'pong-timeout', channel: ch.kind, id: ch.id, missed: ch.missedPongs });
        ch.ws.terminate();
        return;
      }
      ch.missedPongs++;
      ch.ws.ping(Buffer.from(String(Date.now())));
    }, ms);
  }

  /** Takes a connection out of the printer's books; false if it was already out. */
  private forget(ch: Channel, code: number, reason: string): boolean {
    if (!this.channels.delete(ch)) return false;
    clearInterval(ch.pingTimer);
    this.sgd.update('weblink.ip.conn1.num_connections', String(this.channels.size));
    this.emit({ event: 'closed', channel: ch.kind, id: ch.id, code, reason });
    if (ch.kind === 'raw') {
      if (this.activeRaw === ch) this.activeRaw = undefined;
      this.raw.channelClosed();
    }
    if (ch === this.main) this.main = undefined;
    return true;
  }

  private onClose(ch: Channel, code: number, reason: string): void {
    const wasMain = ch === this.main;
    if (!this.forget(ch, code, reason) || !wasMain) return;
    this.main = [...this.channels].reverse().find((c) => c.kind === 'main');
    if (this.main) return;
    for (const other of this.channels) other.ws.close(1001, 'main channel lost');
    if (this.powered && !this.closed) this.scheduleReconnect();
  }

  private scheduleReconnect(): void {
    if (this.reconnectTimer || !this.powered || this.closed) return;
    const base = Number(this.sgd.get('weblink.ip.conn1.retry_interval') ?? 10);
    const spread = Number(this.sgd.get('weblink.ip.conn1.retry_interval_random_max') ?? 0);
    const inMs = Math.round((base + Math.random() * spread) * 1000);
    this.emit({ event: 'reconnect', inMs });
    this.reconnectTimer = setTimeout(() => {
      this.reconnectTimer = undefined;
      void this.connectMain();
    }, inMs);
  }

  // ---- messages ----

  private onMessage(ch: Channel, data: Buffer, isBinary: boolean): void {
    if (!this.powered) return;
    if (!isBinary) {
      // A printer "only supports Binary frames" (A.5): a text frame is a server bug worth seeing.
      this.emit({ event: 'text-frame', channel: ch.kind, id: ch.id, bytes: data.length });
      return;
    }
    if (ch.kind === 'raw') {
      this.activeRaw = ch;
      this.raw.feed(data);
      this.emit({ event: 'received', channel: 'raw', id: ch.id, bytes: this.raw.received });
      return;
    }
    const r = ch.glue.push(data.toString('utf8'));
    if (r.kind === 'partial') return;
    if (r.kind === 'garbage' || typeof r.value !== 'object' || r.value === null || Array.isArray(r.value)) {
      this.emit({ event: 'bad-json', channel: ch.kind, id: ch.id, text: (r.kind === 'garbage' ? r.text : JSON.stringify(r.value)).slice(0, 200) });
      return;
    }
    const message = r.value as Record<string, unknown>;
    if (ch.kind === 'config' && !r.text.trimStart().startsWith('{}')) {
      // JSON SGD always starts with `{}` (A.8); a printer does not take a bare object as a command.
      this.emit({ event: 'bad-json', channel: ch.kind, id: ch.id, text: r.text.slice(0, 200), reason: 'no {} prefix' });
      return;
    }
    if (ch.kind === 'main') this.onMain(message);
    else this.onConfig(ch, message);
  }

  private onMain(message: Record<string, unknown>): void {
    if (typeof message['open'] === 'string') {
      const name = message['open'];
      const kind = name === RAW_CHANNEL ? 'raw' : name === CONFIG_CHANNEL ? 'config' : undefined;
      this.emit({ event: 'open-request', channel: name });
      if (!kind) {
        this.emit({ event: 'open-refused', channel: name, reason: 'unknown channel' });
        return;
      }
      void this.openConnection(kind).then((ch) => {
        if (!ch) return;
        this.sendJson(ch, printerJson({ channel_name: name, unique_id: this.opts.serial, channel_id: String(ch.id) }));
      });
      return;
    }
    if (typeof message['configure_alert'] === 'string') {
      const entries = this.alerts.add(message['configure_alert']);
      this.sgd.update('alerts.configured', this.alerts.text);
      this.emit({ event: 'configure-alert', entries, configured: this.alerts.text });
      return;
    }
    this.emit({ event: 'main-unknown', keys: Object.keys(message) });
  }

  private onConfig(ch: Channel, request: Record<string, unknown>): void {
    const reply = this.sgd.answerJson(request);
    const names = Object.keys(request);
    const op = names.every((n) => request[n] === null) ? 'get' : 'set';
    this.sendJson(ch, JSON.stringify(reply));
    this.emit({ event: 'sgd', via: 'config', op, names });
    if (this.configCloses) ch.ws.close(1000);
  }

  private sgdHook(name: string, value: string): string | undefined {
    if (name === 'alerts.add') {
      this.alerts.add(value);
      this.sgd.update('alerts.configured', this.alerts.text);
      return '';
    }
    if (name === 'alerts.configured') {
      this.alerts.replace(value);
      return this.alerts.text;
    }
    if (name === 'device.reset') {
      // The answer goes out first; then the printer restarts (a power cycle, as far as a server can tell).
      this.emit({ event: 'reset' });
      setTimeout(() => this.powerCycle(), RESET_AFTER_MS);
      return '';
    }
    // Weblink settings take effect only after a reset (A.2); the new value is read at the next dial.
    if (name.startsWith('weblink.') && !name.startsWith('weblink.logging.')) this.sgd.update('weblink.printer_reset_required', 'yes');
    return undefined;
  }

  private formatPrinted(labels: number): void {
    this.formats++;
    const total = Number(this.sgd.get('odometer.total_label_count') ?? 0) + labels;
    this.sgd.update('odometer.total_label_count', String(total));
    this.emit({ event: 'format-printed', formats: this.formats, labels, odometer: total });
    this.raise('PQ JOB COMPLETED', 'SET');
  }

  private raise(condition: string, state: AlertState, setting?: { name: string; value: string }): void {
    const target = this.main;
    const wanted = this.powered && target !== undefined && this.alerts.wants(condition, state, setting?.name);
    const lost = wanted && this.alertsToLose > 0;
    if (lost) this.alertsToLose--;
    const sent = wanted && !lost;
    if (sent) this.sendJson(target, printerJson(alertMessage(this.opts.serial, condition, state, alertTimestamp(), setting)));
    this.emit({ event: 'alert', condition, state, sent, ...(lost ? { lost } : {}), ...(setting ? { setting: setting.name } : {}) });
  }

  private sendJson(ch: Channel | undefined, text: string): void {
    if (!ch) return;
    const bytes = Buffer.from(text, 'utf8');
    const above = this.opts.splitAbove ?? DEFAULT_SPLIT_ABOVE;
    let parts = 1;
    if (this.splitNext > 0) {
      this.splitNext--;
      parts = this.splitParts;
    } else if (bytes.length > above) parts = Math.ceil(bytes.length / above);
    parts = Math.min(parts, bytes.length);
    if (parts <= 1) return this.send(ch, bytes);
    const size = Math.ceil(bytes.length / parts);
    for (let i = 0; i < bytes.length; i += size) this.send(ch, bytes.subarray(i, i + size));
    this.emit({ event: 'split', channel: ch.kind, id: ch.id, parts: Math.ceil(bytes.length / size), bytes: bytes.length });
  }

  private send(ch: Channel | undefined, bytes: Buffer): void {
    if (!ch || !this.powered || ch.ws.readyState !== ch.ws.OPEN) return;
    ch.ws.send(bytes, { binary: true });
  }
}
