// On the ESP32, protocol/ and device/core are preloaded: the modules run at
// build time and every object they leave behind lives in flash, frozen. XS's
// JSON.stringify refuses such an object ("read only value": it cannot mark a
// flash object while it walks the tree), so a module-level constant that ends
// up inside a message reboots the board the moment it is sent.
//
// This test makes Node behave the same way: it deep-freezes every exported
// value of every module under protocol/ and device/core/ (and the device's
// configuration, which the firmware reads from the preloaded mc/config), and
// lets JSON.stringify throw on any frozen object in what it is given. Then it
// drives a device through everything it sends.

import assert from 'node:assert/strict';
import { readdirSync, statSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { test } from 'node:test';
import { pathToFileURL } from 'node:url';
import type { DeviceConfig } from '../../device/core/types.js';
import type { DeviceMessage } from '../../protocol/device-messages.js';
import { PROTOCOL_VERSION } from '../../protocol/version.js';
import { VirtualDevice } from '../helpers/virtual-device.js';

const PRELOADED_ROOTS = ['protocol', 'device/core'];

function sources(dir: string): string[] {
  const out: string[] = [];
  for (const name of readdirSync(dir).sort()) {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) out.push(...sources(p));
    else if (name.endsWith('.ts') && !name.endsWith('.test.ts') && !name.endsWith('.d.ts')) out.push(p);
  }
  return out;
}

/** Freezes `value` and everything reachable through own properties (functions and their prototypes too, as XS does). */
function deepFreeze(value: unknown, seen = new Set<unknown>()): void {
  if ((typeof value !== 'object' && typeof value !== 'function') || value === null || seen.has(value)) return;
  seen.add(value);
  // A typed array with elements cannot be frozen in JavaScript; XS keeps them in flash too, but nothing JSON-encodes bytes.
  if (ArrayBuffer.isView(value)) return;
  Object.freeze(value);
  for (const key of Reflect.ownKeys(value)) {
    const d = Object.getOwnPropertyDescriptor(value, key);
    if (d !== undefined && 'value' in d) deepFreeze(d.value, seen);
  }
  if (value instanceof Map) for (const [k, v] of value) (deepFreeze(k, seen), deepFreeze(v, seen));
  if (value instanceof Set) for (const v of value) deepFreeze(v, seen);
}

/** Like XS's JSON.stringify for preloaded objects: a frozen object anywhere in the value throws. */
function refuseFrozen(value: unknown, path: string, seen = new Set<unknown>()): void {
  if (typeof value !== 'object' || value === null || seen.has(value)) return;
  seen.add(value);
  if (Object.isFrozen(value)) throw new TypeError(`read only value (at ${path})`);
  for (const [k, v] of Object.entries(value)) refuseFrozen(v, `${path}.${k}`, seen);
}

async function freezeModules(): Promise<number> {
  let frozen = 0;
  for (const file of PRELOADED_ROOTS.flatMap(sources)) {
    const ns = (await import(pathToFileURL(resolve(file)).href)) as Record<string, unknown>;
    for (const v of Object.values(ns)) {
      deepFreeze(v);
      frozen++;
    }
  }
  return frozen;
}

/** Runs `fn` with an XS-like JSON.stringify. */
function asOnXs(fn: () => void): void {
  const real = JSON.stringify;
  JSON.stringify = ((value: unknown, replacer?: never, space?: string | number) => {
    refuseFrozen(value, '$');
    return real(value, replacer, space);
  }) as typeof JSON.stringify;
  try {
    fn();
  } finally {
    JSON.stringify = real;
  }
}

test('the XS stand-in refuses a frozen object anywhere in a message', () => {
  asOnXs(() => {
    assert.throws(() => JSON.stringify({ t: 'hello', v: Object.freeze([1, 2]) }), /read only value \(at \$\.v\)/);
    assert.equal(JSON.stringify({ t: 'ping', v: [1, 2] }), '{"t":"ping","v":[1,2]}');
  });
});

test('nothing a device sends carries a preloaded (frozen) constant', async () => {
  const count = await freezeModules();
  assert.ok(count > 40, `froze ${count} exports`);
  assert.ok(Object.isFrozen(PROTOCOL_VERSION), 'the modules the device uses are the ones frozen');

  const config: Partial<DeviceConfig> = {
    caps: ['gcode-temps'],
    ports: [{ port: 0, dialect: 'raw', name: 'front' }, { port: 1, dialect: 'gcode', name: 'printer', poll: 0 }],
    timings: { pingInterval: 5_000 },
  };
  deepFreeze(config);

  const sent: DeviceMessage[] = [];
  asOnXs(() => {
    const d = new VirtualDevice(config);
    const collect = (): void => void sent.push(...d.sent());
    const ask = (ref: string, name: string, args: Record<string, unknown> = {}): void => {
      d.server({ t: 'control', ref, name, args });
      collect();
    };

    d.handle({ type: 'boot' });
    d.handle({ type: 'network', up: true });
    d.advanceUntil((e) => e.type === 'ws.connect');
    d.handle({ type: 'ws.open' });
    d.server({ t: 'welcome', v: [1, 2], hb: 25_000, time: 0 });
    for (const port of [0, 1]) {
      d.handle({ type: 'port.state', port, state: 'online' });
      d.handle({ type: 'port.writable', port, room: 4096 });
    }
    d.handle({ type: 'host.stats', heap: 50_000, rssi: -60 });
    ask('c7', 'printer.command', { port: 1, data: 'M105' });
    d.handle({ type: 'port.data', port: 1, bytes: Uint8Array.from('ok T:26.0 /0.0\n', (c) => c.charCodeAt(0)) });
    collect();

    // A job on the raw port, start to finish, and one for a port that does not exist.
    const payload = Uint8Array.from([0x41, 0x42, 0x43, 0x0a]);
    d.server({ t: 'job.start', id: 'j1', stream: 1, port: 0, size: payload.length });
    d.data(1, 0, payload);
    d.server({ t: 'job.start', id: 'j2', stream: 2, port: 7, size: 10 });
    // A raw job offered while its port is closed: held (job.state), then printed once the port is back.
    d.handle({ type: 'port.state', port: 0, state: 'offline', detail: 'ECONNREFUSED' });
    d.server({ t: 'job.start', id: 'j3', stream: 4, port: 0, size: payload.length });
    d.data(4, 0, payload);
    d.handle({ type: 'port.state', port: 0, state: 'online' });
    d.handle({ type: 'port.writable', port: 0, room: 4096 });
    // A G-code job: paused, resumed, answered with temperatures, then canceled.
    d.server({ t: 'job.start', id: 'g1', stream: 3, port: 1, size: 12 });
    d.data(3, 0, Uint8Array.from('G28\nG1 X10\n\n', (c) => c.charCodeAt(0)));
    d.server({ t: 'job.pause', id: 'g1' });
    d.server({ t: 'job.resume', id: 'g1' });
    d.handle({ type: 'port.data', port: 1, bytes: Uint8Array.from('ok T:25.0 /200.0 B:24.1 /60.0\n', (c) => c.charCodeAt(0)) });
    d.handle({ type: 'port.state', port: 1, state: 'offline', detail: 'unplugged' });
    d.handle({ type: 'port.state', port: 1, state: 'online' });
    d.server({ t: 'job.cancel', id: 'g1' });
    collect();

    // Every control, the good and the refused.
    ask('c1', 'identify', { seconds: 2 });
    ask('c2', 'led', { pattern: 'printing', seconds: 5 });
    ask('c3', 'led', { pattern: 'rainbow' });
    ask('c4', 'led', { pattern: 'auto' });
    ask('c5', 'status');
    ask('c6', 'printer.command', { port: 0, data: 'hello' });
    ask('c8', 'printer.command', { port: 9, data: 'x' });
    ask('c9', 'self-destruct');
    ask('c10', 'identify', { seconds: 0 });
    ask('c11', 'config', { location: 'front desk' });
    // Garbage and a server error, then time: heartbeat pings and periodic status.
    d.handle({ type: 'ws.text', text: '{"t":"nope"}' });
    d.handle({ type: 'ws.binary', bytes: new Uint8Array([9, 9]) });
    d.server({ t: 'error', code: 'BAD_FIELD', message: 'your fault' });
    for (let i = 0; i < 14; i++) {
      d.advance(5_000);
      d.server({ t: 'pong' });
    }
    collect();
    ask('c12', 'restart');
  });

  const kinds = new Set(sent.map((m) => m.t));
  for (const t of ['hello', 'status', 'job.accept', 'job.ack', 'job.done', 'job.fail', 'job.state', 'control.result', 'error', 'ping'] as const) {
    assert.ok(kinds.has(t), `the drive covered ${t}`);
  }
  const hello = sent.find((m) => m.t === 'hello');
  assert.ok(hello?.t === 'hello');
  assert.deepEqual(hello.v, [...PROTOCOL_VERSION]);
  assert.deepEqual(hello.caps, ['gcode-temps']);
  const results = new Map(sent.flatMap((m) => (m.t === 'control.result' ? [[m.ref, m]] : [])));
  for (const ref of ['c1', 'c2', 'c3', 'c4', 'c5', 'c6', 'c7', 'c8', 'c9', 'c10', 'c11', 'c12']) assert.ok(results.has(ref), `answered ${ref}`);
  assert.ok(sent.some((m) => m.t === 'status' && m.ports.some((p) => p.temps !== undefined)), 'a status with temperatures went out');
});
