// Wi-Fi managed by the firmware, instead of the SDK's setup/network module
// (which blocks main until an IP arrives, so LEDs and the printer would be
// dead without a network). States:
//
//   idle ──start──▶ joining(ap) ──gotIP──▶ up
//                     │ disconnect / timeout     │ lostIP / disconnect
//                     ▼                          ▼
//                   waiting ◀────────────────────┘
//                     │ after `retry` ms: the next access point after a
//                     ▼ failed join, the same one after a drop
//                   joining(ap')
//
// Each attempt uses a fresh WiFi monitor object, closed when it ends, so
// a late message from an old attempt cannot be taken for the current one.

import Timer from 'timer';
import WiFi from 'wifi';
import type { AccessPoint } from './settings.js';

export interface StationOptions {
  readonly retry: number;
  readonly timeout: number;
  readonly onChange: (up: boolean) => void;
  readonly log: (message: string) => void;
}

type Phase = 'idle' | 'joining' | 'up' | 'waiting';

export class WifiStation {
  private phase: Phase = 'idle';
  private index = 0;
  private monitor: WiFi | undefined;
  private timer: Timer | undefined;

  constructor(private aps: readonly AccessPoint[], private readonly o: StationOptions) {}

  get up(): boolean {
    return this.phase === 'up';
  }

  start(): void {
    if (this.aps.length === 0) {
      this.o.log('wifi: no access point configured');
      return;
    }
    this.join();
  }

  /** New credentials (from a config message): drop the current network and start over with them. */
  reconfigure(aps: readonly AccessPoint[]): void {
    const wasUp = this.phase === 'up';
    this.stopAttempt();
    try {
      WiFi.disconnect();
    } catch {
      // Nothing to disconnect from.
    }
    this.aps = aps;
    this.index = 0;
    this.phase = 'idle';
    if (wasUp) this.o.onChange(false);
    this.start();
  }

  private join(): void {
    const ap = this.aps[this.index % this.aps.length];
    if (ap === undefined) return;
    this.phase = 'joining';
    this.o.log(`wifi: joining ${ap.ssid}`);
    try {
      WiFi.mode = WiFi.Mode.station;
      const options = ap.password === '' ? { ssid: ap.ssid } : { ssid: ap.ssid, password: ap.password };
      const monitor: WiFi = new WiFi(options, (message) => {
        if (this.monitor === monitor) this.onMessage(message);
      });
      this.monitor = monitor;
    } catch (e) {
      this.o.log(`wifi: ${String(e)}`);
      this.failed(true);
      return;
    }
    this.timer = Timer.set(() => {
      this.timer = undefined;
      if (this.phase === 'joining') this.failed(true);
    }, this.o.timeout);
  }

  private onMessage(message: string): void {
    if (message === WiFi.gotIP) {
      if (this.phase === 'up') return;
      this.clearTimer();
      this.phase = 'up';
      this.o.log('wifi: up');
      this.o.onChange(true);
    } else if (message === WiFi.lostIP || message === WiFi.disconnected) {
      if (this.phase === 'up') {
        this.o.log(`wifi: ${message}`);
        this.o.onChange(false);
        this.failed(false);
      } else if (this.phase === 'joining' && message === WiFi.disconnected) {
        this.failed(true);
      }
    }
  }

  /** `rotate`: the access point could not be joined, so try the next one. */
  private failed(rotate: boolean): void {
    this.stopAttempt();
    if (rotate) {
      this.index = (this.index + 1) % Math.max(1, this.aps.length);
      // Stop the driver's own retries with the access point we are leaving.
      try {
        WiFi.disconnect();
      } catch {
        // Not associated.
      }
    }
    this.phase = 'waiting';
    this.timer = Timer.set(() => {
      this.timer = undefined;
      this.join();
    }, this.o.retry);
  }

  private stopAttempt(): void {
    this.clearTimer();
    const monitor = this.monitor;
    this.monitor = undefined;
    try {
      monitor?.close();
    } catch {
      // Already closed by the driver.
    }
  }

  private clearTimer(): void {
    if (this.timer !== undefined) Timer.clear(this.timer);
    this.timer = undefined;
  }
}
