// The link's diagnosis on a virtual clock: every way an attempt can fail gets
// a stable cause in the snapshot and one line for a person, logged at once
// and then at most once a minute per cause while failures go on.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { DEFAULT_TIMINGS, REPEAT_AFTER } from '../../device/core/link.js';
import type { DeviceEffect, DeviceEvent, LinkCause, LogLevel } from '../../device/core/types.js';
import { CLOSE } from '../../protocol/errors.js';
import { PROTOCOL_VERSION } from '../../protocol/version.js';
import { VirtualDevice } from '../helpers/virtual-device.js';

const T = DEFAULT_TIMINGS;
type Closed = Omit<Extract<DeviceEvent, { type: 'ws.closed' }>, 'type'>;

interface Line {
  at: number;
  level: LogLevel;
  message: string;
}

/**
 * The link's complaints (warn and error logs) among `effects`, or else among
 * everything since the last take, with the time; either way the device's
 * record is emptied, so a later advanceUntil finds only new effects.
 */
function complaints(d: VirtualDevice, effects?: DeviceEffect[]): Line[] {
  const all = d.take();
  return (effects ?? all).flatMap((e) => (e.type === 'log' && (e.level === 'warn' || e.level === 'error') ? [{ at: d.now, level: e.level, message: e.message }] : []));
}

/** Network up and the first ws.connect: the link is connecting. */
function connecting(d: VirtualDevice): void {
  d.handle({ type: 'network', up: true });
  d.advanceUntil((e) => e.type === 'ws.connect');
  d.take();
}

function welcome(d: VirtualDevice): void {
  d.server({ t: 'welcome', v: [...PROTOCOL_VERSION], hb: 25_000, time: 0 });
}

interface Case {
  readonly name: string;
  /** Where the attempt is when it fails. */
  readonly stage: 'connecting' | 'online';
  readonly closed: Closed;
  readonly cause: LinkCause;
  readonly level: LogLevel;
  readonly says: readonly string[];
  readonly stops?: boolean;
}

const CASES: readonly Case[] = [
  { name: 'HTTP 401', stage: 'connecting', closed: { code: 1006, status: 401 }, cause: 'unauthorized', level: 'error', says: ['device dev-1', 'HTTP 401', 'unknown id or wrong token', 'printbridge devices add dev-1', 'retrying'] },
  { name: 'HTTP 403', stage: 'connecting', closed: { code: 1006, status: 403 }, cause: 'unauthorized', level: 'error', says: ['HTTP 403'] },
  { name: 'connection refused', stage: 'connecting', closed: { code: 1006, reason: 'connect ECONNREFUSED 127.0.0.1:9', cause: 'refused' }, cause: 'unreachable', level: 'warn', says: ['cannot reach the server at ws://server', 'connection refused', 'retrying'] },
  { name: 'DNS failure', stage: 'connecting', closed: { code: 1006, cause: 'dns' }, cause: 'unreachable', level: 'warn', says: ['host name not found'] },
  { name: 'timeout', stage: 'connecting', closed: { code: 1006, cause: 'timeout' }, cause: 'unreachable', level: 'warn', says: ['no answer'] },
  { name: 'no route', stage: 'connecting', closed: { code: 1006, cause: 'unreachable' }, cause: 'unreachable', level: 'warn', says: ['no route to the host'] },
  { name: 'a socket failure the host cannot name', stage: 'connecting', closed: { reason: 'socket hang up' }, cause: 'unreachable', level: 'warn', says: ['socket hang up'] },
  { name: 'TLS', stage: 'connecting', closed: { code: 1006, reason: 'self-signed certificate', cause: 'tls' }, cause: 'tls', level: 'error', says: ['TLS', 'self-signed certificate', 'certificate'] },
  { name: 'HTTP 404', stage: 'connecting', closed: { code: 1006, status: 404 }, cause: 'rejected', level: 'error', says: ['HTTP 404', 'printbridge server'] },
  { name: 'HTTP 400', stage: 'connecting', closed: { code: 1006, status: 400 }, cause: 'rejected', level: 'error', says: ['HTTP 400', 'id'] },
  { name: 'HTTP 503', stage: 'connecting', closed: { code: 1006, status: 503 }, cause: 'server-error', level: 'warn', says: ['HTTP 503'] },
  { name: 'close 1011', stage: 'online', closed: { code: CLOSE.INTERNAL.code }, cause: 'server-error', level: 'warn', says: ['1011 INTERNAL'] },
  { name: 'close 1006', stage: 'online', closed: { code: 1006 }, cause: 'dropped', level: 'warn', says: ['lost the connection', 'without a close frame'] },
  { name: 'close 1001', stage: 'online', closed: { code: CLOSE.GOING_AWAY.code, reason: 'server stopping' }, cause: 'dropped', level: 'warn', says: ['1001 GOING_AWAY', 'server shutting down'] },
  { name: 'close 4001', stage: 'online', closed: { code: CLOSE.REPLACED.code }, cause: 'replaced', level: 'error', stops: true, says: ['another device with id dev-1', '4001 REPLACED', 'its own', 'not reconnecting until restarted'] },
  { name: 'close 4006', stage: 'online', closed: { code: CLOSE.REVOKED.code }, cause: 'revoked', level: 'error', stops: true, says: ['revoked device dev-1', '4006 REVOKED', 'printbridge devices add dev-1', 'not reconnecting'] },
  { name: 'close 4002', stage: 'online', closed: { code: CLOSE.VERSION.code }, cause: 'version', level: 'error', stops: true, says: ['4002 VERSION', `protocol ${PROTOCOL_VERSION[0]}.${PROTOCOL_VERSION[1]}`, 'not reconnecting'] },
];

for (const c of CASES) {
  test(`diagnosis: ${c.name} is '${c.cause}', said in one ${c.level} line`, () => {
    const d = new VirtualDevice();
    connecting(d);
    if (c.stage === 'online') {
      d.handle({ type: 'ws.open' });
      welcome(d);
      d.take();
    }
    const lines = complaints(d, d.handle({ type: 'ws.closed', ...c.closed }));
    assert.equal(lines.length, 1, JSON.stringify(lines));
    const [line] = lines;
    assert.equal(line?.level, c.level);
    for (const s of c.says) assert.ok(line?.message.includes(s), `"${line?.message}" says ${s}`);
    assert.ok(!line?.message.includes('secret'), 'never the token');
    const snap = d.core.snapshot();
    assert.equal(snap.problem?.cause, c.cause);
    assert.equal(snap.problem?.message, line?.message);
    assert.equal(snap.problem?.attempts, 1);
    assert.equal(snap.link, c.stops === true ? 'stopped' : 'backoff');
    // The LED tells a refusal (a person must act) from trouble that passes by itself.
    assert.equal(snap.led, c.level === 'error' ? 'refused' : 'no-server');
  });
}

test('the refused LED lasts while the refusals go on and gives way once the server lets the device in', () => {
  const d = new VirtualDevice();
  connecting(d);
  d.handle({ type: 'ws.closed', code: 1006, status: 401 });
  assert.equal(d.core.snapshot().led, 'refused');
  d.take();
  d.advanceUntil((e) => e.type === 'ws.connect');
  assert.equal(d.core.snapshot().led, 'refused', 'still refused while it tries again');
  d.handle({ type: 'ws.closed', code: 1006, status: 503 });
  assert.equal(d.core.snapshot().led, 'no-server', 'the newest cause counts');
  d.take();
  d.advanceUntil((e) => e.type === 'ws.connect');
  d.handle({ type: 'ws.closed', code: 1006, status: 401 });
  d.take();
  d.advanceUntil((e) => e.type === 'ws.connect');
  d.handle({ type: 'ws.open' });
  welcome(d);
  assert.equal(d.core.snapshot().led, 'online');
  d.handle({ type: 'ws.closed', code: 1006 });
  assert.equal(d.core.snapshot().led, 'no-server', 'a later drop is not a refusal');
});

test('diagnosis: the link\'s own timeouts have causes too (no answer, no welcome, a silent server)', () => {
  const d = new VirtualDevice();
  connecting(d);
  d.advance(T.connectTimeout);
  d.take();
  assert.equal(d.core.snapshot().problem?.cause, 'unreachable');
  assert.match(d.core.snapshot().problem?.message ?? '', /no answer in 15 s/);

  d.advanceUntil((e) => e.type === 'ws.connect');
  d.handle({ type: 'ws.open' });
  d.advance(T.helloTimeout);
  d.take();
  assert.equal(d.core.snapshot().problem?.cause, 'no-welcome');
  assert.match(d.core.snapshot().problem?.message ?? '', /no welcome in 10 s/);

  d.advanceUntil((e) => e.type === 'ws.connect');
  d.handle({ type: 'ws.open' });
  welcome(d);
  d.take();
  d.advance(T.deadAfter);
  assert.equal(d.core.snapshot().problem?.cause, 'dropped');
  assert.match(d.core.snapshot().problem?.message ?? '', /fell silent for 40 s/);
  // Online for longer than stableAfter before it went silent: the count had started over.
  assert.equal(d.core.snapshot().problem?.attempts, 1);
});

test('diagnosis: a welcome with another major version is \'version\'; the link closes with 4002 and stops', () => {
  const d = new VirtualDevice();
  connecting(d);
  d.handle({ type: 'ws.open' });
  d.take();
  const effects = d.handle({ type: 'ws.text', text: JSON.stringify({ t: 'welcome', v: [PROTOCOL_VERSION[0] + 1, 0], hb: 25_000, time: 0 }) });
  assert.ok(effects.some((e) => e.type === 'ws.close' && e.code === CLOSE.VERSION.code));
  const lines = complaints(d, effects);
  assert.equal(lines.length, 1);
  assert.match(lines[0]?.message ?? '', new RegExp(`server speaks ${PROTOCOL_VERSION[0] + 1}\\.0.*4002 VERSION.*not reconnecting`));
  assert.equal(d.core.snapshot().problem?.cause, 'version');
  assert.equal(d.core.snapshot().link, 'stopped');
});

/** From `connecting`, fails every attempt with `closed` until the clock reaches `until`; returns every complaint with its time. */
function failFor(d: VirtualDevice, closed: Closed, until: number): Line[] {
  const lines: Line[] = [];
  while (d.now < until) {
    lines.push(...complaints(d, d.handle({ type: 'ws.closed', ...closed })));
    d.advanceUntil((e) => e.type === 'ws.connect');
    d.take();
  }
  return lines;
}

test('rate limit: a refused token is said at once, then at most once a minute with the attempt count', () => {
  const d = new VirtualDevice({}, 5);
  connecting(d);
  const t0 = d.now;
  const lines = failFor(d, { code: 1006, status: 401 }, t0 + 10 * 60_000);
  assert.equal(lines[0]?.at, t0, 'at once, on the first refusal');
  const attempts = d.core.snapshot().problem?.attempts ?? 0;
  assert.ok(attempts >= 30, `a refused device keeps trying (every ~15 s on average): ${attempts} attempts`);
  // Ten minutes: one line per minute or fewer, never two within a minute.
  assert.ok(lines.length >= 8 && lines.length <= 11, `${lines.length} lines for ${attempts} attempts`);
  for (let i = 1; i < lines.length; i++) assert.ok(lines[i]!.at - lines[i - 1]!.at >= REPEAT_AFTER, `lines ${i - 1} and ${i} are a minute apart`);
  // Every repeat names the attempt and how long it has been failing.
  for (const line of lines.slice(1)) assert.match(line.message, /HTTP 401.*\(attempt \d+, failing for \d+ (s|min)\)$/);
  assert.match(lines.at(-1)?.message ?? '', /failing for (8|9|10) min\)$/);
});

test('rate limit: an unreachable server is said at once and then once a minute, not per attempt', () => {
  const d = new VirtualDevice({ timings: { backoffCap: 2_000 } }, 9);
  connecting(d);
  const t0 = d.now;
  const lines = failFor(d, { code: 1006, cause: 'refused', reason: 'connect ECONNREFUSED' }, t0 + 5 * 60_000);
  assert.equal(lines[0]?.at, t0, 'the first failure is told at once');
  const attempts = d.core.snapshot().problem?.attempts ?? 0;
  assert.ok(attempts > 200, `${attempts} attempts`);
  assert.ok(lines.length >= 5 && lines.length <= 6, `${lines.length} lines for ${attempts} attempts`);
  assert.ok(lines.every((l) => l.level === 'warn' && l.message.includes('connection refused')));
});

test('rate limit: a new cause is told at once; each cause has its own minute', () => {
  const d = new VirtualDevice({ timings: { backoffCap: 2_000 } }, 2);
  connecting(d);
  const refused: Closed = { code: 1006, cause: 'refused' };
  assert.equal(complaints(d, d.handle({ type: 'ws.closed', ...refused })).length, 1);
  d.advanceUntil((e) => e.type === 'ws.connect');
  const t = complaints(d, d.handle({ type: 'ws.closed', code: 1006, status: 401 }));
  assert.equal(t.length, 1, 'the server came up and refuses the token: said at once');
  assert.match(t[0]?.message ?? '', /HTTP 401/);
  // Alternating within the minute: neither is said again.
  d.advanceUntil((e) => e.type === 'ws.connect');
  assert.deepEqual(complaints(d, d.handle({ type: 'ws.closed', ...refused })), []);
  d.advanceUntil((e) => e.type === 'ws.connect');
  assert.deepEqual(complaints(d, d.handle({ type: 'ws.closed', code: 1006, status: 401 })), []);
  assert.equal(d.core.snapshot().problem?.cause, 'unauthorized', 'the snapshot always has the latest');
  assert.equal(d.core.snapshot().problem?.attempts, 4);
});

test('rate limit: a short session does not start the count over; a stable one does', () => {
  const d = new VirtualDevice({}, 4);
  d.bringOnline();
  d.take();
  assert.equal(complaints(d, d.handle({ type: 'ws.closed', code: 1006 })).length, 1);
  // Back for a moment, dropped again within the minute: not said again.
  d.advanceUntil((e) => e.type === 'ws.connect');
  d.handle({ type: 'ws.open' });
  welcome(d);
  d.advance(5_000);
  d.take();
  assert.deepEqual(complaints(d, d.handle({ type: 'ws.closed', code: 1006 })), []);
  assert.equal(d.core.snapshot().problem?.attempts, 2);
  // Back for longer than stableAfter: the next drop is news again.
  d.advanceUntil((e) => e.type === 'ws.connect');
  d.handle({ type: 'ws.open' });
  welcome(d);
  for (let t = 0; t < T.stableAfter; t += 5_000) {
    d.advance(5_000);
    d.server({ t: 'pong' });
  }
  d.take();
  assert.equal(d.core.snapshot().problem?.cause, 'dropped', 'the last problem is kept while online');
  const again = complaints(d, d.handle({ type: 'ws.closed', code: 1006 }));
  assert.equal(again.length, 1);
  assert.ok(!again[0]?.message.includes('attempt'), 'a fresh run of failures');
  assert.equal(d.core.snapshot().problem?.attempts, 1);
});

test('a new token from a config control starts the count over: its refusal is said at once', () => {
  const d = new VirtualDevice({}, 6);
  d.bringOnline();
  d.take();
  d.handle({ type: 'ws.closed', code: 1006, status: 401 });
  assert.equal(complaints(d).length, 1);
  d.advanceUntil((e) => e.type === 'ws.connect');
  d.handle({ type: 'ws.open' });
  welcome(d);
  d.server({ t: 'control', ref: 'c1', name: 'config', args: { token: 'new-secret' } });
  d.take();
  d.advanceUntil((e) => e.type === 'ws.connect');
  const lines = complaints(d, d.handle({ type: 'ws.closed', code: 1006, status: 401 }));
  assert.equal(lines.length, 1);
  assert.ok(!lines.some((l) => l.message.includes('new-secret')));
});

test('the status control answers with the last problem, as plain data', () => {
  const d = new VirtualDevice({}, 8);
  connecting(d);
  d.handle({ type: 'ws.closed', code: 1006, cause: 'dns', reason: 'getaddrinfo ENOTFOUND server' });
  d.advanceUntil((e) => e.type === 'ws.connect');
  d.handle({ type: 'ws.open' });
  welcome(d);
  d.sent();
  d.server({ t: 'control', ref: 'r1', name: 'status', args: {} });
  const answer = d.sent().find((m) => m.t === 'control.result' && m.ref === 'r1');
  assert.ok(answer?.t === 'control.result' && answer.ok);
  const data = JSON.parse(JSON.stringify(answer.data)) as { link: string; problem?: { cause: string; message: string; attempts: number } };
  assert.equal(data.link, 'online');
  assert.equal(data.problem?.cause, 'unreachable');
  assert.match(data.problem?.message ?? '', /host name not found/);
  assert.equal(data.problem?.attempts, 1);
});

test('a device that never failed has no problem in its snapshot', () => {
  const d = new VirtualDevice();
  d.bringOnline();
  assert.equal(d.core.snapshot().problem, undefined);
  assert.deepEqual(complaints(d), []);
});
