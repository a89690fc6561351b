// Wi-Fi managed by the firmware, instead of the SDK's setup/network module
// (which blocks main until an IP arrives, so LEDs and the printer would be
// dead without a network), on the ECMA-419 interface SDK 8.2.x provides on
// ESP32. States:
//
//   idle ──start──▶ joining(ap) ──connection 500──▶ up
//                     │ 200 / timeout                │ drops below 500
//                     ▼                              ▼
//                   waiting ◀────────────────────────┘
//                     │ after `retry` ms: the next access point after a
//                     ▼ failed join, the same one after a drop
//                   joining(ap')
//
// One interface object serves for the firmware's life; a change is read
// from `connection` when it is reported, so a late report of an old attempt
// can only describe the current state.

import WiFi from 'embedded:network/interface/wifi';
import Timer from 'timer';
import type { AccessPoint } from './settings.js';

export interface StationOptions {
  readonly retry: number;
  readonly timeout: number;
  readonly onChange: (up: boolean) => void;
  readonly log: (message: string) => void;
}

type Phase = 'idle' | 'joining' | 'up' | 'waiting';

const HAS_ADDRESS = 500;
const DISCONNECTED = 200;

export class WifiStation {
  private phase: Phase = 'idle';
  private index = 0;
  private wifi: WiFi | undefined;
  private timer: Timer | undefined;

  constructor(private aps: readonly AccessPoint[], private readonly o: StationOptions) {}

  get up(): boolean {
    return this.phase === 'up';
  }

  /** Signal strength in dBm while up. */
  get rssi(): number | undefined {
    if (this.phase !== 'up') return undefined;
    try {
      return this.wifi?.RSSI;
    } catch {
      return undefined;
    }
  }

  start(): void {
    if (this.aps.length === 0) {
      this.o.log('wifi: no access point configured');
      return;
    }
    if (this.wifi === undefined) {
      try {
        this.wifi = new WiFi({ onChanged: (what) => { if (what === 'connection') this.changed(); } });
      } catch (e) {
        this.o.log(`wifi: ${String(e)}`);
        return;
      }
    }
    // Already on a network (a soft restart keeps the association).
    if (this.wifi.connection === HAS_ADDRESS) return this.changed();
    this.join();
  }

  /** New credentials (from a config message): drop the current network and start over with them. */
  reconfigure(aps: readonly AccessPoint[]): void {
    const wasUp = this.phase === 'up';
    this.clearTimer();
    this.disconnect();
    this.aps = aps;
    this.index = 0;
    this.phase = 'idle';
    if (wasUp) this.o.onChange(false);
    this.start();
  }

  private join(): void {
    const ap = this.aps[this.index % this.aps.length];
    const wifi = this.wifi;
    if (ap === undefined || wifi === undefined) return;
    this.phase = 'joining';
    this.o.log(`wifi: joining ${ap.ssid}`);
    try {
      wifi.connect(ap.password === '' ? { SSID: ap.ssid } : { SSID: ap.ssid, password: ap.password });
    } catch (e) {
      this.o.log(`wifi: ${String(e)}`);
      return this.failed(true);
    }
    this.timer = Timer.set(() => {
      this.timer = undefined;
      if (this.phase === 'joining') {
        this.o.log(`wifi: no address from ${ap.ssid} in ${this.o.timeout} ms`);
        this.failed(true);
      }
    }, this.o.timeout);
  }

  private changed(): void {
    const connection = this.wifi?.connection ?? DISCONNECTED;
    if (connection === HAS_ADDRESS) {
      if (this.phase === 'up') return;
      this.clearTimer();
      this.phase = 'up';
      this.o.log('wifi: up');
      this.o.onChange(true);
    } else if (this.phase === 'up') {
      this.o.log(`wifi: down (${connection})`);
      this.o.onChange(false);
      this.failed(false);
    } else if (this.phase === 'joining' && connection === DISCONNECTED) {
      this.failed(true);
    }
  }

  /** `rotate`: the access point could not be joined, so try the next one. */
  private failed(rotate: boolean): void {
    this.clearTimer();
    if (rotate) {
      this.index = (this.index + 1) % Math.max(1, this.aps.length);
      // Stop the driver's own retries with the access point we are leaving.
      this.disconnect();
    }
    this.phase = 'waiting';
    this.timer = Timer.set(() => {
      this.timer = undefined;
      this.join();
    }, this.o.retry);
  }

  private disconnect(): void {
    try {
      this.wifi?.disconnect();
    } catch {
      // Not associated.
    }
  }

  private clearTimer(): void {
    if (this.timer !== undefined) Timer.clear(this.timer);
    this.timer = undefined;
  }
}
