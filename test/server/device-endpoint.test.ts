// /v1/device: the hello handshake and its refusals, bad input after hello
// (answered, counted, connection kept until the limit), frame size limit,
// newest connection wins, heartbeat, and status reports turned into events.
// Wherever a device misbehaves, a second, healthy device keeps being served.

import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import WebSocket from 'ws';
import { PROTOCOL_VERSION } from '../../protocol/version.js';
import { startTestServer, type TestServer } from '../helpers/server.js';
import { FakeDevice, TestClient, eventually, health, registerDevice } from './peers.js';

const hello = (id: string, extra: Record<string, unknown> = {}) => ({
  t: 'hello', v: PROTOCOL_VERSION, id, fw: 'fake', caps: [], window: 1024, maxChunk: 256,
  ports: [{ port: 0, dialect: 'escpos' }, { port: 1, dialect: 'zpl' }], ...extra,
});

/** Asserts the healthy device still gets an answer, i.e. the server kept serving it. */
async function stillServed(dev: FakeDevice): Promise<void> {
  dev.sendJson({ t: 'ping' });
  assert.deepEqual(await dev.json((m) => m['t'] === 'pong', 'pong'), { t: 'pong' });
}

describe('device endpoint: handshake', () => {
  let t: TestServer;
  const tokens: Record<string, string> = {};

  before(async () => {
    t = await startTestServer({ heartbeatMs: 60_000 });
    for (const id of ['good', 'a', 'b']) tokens[id] = registerDevice(t, id);
  });
  after(() => t.close());

  it('answers hello with welcome carrying the version, heartbeat and time', async () => {
    const before = Date.now();
    const dev = await FakeDevice.connectRaw(t, 'good', tokens['good'] as string);
    dev.sendJson(hello('good'));
    const welcome = await dev.json();
    assert.equal(welcome['t'], 'welcome');
    assert.deepEqual(welcome['v'], [...PROTOCOL_VERSION]);
    assert.equal(welcome['hb'], 60_000);
    assert.ok(typeof welcome['time'] === 'number' && welcome['time'] >= before);
    await stillServed(dev);
    dev.close();
  });

  it('closes 4003 with HELLO_REQUIRED when the first message is not hello', async () => {
    const dev = await FakeDevice.connectRaw(t, 'a', tokens['a'] as string);
    dev.sendJson({ t: 'ping' });
    assert.equal((await dev.json())['code'], 'HELLO_REQUIRED');
    assert.equal(await dev.closeCode(), 4003);
  });

  it('closes 4003 when the first frame is binary or not JSON', async () => {
    const bin = await FakeDevice.connectRaw(t, 'a', tokens['a'] as string);
    bin.sendRaw(new Uint8Array([1, 0, 0, 0, 0, 0, 0, 0]));
    assert.equal((await bin.json())['code'], 'HELLO_REQUIRED');
    assert.equal(await bin.closeCode(), 4003);

    const junk = await FakeDevice.connectRaw(t, 'a', tokens['a'] as string);
    junk.sendRaw('{not json');
    assert.equal((await junk.json())['code'], 'HELLO_REQUIRED');
    assert.equal(await junk.closeCode(), 4003);
  });

  it('answers a hello with a bad field with that error and closes 4003', async () => {
    const dev = await FakeDevice.connectRaw(t, 'a', tokens['a'] as string);
    const { fw: _, ...noFw } = hello('a');
    dev.sendJson(noFw);
    const err = await dev.json();
    assert.equal(err['code'], 'MISSING_FIELD');
    assert.match(String(err['message']), /fw/);
    assert.equal(await dev.closeCode(), 4003);
  });

  it('closes 1008 with BAD_FIELD when hello names another device than the credentials', async () => {
    const dev = await FakeDevice.connectRaw(t, 'a', tokens['a'] as string);
    dev.sendJson(hello('b'));
    assert.equal((await dev.json())['code'], 'BAD_FIELD');
    assert.equal(await dev.closeCode(), 1008);
  });

  it('closes 4002 for another major version, even when the rest of its hello is unlike ours', async () => {
    const dev = await FakeDevice.connectRaw(t, 'a', tokens['a'] as string);
    dev.sendJson(hello('a', { v: [2, 0] }));
    assert.equal((await dev.json())['code'], 'VERSION_UNSUPPORTED');
    assert.equal(await dev.closeCode(), 4002);

    const future = await FakeDevice.connectRaw(t, 'a', tokens['a'] as string);
    future.sendJson({ t: 'hello', v: [3, 1], device: { name: 'a' } });
    assert.equal(await future.closeCode(), 4002);
  });
});

describe('device endpoint: hello timeout', () => {
  let t: TestServer;
  let token: string;

  before(async () => {
    t = await startTestServer({ helloTimeoutMs: 100, heartbeatMs: 60_000 });
    token = registerDevice(t, 'mute');
  });
  after(() => t.close());

  it('closes 4003 when no hello comes within helloTimeoutMs', async () => {
    const dev = await FakeDevice.connectRaw(t, 'mute', token);
    assert.equal(await dev.closeCode(), 4003);
    assert.equal(dev.inbox.items.length, 0);
  });
});

describe('device endpoint: bad input after hello', () => {
  let t: TestServer;
  let healthy: FakeDevice;
  const tokens: Record<string, string> = {};

  before(async () => {
    t = await startTestServer({ heartbeatMs: 60_000, limits: { maxProtocolErrors: 3, maxDeviceFrame: 2048 } });
    for (const id of ['healthy', 'bad', 'big']) tokens[id] = registerDevice(t, id);
    healthy = await FakeDevice.connect(t, 'healthy', tokens['healthy'] as string);
  });
  after(() => t.close());

  const cases: [string, (d: FakeDevice) => void, string][] = [
    ['malformed JSON', (d) => d.sendRaw('{"t": "ping"'), 'BAD_JSON'],
    ['an unknown type', (d) => d.sendJson({ t: 'teleport' }), 'UNKNOWN_TYPE'],
    ['a missing field', (d) => d.sendJson({ t: 'job.ack', id: 'x' }), 'MISSING_FIELD'],
    ['a field of the wrong type', (d) => d.sendJson({ t: 'job.ack', id: 'x', written: 'lots' }), 'BAD_FIELD'],
    ['a binary frame', (d) => d.sendRaw(new Uint8Array([1, 2, 3])), 'BINARY_NOT_EXPECTED'],
  ];

  for (const [what, send, code] of cases) {
    it(`answers ${what} with ${code} and keeps the connection`, async () => {
      const dev = await FakeDevice.connect(t, 'bad', tokens['bad'] as string);
      send(dev);
      const err = await dev.json((m) => m['t'] === 'error', 'error');
      assert.equal(err['code'], code);
      assert.equal(typeof err['message'], 'string');
      await stillServed(dev);
      await stillServed(healthy);
      dev.close();
      await dev.closeCode();
    });
  }

  it('closes 4007 on the protocol error after maxProtocolErrors', async () => {
    const dev = await FakeDevice.connect(t, 'bad', tokens['bad'] as string);
    for (let i = 0; i < 3; i++) {
      dev.sendJson({ t: 'nope' });
      assert.equal((await dev.json((m) => m['t'] === 'error', 'error'))['code'], 'UNKNOWN_TYPE');
    }
    await stillServed(dev);
    dev.sendJson({ t: 'nope' });
    assert.equal((await dev.json((m) => m['t'] === 'error', 'error'))['code'], 'UNKNOWN_TYPE');
    assert.equal(await dev.closeCode(), 4007);
    await stillServed(healthy);
  });

  it('closes 1009 when a device frame exceeds maxDeviceFrame', async () => {
    const dev = await FakeDevice.connect(t, 'big', tokens['big'] as string);
    dev.sendJson({ t: 'error', code: 'INTERNAL', message: 'x'.repeat(1900) }); // just under: fine
    await stillServed(dev);
    dev.sendJson({ t: 'error', code: 'INTERNAL', message: 'x'.repeat(2100) });
    assert.equal(await dev.closeCode(), 1009);
    await stillServed(healthy);
  });
});

describe('device endpoint: newest connection wins', () => {
  let t: TestServer;
  let token: string;

  before(async () => {
    t = await startTestServer({ heartbeatMs: 60_000 });
    token = registerDevice(t, 'twin');
  });
  after(() => t.close());

  it('closes the older connection with 4001 and keeps the device online on the new one', async () => {
    const client = await TestClient.connect(t);
    await client.call('subscribe');
    const first = await FakeDevice.connect(t, 'twin', token);
    await client.event('device.online');
    const second = await FakeDevice.connect(t, 'twin', token);
    assert.equal(await first.closeCode(), 4001);
    await client.event('device.online');
    await stillServed(second);
    const devices = await client.call<{ id: string; online: boolean }[]>('devices.list');
    assert.deepEqual(devices.map((d) => [d.id, d.online]), [['twin', true]]);
    assert.equal((await health(t)).devices, 1);
    // The replaced connection must not have reported the device offline.
    assert.equal(client.inbox.items.some((x) => x.kind === 'text' && x.json['event'] === 'device.offline'), false);
    second.close();
    await client.event('device.offline');
  });

  it('lets the device back in while its old socket is half-open (not reading)', async () => {
    const stale = await FakeDevice.connect(t, 'twin', token);
    stale.socket?.pause(); // this side will never process the 4001 close
    const fresh = await FakeDevice.connect(t, 'twin', token);
    await stillServed(fresh);
    await eventually(async () => (await health(t)).devices === 1, 'one device online');
    fresh.close();
    stale.terminate();
  });
});

describe('device endpoint: heartbeat', () => {
  let t: TestServer;
  const tokens: Record<string, string> = {};

  before(async () => {
    t = await startTestServer({ heartbeatMs: 250 });
    for (const id of ['deaf', 'alive']) tokens[id] = registerDevice(t, id);
  });
  after(() => t.close());

  it('drops devices and clients that do not answer pings (4004) and keeps those that do', async () => {
    const alive = await FakeDevice.connect(t, 'alive', tokens['alive'] as string);
    const aliveClient = await TestClient.connect(t);
    const deaf = await FakeDevice.connect(t, 'deaf', tokens['deaf'] as string, { ws: { autoPong: false } });
    const deafClient = new TestClient(new WebSocket(t.wsUrl('/v1/client?token=test-admin-token'), { autoPong: false }));

    assert.equal(await deaf.closeCode(), 4004);
    assert.equal(await deafClient.closeCode(), 4004);
    // By now several rounds have passed; the peers that answer are still served.
    await stillServed(alive);
    assert.equal(await aliveClient.call('ping'), 'pong');
    const devices = await aliveClient.call<{ id: string; online: boolean }[]>('devices.list');
    assert.deepEqual(devices.map((d) => [d.id, d.online]), [['alive', true], ['deaf', false]]);
    alive.close();
    aliveClient.close();
  });
});

describe('device endpoint: status', () => {
  let t: TestServer;
  let token: string;

  before(async () => {
    t = await startTestServer({ heartbeatMs: 60_000 });
    token = registerDevice(t, 'st', ['shop']);
  });
  after(() => t.close());

  it('turns status reports into device.status and printer.status for changed ports only', async () => {
    const client = await TestClient.connect(t);
    await client.call('subscribe');
    const dev = await FakeDevice.connect(t, 'st', token, { ports: [{ port: 0, dialect: 'escpos' }, { port: 1, dialect: 'zpl' }] });
    await client.event('device.online');
    await client.event('printer.status');
    await client.event('printer.status');

    const report = (p0: string, p1: string) => ({
      t: 'status', led: 'online', uptime: 5, heap: 1000, rssi: -60,
      ports: [{ port: 0, state: p0 }, { port: 1, state: p1 }],
    });
    dev.sendJson(report('online', 'online'));
    const ds = await client.event('device.status');
    assert.deepEqual(
      (({ id, online, led, heap, rssi, uptime, tags }) => ({ id, online, led, heap, rssi, uptime, tags }))(ds['device'] as Record<string, unknown>),
      { id: 'st', online: true, led: 'online', heap: 1000, rssi: -60, uptime: 5, tags: ['shop'] },
    );
    await client.event('printer.status');
    await client.event('printer.status');

    dev.sendJson(report('paper-out', 'online'));
    await client.event('device.status');
    const changed = await client.event('printer.status');
    assert.deepEqual((({ id, status, online }) => ({ id, status, online }))(changed['printer'] as Record<string, unknown>), { id: 'st/0', status: 'paper-out', online: true });

    dev.sendJson(report('paper-out', 'cover-open'));
    await client.event('device.status');
    const next = await client.event('printer.status');
    // Had port 1 been reported unchanged before, that stale event would be here instead.
    assert.equal((next['printer'] as Record<string, unknown>)['id'], 'st/1');
    assert.equal(client.inbox.items.filter((x) => x.kind === 'text' && x.json['event'] === 'printer.status').length, 0);

    const printers = await client.call<{ id: string; status: string; dialect: string }[]>('printers.list');
    assert.deepEqual(printers.map((p) => [p.id, p.status, p.dialect]), [['st/0', 'paper-out', 'escpos'], ['st/1', 'cover-open', 'zpl']]);

    dev.close();
    const offline = await client.event('device.offline');
    assert.equal((offline['device'] as Record<string, unknown>)['online'], false);
    const after = await client.call<{ id: string; status: string; online: boolean }[]>('printers.list');
    assert.deepEqual(after.map((p) => [p.id, p.status, p.online]), [['st/0', 'offline', false], ['st/1', 'offline', false]]);
    const [device] = await client.call<{ lastSeen?: number; fw?: string }[]>('devices.list');
    assert.equal(device?.fw, 'fake-1.0');
    assert.equal(typeof device?.lastSeen, 'number');
  });
});
