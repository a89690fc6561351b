// /v1/client: hello and ping, the listing ops (offline devices included),
// subscribe/unsubscribe, bad input answered without dropping the connection,
// the frame limit, and the slow-consumer close.

import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { PROTOCOL_VERSION } from '../../protocol/version.js';
import { clientFrameLimit, resolveLimits } from '../../server/limits.js';
import { PACKAGE_VERSION } from '../../server/version.js';
import { startTestServer, type TestServer } from '../helpers/server.js';
import { FakeDevice, TestClient, eventually, health, registerDevice, reportPorts } from './peers.js';

type Err = { code: string; message: string };

describe('client endpoint: requests', () => {
  let t: TestServer;
  let healthy: TestClient;
  const tokens: Record<string, string> = {};
  const maxJobBytes = 3000;

  before(async () => {
    t = await startTestServer({ heartbeatMs: 60_000, limits: { maxJobBytes } });
    tokens['front'] = registerDevice(t, 'front', ['shop', 'receipts']);
    tokens['back'] = registerDevice(t, 'back', ['labels']);
    registerDevice(t, 'spare', ['shop']);
    healthy = await TestClient.connect(t);
  });
  after(() => t.close());

  it('answers hello with the server version, and refuses another major', async () => {
    const c = await TestClient.connect(t);
    const limits = resolveLimits({ maxJobBytes });
    assert.deepEqual(await c.call('hello', { v: [1, 7] }), {
      server: 'printbridge', version: PACKAGE_VERSION, v: [...PROTOCOL_VERSION],
      limits: { maxJobBytes, maxFrame: clientFrameLimit(limits), maxUnsent: limits.maxClientBuffer },
    });
    const other = await c.request('hello', { v: [2, 0] });
    assert.equal(other['ok'], false);
    assert.equal((other['error'] as Err).code, 'VERSION_UNSUPPORTED');
    assert.equal(await c.call('ping'), 'pong');
    c.close();
  });

  const cases: [string, (c: TestClient) => void, unknown, string][] = [
    ['malformed JSON', (c) => c.sendRaw('{"id": "m1", "op": "ping"'), null, 'BAD_JSON'],
    ['an object without op (id kept)', (c) => c.sendJson({ id: 'm2' }), 'm2', 'BAD_MESSAGE'],
    ['an unknown op', (c) => c.sendJson({ id: 'm3', op: 'print.everything' }), 'm3', 'UNKNOWN_TYPE'],
    ['a missing field', (c) => c.sendJson({ id: 4, op: 'job.get' }), 4, 'MISSING_FIELD'],
    ['a field of the wrong type', (c) => c.sendJson({ id: 'm5', op: 'jobs.list', limit: 'all' }), 'm5', 'BAD_FIELD'],
    ['a binary frame', (c) => c.sendRaw(new Uint8Array([0, 1, 2])), null, 'BINARY_NOT_EXPECTED'],
  ];
  for (const [what, send, re, code] of cases) {
    it(`answers ${what} with ${code} and keeps the connection`, async () => {
      const c = await TestClient.connect(t);
      send(c);
      const reply = await c.json((m) => 're' in m, 'error reply');
      assert.deepEqual([reply['re'], reply['ok'], (reply['error'] as Err).code], [re, false, code]);
      assert.equal(typeof (reply['error'] as Err).message, 'string');
      assert.equal(await c.call('ping'), 'pong');
      assert.equal(await healthy.call('ping'), 'pong');
      c.close();
    });
  }

  it('closes 1009 on a frame over ceil(maxJobBytes*4/3)+64KiB', async () => {
    const limit = clientFrameLimit(resolveLimits({ maxJobBytes }));
    const c = await TestClient.connect(t);
    // A job over the limit but inside the frame is refused politely...
    const big = await c.request('job.submit', { printer: 'spare/0', data: randomBytes(maxJobBytes + 3).toString('base64') });
    assert.equal((big['error'] as Err).code, 'JOB_TOO_LARGE');
    // ...a frame over the limit is not read at all.
    c.sendJson({ id: 'huge', op: 'ping', pad: 'x'.repeat(limit) });
    assert.equal(await c.closeCode(), 1009);
    assert.equal(await healthy.call('ping'), 'pong');
  });

  it('lists devices, offline ones from the store included, filtered by tag', async () => {
    const dev = await FakeDevice.connect(t, 'front', tokens['front'] as string, { fw: 'fw-2', ports: [{ port: 0, dialect: 'escpos', name: 'till' }] });
    const all = await healthy.call<{ id: string; online: boolean; tags: string[]; fw?: string; ports: unknown[] }[]>('devices.list');
    assert.deepEqual(all.map((d) => [d.id, d.online]), [['back', false], ['front', true], ['spare', false]]);
    const front = all.find((d) => d.id === 'front');
    assert.deepEqual([front?.fw, front?.tags, front?.ports], ['fw-2', ['shop', 'receipts'], [{ port: 0, dialect: 'escpos', name: 'till' }]]);
    const shop = await healthy.call<{ id: string }[]>('devices.list', { tag: 'shop' });
    assert.deepEqual(shop.map((d) => d.id), ['front', 'spare']);
    dev.close();
    await eventually(async () => (await health(t)).devices === 0, 'front offline');
    // Gone, but its printer is still listed from its last hello.
    const printers = await healthy.call<{ id: string; online: boolean; status: string; dialect: string; queued: number }[]>('printers.list');
    assert.deepEqual(printers, [{ id: 'front/0', device: 'front', port: 0, dialect: 'escpos', name: 'till', online: false, status: 'offline', queued: 0, paused: false }]);
  });

  it('lists jobs newest first, by printer and with a limit', async () => {
    // Offline, but its printers take jobs: it reported them once.
    reportPorts(t, 'back', [{ port: 0, dialect: 'zpl' }, { port: 1, dialect: 'zpl' }]);
    const ids: string[] = [];
    for (let i = 0; i < 4; i++) {
      const printer = i % 2 === 0 ? 'back/0' : 'back/1';
      ids.push((await healthy.call<{ id: string }>('job.submit', { printer, data: Buffer.from(`job ${i}`).toString('base64') })).id);
    }
    const all = await healthy.call<{ id: string }[]>('jobs.list');
    assert.deepEqual(all.slice(0, 4).map((j) => j.id), [...ids].reverse());
    const two = await healthy.call<{ id: string }[]>('jobs.list', { limit: 2 });
    assert.deepEqual(two.map((j) => j.id), [ids[3], ids[2]]);
    const port0 = await healthy.call<{ id: string; printer: string }[]>('jobs.list', { printer: 'back/0' });
    assert.deepEqual(port0.map((j) => j.id), [ids[2], ids[0]]);
    const job = await healthy.call<{ id: string; state: string; size: number; progress: number }>('job.get', { job: ids[0] });
    assert.deepEqual([job.id, job.state, job.size, job.progress], [ids[0], 'queued', 5, 0]);
  });

  it('subscribe returns a snapshot and then every event; unsubscribe stops them', async () => {
    const c = await TestClient.connect(t);
    const snap = await c.call<{ devices: { id: string }[]; printers: { id: string }[]; jobs: { id: string; state: string }[] }>('subscribe');
    assert.deepEqual(snap.devices.map((d) => d.id), ['back', 'front', 'spare']);
    assert.deepEqual(snap.printers.map((p) => p.id), ['back/0', 'back/1', 'front/0']);
    assert.ok(snap.jobs.length >= 4 && snap.jobs.every((j) => j.state === 'queued'));

    const dev = await FakeDevice.connect(t, 'back', tokens['back'] as string, { ports: [{ port: 0, dialect: 'zpl' }, { port: 1, dialect: 'zpl' }] });
    const online = await c.event('device.online');
    assert.equal((online['device'] as { id: string }).id, 'back');
    // The device is offered its queued jobs; the subscriber sees them move.
    const moving = await c.event('job.updated', (e) => (e['job'] as { state: string }).state === 'sending');
    assert.equal((moving['job'] as { printer: string }).printer.startsWith('back/'), true);

    await c.call('unsubscribe');
    dev.close();
    reportPorts(t, 'spare');
    await healthy.call('job.submit', { printer: 'spare/0', data: 'AAAA' });
    await eventually(async () => (await health(t)).devices === 0, 'back offline');
    // Anything sent to c before this pong is in its inbox by now.
    await c.call('ping');
    const leftover = c.inbox.items.filter((x) => x.kind === 'text' && x.json['event'] !== undefined);
    // Events emitted before the unsubscribe reply may still be in the inbox; none after it.
    assert.equal(leftover.some((x) => x.kind === 'text' && (x.json['event'] === 'device.offline' || JSON.stringify(x.json).includes('spare/0'))), false);
    c.close();
  });
});

describe('client endpoint: slow consumer', () => {
  let t: TestServer;

  before(async () => {
    t = await startTestServer({ heartbeatMs: 60_000, limits: { maxClientBuffer: 64 * 1024 } });
    registerDevice(t, 'sink');
    reportPorts(t, 'sink', [0, 1, 2].map((port) => ({ port, dialect: 'raw' })));
  });
  after(() => t.close());

  it('closes a client that stops reading with 4005 once maxClientBuffer is queued, and serves others', async () => {
    const filler = await TestClient.connect(t);
    for (let i = 0; i < 300; i++) await filler.call('job.submit', { printer: `sink/${i % 3}`, data: 'AAAA' });

    const slow = await TestClient.connect(t);
    slow.socket?.pause();
    // Each jobs.list reply is ~70 KB; keep asking until the kernel buffers are
    // full and the server notices that its own buffer passed the bound.
    const noticed = () => t.logs.some((l) => l.msg === 'client does not read fast enough');
    for (let i = 0; i < 2000 && !noticed(); i++) {
      slow.sendJson({ id: i, op: 'jobs.list', limit: 1000 });
      if (i % 20 === 19) await new Promise((r) => setTimeout(r, 5));
    }
    await eventually(noticed, 'the server closed the slow client');
    slow.socket?.resume();
    assert.equal(await slow.closeCode(), 4005);
    assert.equal(await filler.call('ping'), 'pong');
    await eventually(async () => (await health(t)).clients === 1, 'slow client dropped');
    filler.close();
  });
});
