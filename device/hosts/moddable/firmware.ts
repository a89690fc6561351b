// The ESP32 host for the device core. It owns everything the core must not:
// the clock (Time.ticks), one Timer re-armed for the earliest of the core's
// deadline, the next stats sample and the offline watchdog; the WebSocket
// client; the UART; the LED pins; Wi-Fi; persisted settings.
//
// Events are handled one at a time: whatever a callback reports while an
// event's effects are being carried out (the socket failing inside a send)
// waits in the queue, so the core is never re-entered. Nothing here blocks:
// LEDs and the printer work from the first moment, network or not.

import Instrumentation from 'instrumentation';
import Resource from 'Resource';
import restart from 'restart';
import Timer from 'timer';
import { createDevice } from '../../core/device.js';
import type { DialectSet } from '../../core/dialects/dialect.js';
import type { DeviceCore, DeviceEffect, DeviceEvent, LogLevel } from '../../core/types.js';
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

export class Firmware {
  private readonly settings: FirmwareSettings;
  private readonly core: DeviceCore;
  private readonly socket: ServerSocket;
  private readonly printer: UartPrinter;
  private readonly led: StatusLed;
  private readonly wifi: WifiStation;
  private readonly sntp: SntpClock;
  private readonly watchdog: OfflineWatchdog;
  private readonly queue: DeviceEvent[] = [];
  private handling = false;
  private timer: Timer | undefined;
  private nextStats = 0;
  private restarting = false;

  /** `build` is mc/config; `dialects` the drivers this board's build carries (main.ts). */
  constructor(private readonly build: Readonly<Record<string, unknown>>, dialects: DialectSet) {
    const s = resolveSettings(build, loadSaved());
    this.settings = s;
    this.core = createDevice(
      {
        id: s.id, token: s.token, server: s.server, fw: FIRMWARE_VERSION,
        ports: [{ port: 0, dialect: s.dialect, poll: s.poll, flow: s.flow, name: s.printerName === '' ? undefined : s.printerName }],
        timings: s.timings, window: s.window, maxChunk: s.maxChunk, statusInterval: s.statusInterval,
      },
      { random: Math.random, dialects },
    );
    const deliver = (e: DeviceEvent): void => this.dispatch(e);
    const note = (message: string): void => this.log('info', message);
    this.sntp = new SntpClock(s.sntpHost, s.wifiRetry * 6, note, () => this.arm());
    this.socket = new ServerSocket(deliver, {
      caCert: () => caCertificate(s.caCert), clockReady: () => this.sntp.isSet,
      maxMessage: LINK_MAX_MESSAGE, maxQueued: LINK_MAX_QUEUED,
    });
    this.printer = new UartPrinter(0, { ...s.uart, busyPin: s.busyPin, busyActiveLow: s.busyActiveLow }, deliver);
    this.led = new StatusLed(s.ledPins, s.ledActiveLow, now);
    this.wifi = new WifiStation(s.accessPoints, {
      retry: s.wifiRetry, timeout: s.wifiTimeout, log: note,
      onChange: (up) => {
        if (up && s.server.startsWith('wss:')) this.sntp.sync();
        this.dispatch({ type: 'network', up });
      },
    });
    this.watchdog = new OfflineWatchdog(s.offlineRestart);
  }

  start(): void {
    const s = this.settings;
    if (s.id === '' || s.server === '') this.log('warn', 'no device id or server configured: set id and server in the manifest config or with mcconfig');
    this.dispatch({ type: 'boot' });
    this.printer.open();
    this.wifi.start();
  }

  private dispatch(event: DeviceEvent): void {
    this.queue.push(event);
    if (this.handling) return;
    this.handling = true;
    try {
      let next: DeviceEvent | undefined;
      while ((next = this.queue.shift()) !== undefined) {
        for (const effect of this.core.handle(next, now())) this.perform(effect);
      }
    } finally {
      this.handling = false;
    }
    this.arm();
  }

  private perform(effect: DeviceEffect): void {
    try {
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
      }
    } catch (e) {
      // The outside world failed (FIFO full, flash error); the core learns
      // what matters through later events, and the main loop must go on.
      this.log('error', `${effect.type} failed: ${String(e)}`);
    }
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

  /** One timer for the core's deadline, the stats sample and the watchdog. */
  private arm(): void {
    if (this.timer !== undefined) Timer.clear(this.timer);
    this.timer = undefined;
    const t = now();
    const online = this.core.snapshot().link === 'online';
    if (this.watchdog.observe(online, t)) return this.restart('offline too long');
    let due = this.nextStats;
    const deadline = this.core.nextDeadline();
    if (deadline !== undefined && deadline < due) due = deadline;
    const bark = this.watchdog.deadline();
    if (bark !== undefined && bark < due) due = bark;
    this.timer = Timer.set(() => this.wake(), Math.max(0, due - t));
  }

  private wake(): void {
    this.timer = undefined;
    const t = now();
    if (t >= this.nextStats) {
      this.nextStats = t + this.settings.statsInterval;
      this.queue.push(this.stats());
    }
    this.dispatch({ type: 'tick' });
  }

  private stats(): DeviceEvent {
    let heap: number | undefined;
    let rssi: number | undefined;
    try {
      heap = Instrumentation.get(Instrumentation.map('System Free Memory'));
    } catch {
      // Instrumentation is absent from some release builds.
    }
    rssi = this.wifi.rssi;
    return {
      type: 'host.stats',
      ...(typeof heap === 'number' ? { heap } : {}),
      ...(typeof rssi === 'number' && rssi < 0 ? { rssi: Math.round(rssi) } : {}),
    };
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
