// Drives the device core through the same run loop as the real hosts
// (device/core/host-loop.ts), on a virtual clock, and keeps what it asked
// for so tests can speak as the server and as the printer port.

import { createDevice } from '../../device/core/device.js';
import { ALL_DIALECTS } from '../../device/core/dialects/all.js';
import type { DialectSet } from '../../device/core/dialects/dialect.js';
import { HostLoop, type Scheduler } from '../../device/core/host-loop.js';
import type { DeviceConfig, DeviceCore, DeviceEffect, DeviceEvent } from '../../device/core/types.js';
import { decodeDeviceMessage, encodeServerMessage, type DeviceMessage, type ServerMessage } from '../../protocol/device-messages.js';
import { encodeDataFrame } from '../../protocol/frames.js';
import { PROTOCOL_VERSION } from '../../protocol/version.js';
import { seeded } from './random.js';

/** Timers on a clock that moves only when a test says so. Handles are numbers. */
export class VirtualClock implements Scheduler<number> {
  /** How many timers were ever set, for tests of how often a host re-arms. */
  created = 0;
  private t = 0;
  private readonly timers = new Map<number, { readonly at: number; readonly callback: () => void }>();

  now(): number {
    return this.t;
  }

  set(callback: () => void, ms: number): number {
    const id = ++this.created;
    this.timers.set(id, { at: this.t + Math.max(0, ms), callback });
    return id;
  }

  clear(handle: number): void {
    this.timers.delete(handle);
  }

  get pending(): number {
    return this.timers.size;
  }

  /** When the earliest timer goes off, or undefined when none is set. */
  next(): number | undefined {
    return this.earliest()?.[1].at;
  }

  /** Runs the earliest timer if it is due by `limit`, moving the clock to it; false when there is none. */
  fireNext(limit: number): boolean {
    const first = this.earliest();
    if (first === undefined || first[1].at > limit) return false;
    const [id, timer] = first;
    this.timers.delete(id);
    this.t = Math.max(this.t, timer.at);
    timer.callback();
    return true;
  }

  /** Moves the clock to `t`, running every timer due on the way, in order. */
  advanceTo(t: number): void {
    for (let guard = 0; this.fireNext(t); guard++) {
      if (guard > 100_000) throw new Error(`timers keep firing before ${t}: a deadline that never moves?`);
    }
    this.t = Math.max(this.t, t);
  }

  private earliest(): [number, { readonly at: number; readonly callback: () => void }] | undefined {
    let best: [number, { readonly at: number; readonly callback: () => void }] | undefined;
    for (const entry of this.timers) if (best === undefined || entry[1].at < best[1].at) best = entry;
    return best;
  }
}

export class VirtualDevice {
  readonly clock = new VirtualClock();
  readonly loop: HostLoop<number>;
  effects: DeviceEffect[] = [];
  /** Bytes written to each port, in order. */
  readonly printed = new Map<number, number[]>();
  /** What the loop caught (exceptions from the core); any of it fails the next call. */
  private readonly problems: string[] = [];

  constructor(config: Partial<DeviceConfig> = {}, seed = 1, dialects: DialectSet = ALL_DIALECTS) {
    const core = createDevice(
      { id: 'dev-1', token: 'secret', server: 'ws://server', fw: 'test', ports: [{ port: 0, dialect: 'raw' }], ...config },
      { random: seeded(seed), dialects },
    );
    this.loop = new HostLoop({
      core,
      scheduler: this.clock,
      perform: (e) => this.record(e),
      log: (level, message) => this.problems.push(`${level}: ${message}`),
    });
  }

  get core(): DeviceCore {
    return this.loop.core;
  }

  get now(): number {
    return this.clock.now();
  }

  /** Posts one event to the loop; returns the effects it caused. */
  handle(event: DeviceEvent): DeviceEffect[] {
    const from = this.effects.length;
    this.loop.post(event);
    this.check();
    return this.effects.slice(from);
  }

  /** Moves the clock to `t`, delivering every tick due on the way, as a host timer would. */
  advanceTo(t: number): void {
    this.clock.advanceTo(t);
    this.check();
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
    this.server({ t: 'welcome', v: [...PROTOCOL_VERSION], hb: 25_000, time: 0 });
  }

  /** Advances timer by timer until an effect matching `pred` appears; fails after `limit` ms. */
  advanceUntil(pred: (e: DeviceEffect) => boolean, limit = 600_000): DeviceEffect {
    const end = this.now + limit;
    for (;;) {
      const hit = this.effects.find(pred);
      if (hit !== undefined) return hit;
      if (!this.clock.fireNext(end)) throw new Error(`no matching effect within ${limit} ms`);
      this.check();
    }
  }

  private record(e: DeviceEffect): void {
    if (e.type === 'port.write') {
      const list = this.printed.get(e.port) ?? [];
      for (const b of e.bytes) list.push(b);
      this.printed.set(e.port, list);
    }
    this.effects.push(e);
  }

  /** The loop keeps exceptions in, as a host must; a test must still see them. */
  private check(): void {
    if (this.problems.length === 0) return;
    const all = this.problems.splice(0);
    throw new Error(`the host loop caught: ${all.join('; ')}`);
  }
}
