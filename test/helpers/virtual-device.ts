// Drives the device core on a virtual clock, the way a host would, and keeps
// what it asked for so tests can speak as the server and as the printer port.

import { createDevice } from '../../device/core/device.js';
import { ALL_DIALECTS } from '../../device/core/dialects/all.js';
import type { DialectSet } from '../../device/core/dialects/dialect.js';
import type { DeviceConfig, DeviceCore, DeviceEffect, DeviceEvent } from '../../device/core/types.js';
import { decodeDeviceMessage, encodeServerMessage, type DeviceMessage, type ServerMessage } from '../../protocol/device-messages.js';
import { encodeDataFrame } from '../../protocol/frames.js';
import { PROTOCOL_VERSION } from '../../protocol/version.js';
import { seeded } from './random.js';

export class VirtualDevice {
  readonly core: DeviceCore;
  now = 0;
  effects: DeviceEffect[] = [];
  /** Bytes written to each port, in order. */
  readonly printed = new Map<number, number[]>();

  constructor(config: Partial<DeviceConfig> = {}, seed = 1, dialects: DialectSet = ALL_DIALECTS) {
    this.core = createDevice(
      { id: 'dev-1', token: 'secret', server: 'ws://server', fw: 'test', ports: [{ port: 0, dialect: 'raw' }], ...config },
      { random: seeded(seed), dialects },
    );
  }

  handle(event: DeviceEvent): DeviceEffect[] {
    const out = this.core.handle(event, this.now);
    for (const e of out) {
      if (e.type === 'port.write') {
        const list = this.printed.get(e.port) ?? [];
        for (const b of e.bytes) list.push(b);
        this.printed.set(e.port, list);
      }
    }
    this.effects.push(...out);
    return out;
  }

  /** Moves the clock to `t`, delivering every tick due on the way, as a host timer would. */
  advanceTo(t: number): void {
    for (let guard = 0; guard < 100_000; guard++) {
      const next = this.core.nextDeadline();
      if (next === undefined || next > t) break;
      this.now = Math.max(this.now, next);
      this.handle({ type: 'tick' });
    }
    this.now = Math.max(this.now, t);
  }

  advance(ms: number): void {
    this.advanceTo(this.now + ms);
  }

  take(): DeviceEffect[] {
    const out = this.effects;
    this.effects = [];
    return out;
  }

  /** Messages the device sent since the last take/sent call. */
  sent(): DeviceMessage[] {
    const msgs: DeviceMessage[] = [];
    const rest: DeviceEffect[] = [];
    for (const e of this.effects) {
      if (e.type === 'ws.send' && typeof e.data === 'string') {
        const d = decodeDeviceMessage(e.data);
        if (!d.ok) throw new Error(`device sent an undecodable message: ${e.data}`);
        msgs.push(d.value);
      } else rest.push(e);
    }
    this.effects = rest;
    return msgs;
  }

  server(m: ServerMessage): void {
    this.handle({ type: 'ws.text', text: encodeServerMessage(m) });
  }

  data(stream: number, offset: number, payload: Uint8Array): void {
    this.handle({ type: 'ws.binary', bytes: encodeDataFrame(stream, offset, payload) });
  }

  /** Boot with network, wait for the connect, open the socket and welcome: the device is online. */
  bringOnline(): void {
    this.handle({ type: 'boot' });
    this.handle({ type: 'network', up: true });
    this.advanceUntil((e) => e.type === 'ws.connect');
    this.handle({ type: 'ws.open' });
    this.server({ t: 'welcome', v: PROTOCOL_VERSION, hb: 25_000, time: 0 });
  }

  /** Advances tick by tick until an effect matching `pred` appears; fails after `limit` ms. */
  advanceUntil(pred: (e: DeviceEffect) => boolean, limit = 600_000): DeviceEffect {
    const end = this.now + limit;
    for (;;) {
      const hit = this.effects.find(pred);
      if (hit !== undefined) return hit;
      const next = this.core.nextDeadline();
      if (next === undefined || next > end) throw new Error(`no matching effect within ${limit} ms`);
      this.now = Math.max(this.now, next);
      this.handle({ type: 'tick' });
    }
  }
}
