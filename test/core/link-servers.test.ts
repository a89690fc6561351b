// Several servers on a virtual clock: the link tries them in turn, keeps one
// that works, backs off once per whole cycle of failures, and names the
// server it tried in what it says.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { WIDEST_ATTEMPT } from '../../device/core/backoff.js';
import { DEFAULT_TIMINGS, parseServers, serversProblem } from '../../device/core/link.js';
import { UPGRADE_REFUSAL } from '../../protocol/errors.js';
import { PROTOCOL_VERSION } from '../../protocol/version.js';
import { VirtualDevice } from '../helpers/virtual-device.js';

const T = DEFAULT_TIMINGS;
const THREE = 'ws://a:1, ws://b:2 wss://c';
const REFUSED = { code: 1006, cause: 'refused', reason: 'connect ECONNREFUSED' } as const;

/** The base URL of the next ws.connect, and when it came. */
function nextConnect(d: VirtualDevice): { server: string; at: number } {
  const c = d.advanceUntil((e) => e.type === 'ws.connect');
  d.take();
  assert.ok(c.type === 'ws.connect');
  return { server: c.url.replace(/\/v1\/device\?.*$/, ''), at: d.now };
}

function welcome(d: VirtualDevice): void {
  d.handle({ type: 'ws.open' });
  d.server({ t: 'welcome', v: [...PROTOCOL_VERSION], hb: 25_000, time: 0 });
}

/** Online for the stable period, the server answering pings. */
function stayOnline(d: VirtualDevice, ms: number): void {
  for (let t = 0; t < ms; t += 5000) {
    d.advance(5000);
    d.server({ t: 'pong' });
  }
}

test('the server setting: URLs separated by spaces and/or commas; anything else is named', () => {
  assert.deepEqual(parseServers(' ws://a:1,ws://b:2/ ,, wss://[::1]:443  wss://c.example/base '), {
    urls: ['ws://a:1', 'ws://b:2', 'wss://[::1]:443', 'wss://c.example/base'], bad: [],
  });
  assert.deepEqual(parseServers('ws://a:1 http://b:2 a.example ws://c:99999').bad, ['http://b:2', 'a.example', 'ws://c:99999']);
  assert.equal(serversProblem('ws://a:1 wss://b'), undefined);
  assert.match(serversProblem('ws://a:1 localhost:8080') ?? '', /^"localhost:8080" is not a server URL \(ws:\/\/HOST\[:PORT\]/);
  assert.match(serversProblem(' , ') ?? '', /^no server URL given/);
});

test('failed attempts go round the servers in order, the next one within the first backoff window', () => {
  const d = new VirtualDevice({ server: THREE }, 5);
  d.handle({ type: 'network', up: true });
  const seen: string[] = [];
  for (let i = 0; i < 7; i++) {
    const c = nextConnect(d);
    seen.push(c.server);
    const t0 = d.now;
    d.handle({ type: 'ws.closed', ...REFUSED });
    // Inside a cycle the wait never grows past the first window.
    if (i % 3 !== 2) assert.ok(d.core.nextDeadline()! - t0 < T.backoffBase, `attempt ${i + 1}: wait ${d.core.nextDeadline()! - t0}`);
  }
  assert.deepEqual(seen, ['ws://a:1', 'ws://b:2', 'wss://c', 'ws://a:1', 'ws://b:2', 'wss://c', 'ws://a:1']);
});

test('a whole cycle of failures backs off as one failure does with one server: the window doubles per cycle', () => {
  const cycles = 8;
  const d = new VirtualDevice({ server: THREE }, 9);
  d.handle({ type: 'network', up: true });
  let attempts = 0;
  for (let cycle = 0; cycle < cycles; cycle++) {
    for (let i = 0; i < 3; i++) {
      nextConnect(d);
      attempts += 1;
      d.handle({ type: 'ws.closed', ...REFUSED });
    }
    // The first wait after start counts one, as with one server; then one per cycle.
    assert.equal(d.core.snapshot().attempt, cycle + 2, `after cycle ${cycle + 1}`);
    const t0 = d.now;
    const ceiling = Math.min(T.backoffCap, T.backoffBase * 2 ** (cycle + 1));
    assert.ok(d.core.nextDeadline()! - t0 < ceiling, `cycle ${cycle + 1}: wait ${d.core.nextDeadline()! - t0} ≥ ${ceiling}`);
  }
  // Not a tight loop: the same time with one server would have made about as many attempts per server.
  const one = new VirtualDevice({ server: 'ws://a:1' }, 9);
  one.handle({ type: 'network', up: true });
  let single = 0;
  while (one.now < d.now) {
    nextConnect(one);
    single += 1;
    one.handle({ type: 'ws.closed', ...REFUSED });
  }
  assert.ok(attempts <= 3 * (single + 2), `${attempts} attempts on three servers, ${single} on one`);
});

test('a server that works is kept; one that drops before it was stable is left for the next', () => {
  const d = new VirtualDevice({ server: THREE });
  d.handle({ type: 'network', up: true });
  assert.equal(nextConnect(d).server, 'ws://a:1');
  d.handle({ type: 'ws.closed', ...REFUSED });
  assert.equal(nextConnect(d).server, 'ws://b:2');
  welcome(d);
  assert.equal(d.core.snapshot().link, 'online');
  assert.equal(d.core.snapshot().server, 'ws://b:2');
  // Online a while, but not yet stable: a drop counts as this server failing.
  d.advance(T.stableAfter / 3);
  d.handle({ type: 'ws.closed', code: 1006 });
  assert.equal(nextConnect(d).server, 'wss://c');
  welcome(d);
  stayOnline(d, T.stableAfter);
  assert.equal(d.core.snapshot().attempt, 0, 'stable: the counters start over');
  // A stable session that ends is tried again where it was, at once within the first window.
  const t0 = d.now;
  d.handle({ type: 'ws.closed', code: 1006 });
  const again = nextConnect(d);
  assert.equal(again.server, 'wss://c');
  assert.ok(again.at - t0 < T.backoffBase);
  // Gone for good (a node that died): the next one.
  d.handle({ type: 'ws.closed', ...REFUSED });
  assert.equal(nextConnect(d).server, 'ws://a:1');
});

test('a refusal (HTTP 401) at one server waits the widest window, then tries the next, which may know the device', () => {
  const d = new VirtualDevice({ server: 'ws://a:1 ws://b:2' }, 4);
  d.handle({ type: 'network', up: true });
  assert.equal(nextConnect(d).server, 'ws://a:1');
  d.handle({ type: 'ws.closed', code: 1006, status: UPGRADE_REFUSAL.UNAUTHORIZED });
  assert.ok(d.core.snapshot().attempt > WIDEST_ATTEMPT, 'the widest window, as with one server');
  assert.equal(nextConnect(d).server, 'ws://b:2');
  welcome(d);
  assert.equal(d.core.snapshot().link, 'online');
});

test('each server\'s trouble is said once, naming the server tried', () => {
  const d = new VirtualDevice({ server: 'ws://a:1 ws://b:2' });
  d.handle({ type: 'network', up: true });
  const said: string[] = [];
  for (let i = 0; i < 8; i++) {
    nextConnect(d);
    said.push(...d.handle({ type: 'ws.closed', ...REFUSED }).flatMap((e) => (e.type === 'log' && e.level === 'warn' ? [e.message] : [])));
  }
  assert.equal(said.length, 2, said.join('\n'));
  assert.match(said[0] ?? '', /^cannot reach the server at ws:\/\/a:1 \(connection refused/);
  assert.match(said[1] ?? '', /^cannot reach the server at ws:\/\/b:2 \(connection refused/);
  assert.match(d.core.snapshot().problem?.message ?? '', /ws:\/\/b:2/);
  // Once in, a drop names the server it was at.
  nextConnect(d);
  welcome(d);
  d.take();
  const dropped = d.handle({ type: 'ws.closed', code: 1006 }).find((e) => e.type === 'log' && e.level === 'warn');
  assert.ok(dropped?.type === 'log');
  assert.match(dropped.message, /^lost the connection to the server at ws:\/\/a:1 /);
});

test('a config control with a server list: each entry is checked, the bad one named, nothing kept; a good list is tried from its first', () => {
  const d = new VirtualDevice({ server: 'ws://a:1' });
  d.bringOnline();
  d.take();
  d.server({ t: 'control', ref: 'bad', name: 'config', args: { server: 'ws://b:2, b.example:3' } });
  const effects = d.take();
  assert.deepEqual(effects.filter((e) => e.type === 'persist' || e.type === 'ws.close'), []);
  const bad = effects.find((e) => e.type === 'ws.send');
  assert.ok(bad?.type === 'ws.send' && typeof bad.data === 'string');
  const reply = JSON.parse(bad.data) as { ok: boolean; code: string; message: string };
  assert.equal(reply.ok, false);
  assert.equal(reply.code, 'BAD_FIELD');
  assert.match(reply.message, /server: "b\.example:3" is not a server URL/);
  assert.equal(d.core.snapshot().link, 'online');

  d.server({ t: 'control', ref: 'good', name: 'config', args: { server: 'ws://b:2, ws://c:3' } });
  const persisted = d.take().find((e) => e.type === 'persist');
  assert.deepEqual(persisted, { type: 'persist', settings: { server: 'ws://b:2, ws://c:3' } });
  assert.equal(nextConnect(d).server, 'ws://b:2');
  d.handle({ type: 'ws.closed', ...REFUSED });
  assert.equal(nextConnect(d).server, 'ws://c:3');
});

test('a setting with an entry that is no URL: said at boot, skipped; the others are used', () => {
  const d = new VirtualDevice({ server: 'ws://a:1 a.example:2' });
  const boot = d.handle({ type: 'boot' });
  assert.ok(boot.some((e) => e.type === 'log' && e.level === 'error' && e.message.includes('"a.example:2" is not a ws:// or wss:// URL')));
  d.handle({ type: 'network', up: true });
  for (let i = 0; i < 3; i++) {
    assert.equal(nextConnect(d).server, 'ws://a:1');
    d.handle({ type: 'ws.closed', ...REFUSED });
  }
});

test('a config server list is held to the setting limit (256 characters, one NVS string): 256 are kept, 257 refused', () => {
  const d = new VirtualDevice({ server: 'ws://a:1' });
  d.bringOnline();
  d.take();
  // Nine servers of 24 characters, then a tenth whose host pads the list to the length wanted.
  const list = (length: number): string => {
    const head = Array.from({ length: 9 }, (_, i) => `wss://s${i}.example.net:443`).join(',');
    const tail = `,wss://${'h'.repeat(length - head.length - ',wss://'.length)}`;
    return head + tail;
  };
  assert.equal(list(257).length, 257);
  d.server({ t: 'control', ref: 'long', name: 'config', args: { server: list(257) } });
  const refused = d.take();
  assert.deepEqual(refused.filter((e) => e.type === 'persist'), []);
  const reply = refused.find((e) => e.type === 'ws.send');
  assert.ok(reply?.type === 'ws.send' && typeof reply.data === 'string');
  assert.equal((JSON.parse(reply.data) as { code: string }).code, 'BAD_FIELD');

  d.server({ t: 'control', ref: 'fits', name: 'config', args: { server: list(256) } });
  const persisted = d.take().find((e) => e.type === 'persist');
  assert.deepEqual(persisted, { type: 'persist', settings: { server: list(256) } });
  assert.equal(nextConnect(d).server, 'wss://s0.example.net:443');
});
