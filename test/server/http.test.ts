// The HTTP surface: /healthz, 404s, and upgrades refused before a WebSocket
// exists (wrong credentials, unknown path, malformed id, connection limits).

import assert from 'node:assert/strict';
import { connect } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { startTestServer, type TestServer } from '../helpers/server.js';
import { PACKAGE_VERSION } from '../../server/version.js';
import { Conn, FakeDevice, TestClient, deviceUrl, eventually, health, refusedStatus, registerDevice } from './peers.js';

async function getJson(url: string): Promise<{ status: number; body: Record<string, unknown> }> {
  const res = await fetch(url);
  return { status: res.status, body: (await res.json()) as Record<string, unknown> };
}

/** Sends raw bytes over TCP and returns the status line of the answer. */
function rawStatus(port: number, request: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, '127.0.0.1', () => socket.write(request));
    let text = '';
    socket.on('data', (d) => (text += d.toString()));
    socket.on('close', () => resolve(text.split('\r\n')[0] ?? ''));
    socket.on('error', reject);
    socket.setTimeout(5000, () => socket.destroy(new Error('no answer')));
  });
}

describe('http', () => {
  let t: TestServer;
  let token: string;

  before(async () => {
    t = await startTestServer({ limits: { maxClients: 3, maxDevices: 2 } });
    token = registerDevice(t, 'dev1');
    registerDevice(t, 'dev2');
    registerDevice(t, 'dev3');
  });
  after(() => t.close());

  it('GET /healthz reports online devices, clients and the version', async () => {
    const empty = await getJson(`${t.server.url}/healthz`);
    assert.equal(empty.status, 200);
    assert.deepEqual(empty.body, { ok: true, devices: 0, clients: 0, version: PACKAGE_VERSION });

    const dev = await FakeDevice.connect(t, 'dev1', token);
    const client = await TestClient.connect(t);
    await client.call('ping');
    const busy = await getJson(`${t.server.url}/healthz`);
    assert.deepEqual(busy.body, { ok: true, devices: 1, clients: 1, version: PACKAGE_VERSION });
    dev.close();
    client.close();
    await eventually(async () => JSON.stringify(await health(t)).includes('"devices":0,"clients":0'), 'both left');
  });

  it('answers any other request with a JSON 404', async () => {
    const res = await getJson(`${t.server.url}/nope`);
    assert.equal(res.status, 404);
    assert.equal(res.body['ok'], false);
  });

  it('answers a request target that is not a URL with 400, for plain requests and upgrades', async () => {
    assert.equal(await rawStatus(t.server.port, 'GET //[x HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n'), 'HTTP/1.1 400 Bad Request');
    const upgrade = 'GET //[x HTTP/1.1\r\nHost: a\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n';
    assert.equal(await rawStatus(t.server.port, upgrade), 'HTTP/1.1 400 Bad Request');
    assert.equal((await health(t)).devices >= 0, true);
  });

  it('refuses device upgrades with a wrong or missing token, or an unknown device, with 401', async () => {
    assert.equal(await refusedStatus(deviceUrl(t, 'dev1', 'wrong')), 401);
    assert.equal(await refusedStatus(t.wsUrl('/v1/device?id=dev1')), 401);
    assert.equal(await refusedStatus(t.wsUrl(`/v1/device?token=${token}`)), 401);
    assert.equal(await refusedStatus(deviceUrl(t, 'ghost', token)), 401);
    // dev2's token is not dev1's.
    assert.equal(await refusedStatus(deviceUrl(t, 'dev2', token)), 401);
  });

  it('accepts device credentials as headers too', async () => {
    const dev = await FakeDevice.connect(t, 'dev1', token, { headers: true });
    dev.close();
    await dev.closeCode();
    assert.equal(await refusedStatus(t.wsUrl('/v1/device'), { headers: { authorization: 'Bearer nope', 'x-printbridge-device': 'dev1' } }), 401);
  });

  it('refuses a malformed device id with 400', async () => {
    assert.equal(await refusedStatus(deviceUrl(t, 'bad id!', token)), 400);
  });

  it('refuses client upgrades with a wrong or missing admin token with 401', async () => {
    assert.equal(await refusedStatus(t.wsUrl('/v1/client')), 401);
    assert.equal(await refusedStatus(t.wsUrl('/v1/client?token=wrong')), 401);
    assert.equal(await refusedStatus(t.wsUrl('/v1/client'), { headers: { authorization: 'Bearer wrong' } }), 401);
    const viaHeader = await Conn.open(t.wsUrl('/v1/client'), { headers: { authorization: 'Bearer test-admin-token' } });
    viaHeader.close();
    await viaHeader.closeCode();
  });

  it('refuses upgrades on unknown paths with 404', async () => {
    assert.equal(await refusedStatus(t.wsUrl('/v1/other?token=test-admin-token')), 404);
    assert.equal(await refusedStatus(t.wsUrl('/')), 404);
  });

  it('refuses clients beyond maxClients with 503 and admits again once one leaves', async () => {
    const clients = await Promise.all([TestClient.connect(t), TestClient.connect(t), TestClient.connect(t)]);
    assert.equal(await refusedStatus(t.wsUrl('/v1/client?token=test-admin-token')), 503);
    clients[0]?.close();
    await eventually(async () => (await health(t)).clients === 2, 'the server saw the client leave');
    const again = await TestClient.connect(t);
    assert.equal(await again.call('ping'), 'pong');
    for (const c of [...clients.slice(1), again]) c.close();
    await Promise.all([...clients.slice(1), again].map((c) => c.closeCode()));
  });

  it('refuses devices beyond maxDevices with 503, but always lets a connected device reconnect', async () => {
    const tok2 = registerDevice(t, 'dev4');
    const tok3 = registerDevice(t, 'dev5');
    const a = await FakeDevice.connect(t, 'dev1', token);
    const b = await FakeDevice.connect(t, 'dev4', tok2);
    assert.equal(await refusedStatus(deviceUrl(t, 'dev5', tok3)), 503);
    // At the limit, dev1 may still replace its own connection (the old one might be half-open).
    const a2 = await FakeDevice.connect(t, 'dev1', token);
    assert.equal(await a.closeCode(), 4001);
    b.close();
    a2.close();
    await Promise.all([b.closeCode(), a2.closeCode()]);
  });
});
