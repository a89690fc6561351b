// The ESP32 host for the device core (and, unchanged, the SDK's Linux host
// in tests). It owns everything the core must not: the clock (Time.ticks),
// the WebSocket client, the UART, the LED pins, Wi-Fi, persisted settings.
// The run loop is device/core/host-loop.ts, shared with the Node bridge: one
// event at a time, one Timer for the earliest of the core's deadline, the
// next stats sample and the offline watchdog, and nothing thrown ever
// reaches the event loop (on XS that aborts the VM: a reset).
//
// Nothing here blocks: LEDs and the printer work from the first moment,
// network or not. Every link state change and LED pattern change is logged,
// one line each, so a person on the console (or a test) can follow it.

import Instrumentation from 'instrumentation';
import Resource from 'Resource';
import restart from 'restart';
import Timer from 'timer';
import { createDevice } from '../../core/device.js';
import type { DialectSet } from '../../core/dialects/dialect.js';
import { HostLoop, type Scheduler } from '../../core/host-loop.js';
import { parseServers } from '../../core/link.js';
import type { DeviceEffect, LinkState, LogLevel } from '../../core/types.js';
import { now } from './clock.js';
import { loadSaved, saveSettings } from './saved-settings.js';
import { ServerSocket } from './server-socket.js';
import { resolveSettings, type FirmwareSettings } from './settings.js';
import { SntpClock } from './sntp-clock.js';
import { StatusLed } from './status-led.js';
import { UartPrinter } from './uart.js';
import { OfflineWatchdog } from './watchdog.js';
import { WifiStation } from './wifi-station.js';

export const FIRMWARE_VERSION = 'printbridge-esp32/0.1.0';

/** Time for the last messages (a control result) to leave before a reset. */
const RESTART_GRACE_MS = 500;
/** The largest server message the link accepts: a job chunk with its header, or a control message. */
const LINK_MAX_MESSAGE = 16 * 1024;
/** Outgoing bytes the link may hold back before it counts as too slow. */
const LINK_MAX_QUEUED = 8 * 1024;
const WIFI_KEYS = ['ssid', 'password', 'ssid2', 'password2', 'ssid3', 'password3'];

const scheduler: Scheduler<Timer> = {
  now,
  set: (callback, ms) => Timer.set(callback, ms),
  clear: (timer) => Timer.clear(timer),
};

export class Firmware {
  private readonly settings: FirmwareSettings;
  private readonly loop: HostLoop<Timer>;
  private readonly socket: ServerSocket;
  private readonly printer: UartPrinter;
  private readonly led: StatusLed;
  private readonly wifi: WifiStation;
  private readonly sntp: SntpClock;
  private readonly watchdog: OfflineWatchdog;
  private nextStats = 0;
  private restarting = false;
  private link: LinkState | undefined;

  /** `build` is mc/config; `dialects` the drivers this board's build carries (main.ts). */
  constructor(private readonly build: Readonly<Record<string, unknown>>, dialects: DialectSet) {
    const s = resolveSettings(build, loadSaved());
    this.settings = s;
    const core = createDevice(
      {
        id: s.id, token: s.token, server: s.server, fw: FIRMWARE_VERSION,
        ports: [{
          port: 0, dialect: s.dialect, poll: s.poll, flow: s.flow, name: s.printerName === '' ? undefined : s.printerName,
          cancelScript: s.cancelScript, transport: 'serial',
        }],
        timings: s.timings, window: s.window, maxChunk: s.maxChunk, statusInterval: s.statusInterval,
      },
      { random: Math.random, dialects },
    );
    this.watchdog = new OfflineWatchdog(s.offlineRestart);
    this.loop = new HostLoop({
      core, scheduler,
      perform: (effect) => this.perform(effect),
      log: (level, message) => this.log(level, message),
      settled: (t) => this.settled(t),
    });
    this.loop.addDeadline({
      next: () => this.nextStats,
      fire: (t) => {
        this.nextStats = t + this.settings.statsInterval;
        this.sampleStats();
      },
    });
    // settled() acts on the watchdog after every drain; this only wakes the loop in time for it.
    this.loop.addDeadline({ next: () => (this.restarting ? undefined : this.watchdog.deadline()), fire: () => {} });
    const post = this.loop.post.bind(this.loop);
    const note = (message: string): void => this.log('info', message);
    this.sntp = new SntpClock(s.sntpHost, s.wifiRetry * 6, note, () => this.loop.rearm());
    this.socket = new ServerSocket(post, {
      caCert: () => caCertificate(s.caCert), clockReady: () => this.sntp.isSet,
      maxMessage: LINK_MAX_MESSAGE, maxQueued: LINK_MAX_QUEUED,
    });
    this.printer = new UartPrinter(0, { ...s.uart, busyPin: s.busyPin, busyActiveLow: s.busyActiveLow }, post);
    this.led = new StatusLed(s.ledPins, s.ledActiveLow, now);
    // Any wss:// server among several needs the clock for its certificate.
    const secure = parseServers(s.server).urls.some((u) => u.toLowerCase().startsWith('wss:'));
    this.wifi = new WifiStation(s.accessPoints, {
      retry: s.wifiRetry, timeout: s.wifiTimeout, log: note,
      onChange: (up) => {
        if (up && secure) this.sntp.sync();
        post({ type: 'network', up });
      },
    });
  }

  start(): void {
    const s = this.settings;
    if (s.id === '' || s.server === '') this.log('warn', 'no device id or server configured: set id and server in the manifest config or with mcconfig');
    this.loop.post({ type: 'boot' });
    this.printer.open();
    this.wifi.start();
  }

  private perform(effect: DeviceEffect): void {
    switch (effect.type) {
      case 'ws.connect':
        return this.socket.connect(effect.url, effect.token);
      case 'ws.send':
        return this.socket.send(effect.data);
      case 'ws.close':
        this.log('info', `closing the link: ${effect.reason}`);
        return this.socket.close(effect.code, effect.reason);
      case 'port.write':
        return this.printer.write(effect.bytes);
      case 'led':
        this.log('info', `led ${effect.pattern}`);
        return this.led.show(effect.pattern);
      case 'log':
        return this.log(effect.level, effect.message);
      case 'persist':
        return this.persist(effect.settings);
      case 'restart':
        return this.restart(effect.reason);
      case 'control':
        // The firmware names no host controls, so the core never asks; an answer keeps the server from waiting if it ever did.
        return this.loop.post({ type: 'control.answer', ref: effect.ref, ok: false, code: 'UNSUPPORTED', message: `control ${effect.name.slice(0, 64)}` });
      default:
        return effect satisfies never;
    }
  }

  /** After every batch of events: report link changes and let the watchdog judge. */
  private settled(t: number): void {
    const link = this.loop.core.linkState();
    if (link !== this.link) {
      this.link = link;
      this.log('info', `link ${link}`);
    }
    if (!this.restarting && this.watchdog.observe(link === 'online', t)) this.restart('offline too long');
  }

  private persist(changes: Readonly<Record<string, string>>): void {
    const written = saveSettings(changes);
    if (written.length > 0) this.log('info', `saved ${written.join(', ')}`);
    // The core reconnects by itself for server and token; Wi-Fi is ours.
    if (written.some((k) => WIFI_KEYS.includes(k))) this.wifi.reconfigure(resolveSettings(this.build, loadSaved()).accessPoints);
  }

  private restart(reason: string): void {
    if (this.restarting) return;
    this.restarting = true;
    this.log('warn', `restarting: ${reason}`);
    Timer.set(() => restart(), RESTART_GRACE_MS);
  }

  private sampleStats(): void {
    let heap: number | undefined;
    try {
      heap = Instrumentation.get(Instrumentation.map('System Free Memory'));
    } catch {
      // Instrumentation is absent from some builds.
    }
    const rssi = this.wifi.rssi;
    this.loop.post({
      type: 'host.stats',
      ...(typeof heap === 'number' && heap > 0 ? { heap } : {}),
      ...(typeof rssi === 'number' && rssi < 0 ? { rssi: Math.round(rssi) } : {}),
    });
  }

  private log(level: LogLevel, message: string): void {
    trace(`${level}: ${message}\n`);
  }
}

/** The CA certificate resource for wss://, when the build carries the one named. */
function caCertificate(name: string): ArrayBuffer | undefined {
  if (name === '' || !Resource.exists(name)) return undefined;
  return new Resource(name) as unknown as ArrayBuffer;
}
