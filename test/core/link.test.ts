import assert from 'node:assert/strict';
import { test } from 'node:test';
import { DEFAULT_TIMINGS } from '../../device/core/link.js';
import { WIDEST_ATTEMPT } from '../../device/core/backoff.js';
import { CLOSE, closeName, UPGRADE_REFUSAL } from '../../protocol/errors.js';
import { PROTOCOL_VERSION } from '../../protocol/version.js';
import type { LinkCause } from '../../device/core/types.js';
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

test('the first connection after start waits within firstWindow (0: at once); a later network up backs off as before', () => {
  // Seeds whose first draw is far into the window, so that "at once" is not luck.
  for (const seed of [1, 2, 3, 4, 5]) {
    const spread = new VirtualDevice({}, seed);
    spread.handle({ type: 'network', up: true });
    const t0 = spread.now;
    spread.advanceUntil((e) => e.type === 'ws.connect');
    assert.ok(spread.now - t0 < T.firstWindow);

    const atOnce = new VirtualDevice({ timings: { ...T, firstWindow: 0 } }, seed);
    atOnce.handle({ type: 'network', up: true });
    const t1 = atOnce.now;
    atOnce.advanceUntil((e) => e.type === 'ws.connect');
    assert.equal(atOnce.now - t1, 0, `seed ${seed}: the first attempt went at once`);
  }
  // A network that goes down and comes back is a fleet's shared event: jittered again.
  const waits: number[] = [];
  for (const seed of [11, 12, 13, 14, 15, 16]) {
    const d = new VirtualDevice({ timings: { ...T, firstWindow: 0 } }, seed);
    d.handle({ type: 'network', up: true });
    d.advanceUntil((e) => e.type === 'ws.connect');
    d.take();
    d.handle({ type: 'network', up: false });
    const t2 = d.now;
    d.handle({ type: 'network', up: true });
    d.advanceUntil((e) => e.type === 'ws.connect');
    waits.push(d.now - t2);
  }
  assert.ok(waits.some((w) => w > 0), `a network that came back waited: ${waits.join(', ')}`);
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

test('heartbeat: a device that keeps sending still pings a server that says nothing, and stays online on its pongs', () => {
  // Status reports every second: a ping timed by what was sent would never go
  // out, and the link would be declared dead while the server is fine.
  const d = new VirtualDevice({ statusInterval: 1_000 });
  d.bringOnline();
  d.sent();
  let pings = 0;
  for (let t = 0; t < 4 * T.deadAfter; t += 500) {
    d.advance(500);
    const out = d.sent();
    const p = out.filter((m) => m.t === 'ping').length;
    pings += p;
    if (p > 0) d.server({ t: 'pong' });
  }
  assert.equal(d.core.snapshot().link, 'online', 'never declared dead while pongs come back');
  assert.ok(pings >= Math.floor((4 * T.deadAfter) / T.pingInterval) - 1, `pinged on silence: ${pings}`);
  assert.ok(pings <= Math.ceil((4 * T.deadAfter) / T.pingInterval) + 1, `at most one ping per interval: ${pings}`);
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

const FINAL = [CLOSE.REPLACED, CLOSE.VERSION, CLOSE.REVOKED] as const;

/** Log effects at warn or error level (the link's complaints) since the last take. */
function warnings(d: VirtualDevice): string[] {
  return d.take().flatMap((e) => (e.type === 'log' && (e.level === 'warn' || e.level === 'error') ? [e.message] : []));
}

for (const close of FINAL) {
  test(`close ${close.code} stops the link for good: no reconnect, one warning, the refused LED`, () => {
    const d = new VirtualDevice();
    d.bringOnline();
    d.take();
    d.handle({ type: 'ws.closed', code: close.code, reason: close.text });
    assert.equal(d.core.snapshot().link, 'stopped');
    assert.equal(d.core.snapshot().led, 'refused');
    const warned = warnings(d);
    assert.equal(warned.length, 1, warned.join('\n'));
    assert.match(warned[0] ?? '', new RegExp(`${close.code} ${closeName(close.code)}`));
    assert.equal(d.core.nextDeadline(), undefined, 'nothing left to wake up for');
    d.advance(24 * 3600_000);
    // Not even a network flap brings it back: only a new core (a restart) does.
    d.handle({ type: 'network', up: false });
    d.handle({ type: 'network', up: true });
    d.advance(3600_000);
    const after = d.take();
    assert.deepEqual(after.filter((e) => e.type === 'ws.connect'), []);
    assert.equal(d.core.snapshot().link, 'stopped');
    assert.ok(after.some((e) => e.type === 'led' && e.pattern === 'no-network'));
    assert.equal(d.core.snapshot().led, 'refused');
  });
}

test('a final close while still handshaking (VERSION refusing our hello) stops the link too', () => {
  const d = new VirtualDevice();
  d.handle({ type: 'network', up: true });
  d.advanceUntil((e) => e.type === 'ws.connect');
  d.handle({ type: 'ws.open' });
  d.take();
  d.handle({ type: 'ws.closed', code: CLOSE.VERSION.code, reason: CLOSE.VERSION.text });
  assert.equal(d.core.snapshot().link, 'stopped');
  d.advance(3600_000);
  assert.deepEqual(d.take().filter((e) => e.type === 'ws.connect'), []);
});

test('a final close code reported for a socket we already dropped changes nothing', () => {
  const d = new VirtualDevice();
  d.handle({ type: 'network', up: true });
  d.advanceUntil((e) => e.type === 'ws.connect');
  d.advance(T.connectTimeout);
  assert.equal(d.core.snapshot().link, 'backoff');
  d.take();
  d.handle({ type: 'ws.closed', code: CLOSE.REPLACED.code });
  assert.equal(d.core.snapshot().link, 'backoff');
  assert.deepEqual(warnings(d), []);
  d.advanceUntil((e) => e.type === 'ws.connect');
});

for (const status of [UPGRADE_REFUSAL.UNAUTHORIZED, UPGRADE_REFUSAL.FORBIDDEN]) {
  test(`an upgrade refused with HTTP ${status} is retried from the longest backoff window, and never given up`, () => {
    const d = new VirtualDevice({}, 3);
    d.handle({ type: 'network', up: true });
    for (let round = 0; round < 5; round++) {
      d.advanceUntil((e) => e.type === 'ws.connect');
      d.take();
      const t0 = d.now;
      d.handle({ type: 'ws.closed', code: 1006, reason: `upgrade refused with HTTP ${status}`, status });
      assert.equal(d.core.snapshot().link, 'backoff');
      assert.ok(d.core.snapshot().attempt > WIDEST_ATTEMPT, 'the backoff window is at its cap');
      // Said at once, then at most once a minute (link-diagnosis.test.ts).
      const warned = warnings(d);
      if (round === 0) {
        assert.equal(warned.length, 1);
        assert.match(warned[0] ?? '', new RegExp(`HTTP ${status}`));
      }
      d.advanceUntil((e) => e.type === 'ws.connect');
      assert.ok(d.now - t0 < T.backoffCap);
      d.handle({ type: 'ws.closed', code: 1006, status });
      d.take();
    }
    // Registered at last: the next attempt gets in.
    d.advanceUntil((e) => e.type === 'ws.connect');
    d.handle({ type: 'ws.open' });
    d.server({ t: 'welcome', v: [...PROTOCOL_VERSION], hb: 25_000, time: 0 });
    assert.equal(d.core.snapshot().link, 'online');
  });
}

test('the longest backoff after a refusal really is longer: the mean wait sits near half the cap', () => {
  let total = 0;
  const runs = 40;
  for (let seed = 1; seed <= runs; seed++) {
    const d = new VirtualDevice({}, seed);
    d.handle({ type: 'network', up: true });
    d.advanceUntil((e) => e.type === 'ws.connect');
    d.take();
    const t0 = d.now;
    d.handle({ type: 'ws.closed', code: 1006, status: UPGRADE_REFUSAL.UNAUTHORIZED });
    d.advanceUntil((e) => e.type === 'ws.connect');
    total += d.now - t0;
  }
  const mean = total / runs;
  assert.ok(mean > T.backoffCap / 4 && mean < (T.backoffCap * 3) / 4, `mean wait ${mean} ms`);
});

const ORDINARY: ReadonlyArray<{ code: number; status?: number; cause: LinkCause }> = [
  { code: CLOSE.NORMAL.code, cause: 'dropped' }, { code: CLOSE.GOING_AWAY.code, cause: 'dropped' }, { code: 1006, cause: 'dropped' },
  { code: CLOSE.POLICY.code, cause: 'dropped' }, { code: CLOSE.INTERNAL.code, cause: 'server-error' },
  { code: CLOSE.HELLO_TIMEOUT.code, cause: 'dropped' }, { code: CLOSE.HEARTBEAT.code, cause: 'dropped' },
  { code: CLOSE.SLOW_CONSUMER.code, cause: 'dropped' }, { code: CLOSE.PROTOCOL.code, cause: 'dropped' },
  { code: 1006, status: UPGRADE_REFUSAL.NOT_FOUND, cause: 'rejected' }, { code: 1006, status: UPGRADE_REFUSAL.TOO_MANY, cause: 'server-error' },
];

for (const { code, status, cause } of ORDINARY) {
  test(`close ${code}${status === undefined ? '' : ` (HTTP ${status})`} reconnects with the ordinary backoff, saying why once`, () => {
    const d = new VirtualDevice();
    d.bringOnline();
    d.take();
    const attempt = d.core.snapshot().attempt;
    const t0 = d.now;
    d.handle({ type: 'ws.closed', code, reason: 'bye', ...(status === undefined ? {} : { status }) });
    assert.equal(d.core.snapshot().link, 'backoff');
    assert.equal(d.core.snapshot().attempt, attempt + 1);
    assert.equal(d.core.snapshot().problem?.cause, cause);
    assert.equal(warnings(d).length, 1);
    d.advanceUntil((e) => e.type === 'ws.connect');
    assert.ok(d.now - t0 < T.backoffBase * 2 ** attempt, `waited ${d.now - t0} ms`);
    // And again: the window grows, the link never stops.
    d.handle({ type: 'ws.closed', code, ...(status === undefined ? {} : { status }) });
    d.advanceUntil((e) => e.type === 'ws.connect');
    assert.notEqual(d.core.snapshot().link, 'stopped');
  });
}

test('an incompatible welcome is refused with the VERSION close code', () => {
  const d = new VirtualDevice();
  d.handle({ type: 'network', up: true });
  d.advanceUntil((e) => e.type === 'ws.connect');
  d.handle({ type: 'ws.open' });
  d.take();
  d.server({ t: 'welcome', v: [PROTOCOL_VERSION[0] + 1, 0], hb: 25_000, time: 0 });
  const effects = d.take();
  const close = effects.find((e) => e.type === 'ws.close');
  assert.ok(close?.type === 'ws.close' && close.code === CLOSE.VERSION.code);
  // Another major version will not change by retrying: the link stops until a restart.
  assert.equal(d.core.snapshot().link, 'stopped');
  assert.equal(effects.filter((e) => e.type === 'log' && e.level === 'error' && e.message.includes(`${CLOSE.VERSION.code} VERSION`)).length, 1);
  d.advance(3600_000);
  assert.deepEqual(d.take().filter((e) => e.type === 'ws.connect'), []);
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
