import assert from 'node:assert/strict';
import { test } from 'node:test';
import { DEFAULT_TIMINGS } from '../../device/core/link.js';
import { CLOSE } from '../../protocol/errors.js';
import { PROTOCOL_VERSION } from '../../protocol/version.js';
import { VirtualDevice } from '../helpers/virtual-device.js';

const T = DEFAULT_TIMINGS;

test('no network, no connect; network up connects within the first backoff window', () => {
  const d = new VirtualDevice();
  d.handle({ type: 'boot' });
  d.advance(10 * 60_000);
  assert.equal(d.take().filter((e) => e.type === 'ws.connect').length, 0);
  assert.equal(d.core.snapshot().link, 'offline');
  const t0 = d.now;
  d.handle({ type: 'network', up: true });
  const c = d.advanceUntil((e) => e.type === 'ws.connect');
  assert.ok(d.now - t0 < T.backoffBase);
  assert.deepEqual(c, { type: 'ws.connect', url: 'ws://server/v1/device?id=dev-1', token: 'secret' });
});

test('open sends hello with version, window and ports; welcome makes it online', () => {
  const d = new VirtualDevice({ window: 4096, maxChunk: 512, ports: [{ port: 0, dialect: 'escpos' }, { port: 1, dialect: 'zpl' }] });
  d.handle({ type: 'network', up: true });
  d.advanceUntil((e) => e.type === 'ws.connect');
  d.take();
  d.handle({ type: 'ws.open' });
  const [hello] = d.sent();
  assert.ok(hello?.t === 'hello');
  assert.deepEqual(hello.v, PROTOCOL_VERSION);
  assert.equal(hello.window, 4096);
  assert.equal(hello.maxChunk, 512);
  assert.deepEqual(hello.ports.map((p) => p.dialect), ['escpos', 'zpl']);
  assert.equal(d.core.snapshot().link, 'handshaking');
  d.server({ t: 'welcome', v: PROTOCOL_VERSION, hb: 25_000, time: 0 });
  assert.equal(d.core.snapshot().link, 'online');
  assert.ok(d.sent().some((m) => m.t === 'status'), 'status goes out once online');
});

test('failed attempts back off exponentially within capped, jittered windows', () => {
  const d = new VirtualDevice({}, 7);
  d.handle({ type: 'network', up: true });
  let last = d.now;
  for (let attempt = 1; attempt <= 12; attempt++) {
    d.advanceUntil((e) => e.type === 'ws.connect');
    d.take();
    if (attempt > 1) {
      const waited = d.now - last;
      const ceiling = Math.min(T.backoffCap, T.backoffBase * 2 ** (attempt - 1));
      assert.ok(waited < ceiling, `attempt ${attempt}: waited ${waited} ≥ ${ceiling}`);
    }
    d.handle({ type: 'ws.closed', code: 1006 });
    last = d.now;
  }
  // The first, jittered wait after the network came up counts as one.
  assert.equal(d.core.snapshot().attempt, 13);
});

test('connect and hello timeouts abandon the socket and back off', () => {
  const d = new VirtualDevice();
  d.handle({ type: 'network', up: true });
  d.advanceUntil((e) => e.type === 'ws.connect');
  d.take();
  d.advance(T.connectTimeout);
  assert.ok(d.take().some((e) => e.type === 'ws.close'));
  assert.equal(d.core.snapshot().link, 'backoff');
  d.advanceUntil((e) => e.type === 'ws.connect');
  d.handle({ type: 'ws.open' });
  d.take();
  d.advance(T.helloTimeout);
  const close = d.take().find((e) => e.type === 'ws.close');
  assert.ok(close?.type === 'ws.close' && close.code === CLOSE.HELLO_TIMEOUT.code);
  // The host reports the close of the abandoned socket later: it must not count twice.
  const attempt = d.core.snapshot().attempt;
  d.handle({ type: 'ws.closed', code: 1006 });
  assert.equal(d.core.snapshot().attempt, attempt);
});

test('heartbeat: pings when idle, declares the server dead after silence, reconnects', () => {
  const d = new VirtualDevice();
  d.bringOnline();
  d.sent();
  d.advance(T.pingInterval);
  assert.ok(d.sent().some((m) => m.t === 'ping'), 'ping after pingInterval of silence');
  // Server answers: the link stays up past deadAfter as long as something arrives.
  for (let i = 0; i < 5; i++) {
    d.advance(T.pingInterval);
    d.server({ t: 'pong' });
  }
  assert.equal(d.core.snapshot().link, 'online');
  d.take();
  d.advance(T.deadAfter);
  const close = d.take().find((e) => e.type === 'ws.close');
  assert.ok(close?.type === 'ws.close' && close.code === CLOSE.HEARTBEAT.code);
  assert.notEqual(d.core.snapshot().link, 'online');
  d.advanceUntil((e) => e.type === 'ws.connect');
});

test('the attempt counter resets only after a stable period online', () => {
  const d = new VirtualDevice();
  d.handle({ type: 'network', up: true });
  for (let i = 0; i < 5; i++) {
    d.advanceUntil((e) => e.type === 'ws.connect');
    d.take();
    d.handle({ type: 'ws.closed', code: 1006 });
  }
  const failing = d.core.snapshot().attempt;
  // Online briefly, then dropped: still backing off.
  d.advanceUntil((e) => e.type === 'ws.connect');
  d.take();
  d.handle({ type: 'ws.open' });
  d.server({ t: 'welcome', v: PROTOCOL_VERSION, hb: 25_000, time: 0 });
  d.advance(T.stableAfter / 2);
  d.handle({ type: 'ws.closed', code: 1006 });
  assert.ok(d.core.snapshot().attempt > failing);
  // Online for the stable period: the counter starts over.
  d.advanceUntil((e) => e.type === 'ws.connect');
  d.take();
  d.handle({ type: 'ws.open' });
  d.server({ t: 'welcome', v: PROTOCOL_VERSION, hb: 25_000, time: 0 });
  for (let t = 0; t < T.stableAfter; t += 5000) {
    d.advance(5000);
    d.server({ t: 'pong' });
  }
  assert.equal(d.core.snapshot().attempt, 0);
});

test('network loss closes the socket and waits offline; the return reconnects', () => {
  const d = new VirtualDevice();
  d.bringOnline();
  d.take();
  d.handle({ type: 'network', up: false });
  assert.ok(d.take().some((e) => e.type === 'ws.close'));
  assert.equal(d.core.snapshot().link, 'offline');
  assert.equal(d.core.snapshot().led, 'no-network');
  d.advance(60_000);
  assert.equal(d.take().filter((e) => e.type === 'ws.connect').length, 0);
  d.handle({ type: 'network', up: true });
  d.advanceUntil((e) => e.type === 'ws.connect');
});

test('a replaced or refused device waits the longest backoff instead of fighting', () => {
  const d = new VirtualDevice();
  d.bringOnline();
  d.take();
  const t0 = d.now;
  d.handle({ type: 'ws.closed', code: CLOSE.REPLACED.code, reason: 'replaced' });
  d.advanceUntil((e) => e.type === 'ws.connect');
  // Uniform in [0, cap): with this seed it lands well past the short early windows.
  assert.ok(d.core.snapshot().attempt > 10);
  assert.ok(d.now - t0 < T.backoffCap);
});

test('an incompatible welcome is refused with the VERSION close code', () => {
  const d = new VirtualDevice();
  d.handle({ type: 'network', up: true });
  d.advanceUntil((e) => e.type === 'ws.connect');
  d.handle({ type: 'ws.open' });
  d.take();
  d.server({ t: 'welcome', v: [PROTOCOL_VERSION[0] + 1, 0], hb: 25_000, time: 0 });
  const close = d.take().find((e) => e.type === 'ws.close');
  assert.ok(close?.type === 'ws.close' && close.code === CLOSE.VERSION.code);
});

test('garbage from the server becomes an error reply, never an exception', () => {
  const d = new VirtualDevice();
  d.bringOnline();
  d.sent();
  for (const text of ['not json', '[]', '{"t":"nope"}', '{"t":"job.start","id":"x"}', '{"t":"job.start","id":"x","stream":1,"port":0,"size":-4}']) {
    d.handle({ type: 'ws.text', text });
  }
  d.handle({ type: 'ws.binary', bytes: new Uint8Array([9, 9]) });
  const errors = d.sent().filter((m) => m.t === 'error').map((m) => (m.t === 'error' ? m.code : ''));
  assert.deepEqual(errors, ['BAD_JSON', 'BAD_MESSAGE', 'UNKNOWN_TYPE', 'MISSING_FIELD', 'BAD_FIELD', 'BAD_FRAME']);
  assert.equal(d.core.snapshot().link, 'online');
});
