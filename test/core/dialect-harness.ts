// A device with one printer port of a given dialect, online, for the
// dialect tests: speaks as the server (jobs) and as the printer (answers).

import assert from 'node:assert/strict';
import type { Dialect, DeviceMessage } from '../../protocol/device-messages.js';
import type { FlowControl, PortTransport } from '../../device/core/types.js';
import type { JobFeed } from '../../device/core/dialects/dialect.js';
import { VirtualDevice } from '../helpers/virtual-device.js';

export const enc = (s: string): Uint8Array => Uint8Array.from(s, (c) => c.charCodeAt(0));
export const dec = (b: ArrayLike<number>): string => String.fromCharCode(...Array.from(b));

export class Bench {
  readonly d: VirtualDevice;
  /** Every message the device sent, in order. */
  readonly msgs: DeviceMessage[] = [];
  private mark = 0;

  constructor(dialect: Dialect, opts: { poll?: number; flow?: FlowControl; room?: number; transport?: PortTransport } = {}) {
    this.d = new VirtualDevice({
      window: 4096, maxChunk: 512,
      ports: [{
        port: 0, dialect, ...(opts.poll === undefined ? {} : { poll: opts.poll }), ...(opts.flow === undefined ? {} : { flow: opts.flow }),
        ...(opts.transport === undefined ? {} : { transport: opts.transport }),
      }],
    });
    this.d.bringOnline();
    this.collect();
    this.d.handle({ type: 'port.state', port: 0, state: 'online' });
    if (opts.room !== 0) this.room(opts.room ?? 4096);
  }

  collect(): DeviceMessage[] {
    const m = this.d.sent();
    this.msgs.push(...m);
    return m;
  }

  /** Messages since the last call to `news`. */
  news(): DeviceMessage[] {
    this.collect();
    const out = this.msgs.slice(this.mark);
    this.mark = this.msgs.length;
    return out;
  }

  room(n: number): void {
    this.d.handle({ type: 'port.writable', port: 0, room: n });
    this.collect();
  }

  answer(bytes: Uint8Array | string): void {
    this.d.handle({ type: 'port.data', port: 0, bytes: typeof bytes === 'string' ? enc(bytes) : bytes });
    this.collect();
  }

  /** Moves the clock, with the server answering in between so the link stays up. */
  advance(ms: number): void {
    const end = this.d.now + ms;
    while (this.d.now < end) {
      this.d.advanceTo(Math.min(end, this.d.now + 10_000));
      this.d.server({ t: 'pong' });
    }
    this.collect();
  }

  /** All bytes written to the printer so far. */
  get out(): Uint8Array {
    return Uint8Array.from(this.d.printed.get(0) ?? []);
  }

  /** Bytes written since the last call to `fresh`. */
  private seen = 0;
  fresh(): Uint8Array {
    const all = this.out;
    const f = all.subarray(this.seen);
    this.seen = all.length;
    return f;
  }

  start(id: string, data: Uint8Array, stream = 1, extra: { resume?: boolean } = {}): void {
    this.d.server({ t: 'job.start', id, stream, port: 0, size: data.length, ...extra });
    for (let off = 0; off < data.length; off += 512) this.d.data(stream, off, data.subarray(off, Math.min(data.length, off + 512)));
    this.collect();
  }

  status(): Extract<DeviceMessage, { t: 'status' }>['ports'][number] {
    const s = this.msgs.filter((m) => m.t === 'status').pop();
    assert.ok(s?.t === 'status', 'no status message');
    const p = s.ports[0];
    assert.ok(p !== undefined);
    return p;
  }

  state(): string {
    return this.d.core.snapshot().ports[0]?.state ?? '?';
  }

  has(pred: (m: DeviceMessage) => boolean): boolean {
    return this.collect(), this.msgs.some(pred);
  }

  done(id: string): boolean {
    return this.has((m) => m.t === 'job.done' && m.id === id);
  }

  failure(id: string): Extract<DeviceMessage, { t: 'job.fail' }> | undefined {
    this.collect();
    const f = this.msgs.find((m) => m.t === 'job.fail' && m.id === id);
    return f?.t === 'job.fail' ? f : undefined;
  }

  jobStates(id: string): string[] {
    this.collect();
    return this.msgs.flatMap((m) => (m.t === 'job.state' && m.id === id ? [m.state] : []));
  }
}

/** Counts non-overlapping occurrences of `needle` in `hay`. */
export function count(hay: Uint8Array, needle: Uint8Array): number {
  let n = 0;
  for (let i = 0; i + needle.length <= hay.length; i++) {
    let ok = true;
    for (let j = 0; j < needle.length && ok; j++) ok = hay[i + j] === needle[j];
    if (ok) {
      n++;
      i += needle.length - 1;
    }
  }
  return n;
}

/** A whole job as a feed, for driving a dialect without a spool. */
export function bytesFeed(data: Uint8Array): JobFeed {
  let at = 0;
  return {
    get length() {
      return data.length - at;
    },
    last: true,
    peek: (max) => data.subarray(at, Math.min(data.length, at + max)),
    take(n) {
      const part = data.subarray(at, Math.min(data.length, at + n));
      at += part.length;
      return part;
    },
  };
}
