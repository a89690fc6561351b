import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { HOST_CONTROLS_MAX } from '../../device/core/device.js';
import { PORTS_MAX } from '../../protocol/device-messages.js';
import { PROTOCOL_VERSION } from '../../protocol/version.js';
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

describe('control messages the host answers (hostControls)', () => {
  const hosted = (): VirtualDevice => {
    const d = new VirtualDevice({ hostControls: ['printers.scan', 'printers.add'], caps: ['x'] });
    d.bringOnline();
    return d;
  };

  test('they are announced in hello, handed to the host, and its answer goes back under the same ref', () => {
    const d = new VirtualDevice({ hostControls: ['printers.scan'], caps: ['x'] });
    d.handle({ type: 'boot' });
    d.handle({ type: 'network', up: true });
    d.advanceUntil((e) => e.type === 'ws.connect');
    d.handle({ type: 'ws.open' });
    const hello = d.sent().find((m) => m.t === 'hello');
    assert.ok(hello?.t === 'hello');
    assert.deepEqual(hello.caps, ['x', 'printers.scan']);
    d.server({ t: 'welcome', v: [...PROTOCOL_VERSION], hb: 25_000, time: 0 });
    d.take();
    d.server({ t: 'control', ref: 's1', name: 'printers.scan', args: { deep: true } });
    const fx = d.take();
    assert.deepEqual(fx.filter((e) => e.type === 'control'), [{ type: 'control', ref: 's1', name: 'printers.scan', args: { deep: true } }]);
    assert.ok(!fx.some((e) => e.type === 'ws.send'), 'nothing is answered before the host answers');
    d.handle({ type: 'control.answer', ref: 's1', ok: true, data: { printers: [] } });
    const answered = d.sent().filter((m) => m.t === 'control.result');
    assert.deepEqual(answered.map((m) => [m.ref, m.ok, m.data]), [['s1', true, { printers: [] }]]);
    // A second answer for the same ref, or one for a ref never asked, goes nowhere.
    d.handle({ type: 'control.answer', ref: 's1', ok: true });
    d.handle({ type: 'control.answer', ref: 'never', ok: false, code: 'INTERNAL', message: 'x' });
    assert.deepEqual(d.sent(), []);
  });

  test('a refusal keeps its code; a name neither core nor host knows stays UNSUPPORTED without reaching the host', () => {
    const d = hosted();
    d.take();
    d.server({ t: 'control', ref: 'a1', name: 'printers.add', args: { uri: 'serial:/dev/sda' } });
    d.handle({ type: 'control.answer', ref: 'a1', ok: false, code: 'BAD_FIELD', message: 'not among the printers' });
    const refused = result(d, 'a1');
    assert.deepEqual([refused.ok, refused.code, refused.message], [false, 'BAD_FIELD', 'not among the printers']);
    d.take();
    d.server({ t: 'control', ref: 'u1', name: 'printers.remove', args: {} });
    assert.equal(result(d, 'u1').code, 'UNSUPPORTED');
    assert.ok(!d.take().some((e) => e.type === 'control'));
  });

  test(`at most ${HOST_CONTROLS_MAX} wait for the host at once; more are RATE_LIMITED until one is answered`, () => {
    const d = hosted();
    d.take();
    for (let i = 0; i < HOST_CONTROLS_MAX; i++) d.server({ t: 'control', ref: `q${i}`, name: 'printers.scan', args: {} });
    assert.equal(d.take().filter((e) => e.type === 'control').length, HOST_CONTROLS_MAX);
    d.server({ t: 'control', ref: 'over', name: 'printers.scan', args: {} });
    assert.equal(result(d, 'over').code, 'RATE_LIMITED');
    assert.ok(!d.take().some((e) => e.type === 'control'));
    d.handle({ type: 'control.answer', ref: 'q0', ok: true });
    d.server({ t: 'control', ref: 'again', name: 'printers.scan', args: {} });
    assert.ok(d.take().some((e) => e.type === 'control' && e.ref === 'again'));
  });

  test('an answer that comes after the session ended is not sent on the next one', () => {
    const d = hosted();
    d.server({ t: 'control', ref: 'old', name: 'printers.scan', args: {} });
    d.handle({ type: 'ws.closed', code: 1006 });
    d.advanceUntil((e) => e.type === 'ws.connect');
    d.handle({ type: 'ws.open' });
    d.server({ t: 'welcome', v: [...PROTOCOL_VERSION], hb: 25_000, time: 0 });
    d.take();
    d.handle({ type: 'control.answer', ref: 'old', ok: true, data: { printers: [] } });
    assert.deepEqual(d.sent().filter((m) => m.t === 'control.result'), []);
  });

  test('a port the host adds is said in a new hello; a job on another port carries on across the reconnect', () => {
    const d = hosted();
    d.handle({ type: 'port.writable', port: 0, room: 100 });
    d.server({ t: 'job.start', id: 'j1', stream: 1, port: 0, size: 4 });
    d.data(1, 0, new Uint8Array([1, 2]));
    d.take();
    d.handle({ type: 'port.added', port: { port: 1, dialect: 'escpos', name: 'Added' } });
    const fx = d.take();
    assert.ok(fx.some((e) => e.type === 'ws.close'), 'the link starts over to say hello again');
    d.advanceUntil((e) => e.type === 'ws.connect');
    d.handle({ type: 'ws.open' });
    const hello = d.sent().find((m) => m.t === 'hello');
    assert.ok(hello?.t === 'hello');
    assert.deepEqual(hello.ports.map((p) => [p.port, p.dialect, p.name]), [[0, 'raw', undefined], [1, 'escpos', 'Added']]);
    d.server({ t: 'welcome', v: [...PROTOCOL_VERSION], hb: 25_000, time: 0 });
    d.server({ t: 'job.start', id: 'j1', stream: 2, port: 0, size: 4 });
    const accept = d.sent().find((m) => m.t === 'job.accept');
    assert.deepEqual(accept, { t: 'job.accept', id: 'j1', received: 2, written: 2, fresh: false });
    // The same number twice, or a 17th port, is not taken.
    d.handle({ type: 'port.added', port: { port: 1, dialect: 'raw' } });
    assert.equal(d.core.snapshot().ports.length, 2);
  });

  test(`a device never has more than ${PORTS_MAX} ports`, () => {
    const d = new VirtualDevice({ hostControls: ['printers.add'], ports: Array.from({ length: PORTS_MAX }, (_, port) => ({ port, dialect: 'raw' as const })) });
    d.bringOnline();
    d.take();
    d.handle({ type: 'port.added', port: { port: PORTS_MAX, dialect: 'raw' } });
    assert.equal(d.core.snapshot().ports.length, PORTS_MAX);
    assert.ok(!d.take().some((e) => e.type === 'ws.close'));
  });
});
