import assert from 'node:assert/strict';
import { test } from 'node:test';
import { VirtualDevice } from '../helpers/virtual-device.js';

function online(): VirtualDevice {
  const d = new VirtualDevice();
  d.bringOnline();
  d.take();
  return d;
}

function result(d: VirtualDevice, ref: string) {
  const r = d.sent().find((m) => m.t === 'control.result' && m.ref === ref);
  assert.ok(r?.t === 'control.result', `no control.result for ${ref}`);
  return r;
}

test('identify blinks the identify pattern for the asked time, then returns', () => {
  const d = online();
  d.server({ t: 'control', ref: 'a', name: 'identify', args: { seconds: 3 } });
  assert.equal(result(d, 'a').ok, true);
  assert.equal(d.core.snapshot().led, 'identify');
  d.advance(2999);
  assert.equal(d.core.snapshot().led, 'identify');
  d.advance(2);
  assert.equal(d.core.snapshot().led, 'online');
});

test('led override holds until set back to auto', () => {
  const d = online();
  d.server({ t: 'control', ref: 'b', name: 'led', args: { pattern: 'off' } });
  assert.equal(result(d, 'b').ok, true);
  assert.equal(d.core.snapshot().led, 'off');
  d.server({ t: 'control', ref: 'c', name: 'led', args: { pattern: 'rainbow' } });
  assert.equal(result(d, 'c').code, 'BAD_FIELD');
  d.server({ t: 'control', ref: 'd', name: 'led', args: { pattern: 'auto' } });
  assert.equal(d.core.snapshot().led, 'online');
});

test('config persists settings and reconnects with a new server URL and token', () => {
  const d = online();
  d.server({ t: 'control', ref: 'e', name: 'config', args: { server: 'ws://other:9000', token: 'new-token' } });
  assert.equal(result(d, 'e').ok, true);
  const fx = d.take();
  const persist = fx.find((e) => e.type === 'persist');
  assert.deepEqual(persist, { type: 'persist', settings: { server: 'ws://other:9000', token: 'new-token' } });
  assert.ok(fx.some((e) => e.type === 'ws.close'));
  const c = d.advanceUntil((e) => e.type === 'ws.connect');
  assert.deepEqual(c, { type: 'ws.connect', url: 'ws://other:9000/v1/device?id=dev-1', token: 'new-token' });
});

test('config rejects values that cannot be stored', () => {
  const d = online();
  d.server({ t: 'control', ref: 'f', name: 'config', args: { 'a-very-long-setting-name': 'x' } });
  assert.equal(result(d, 'f').code, 'BAD_FIELD');
  d.server({ t: 'control', ref: 'g', name: 'config', args: { server: 42 } });
  assert.equal(result(d, 'g').code, 'BAD_FIELD');
  assert.ok(!d.take().some((e) => e.type === 'persist'));
});

test('restart answers first, then asks the host to restart', () => {
  const d = online();
  d.server({ t: 'control', ref: 'h', name: 'restart', args: {} });
  const fx = d.take();
  const i = fx.findIndex((e) => e.type === 'ws.send' && typeof e.data === 'string' && e.data.includes('"h"'));
  const j = fx.findIndex((e) => e.type === 'restart');
  assert.ok(i >= 0 && j > i);
});

test('an unknown control gets UNSUPPORTED and the device carries on', () => {
  const d = online();
  d.server({ t: 'control', ref: 'i', name: 'self-destruct', args: {} });
  assert.equal(result(d, 'i').code, 'UNSUPPORTED');
  d.server({ t: 'control', ref: 'j', name: 'status', args: {} });
  const r = result(d, 'j');
  assert.equal(r.ok, true);
  assert.equal((r.data as { link?: string } | undefined)?.link, 'online');
});

test('the first heap and RSSI figures are reported at once, later ones with the periodic status', () => {
  const d = online();
  d.sent();
  d.handle({ type: 'host.stats', heap: 50_000, rssi: -60 });
  const first = d.sent().find((m) => m.t === 'status');
  assert.ok(first?.t === 'status' && first.heap === 50_000 && first.rssi === -60);
  d.handle({ type: 'host.stats', heap: 49_000, rssi: -61 });
  assert.equal(d.sent().filter((m) => m.t === 'status').length, 0);
  for (let i = 0; i < 6; i++) {
    d.advance(10_000);
    d.server({ t: 'pong' }); // keep the link alive through the minute
  }
  const periodic = d.sent().find((m) => m.t === 'status');
  assert.ok(periodic?.t === 'status' && periodic.heap === 49_000);
});
